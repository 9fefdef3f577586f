//! Hypatia over HTTP: an OpenAI-compatible API, tutoring sessions, solving, and the web
//! page students use — all served by one process from one model.
//!
//! The routes are thin: each one parses its input, asks for admission, and hands the work
//! to the same library code the command line uses (`hypatia_tutor`, `hypatia_solve`) on a
//! blocking thread, because the [`Backend`] seam is blocking and the embedded engine
//! batches whatever many threads ask of it at once. The key design choice is that
//! **overload is refused, never queued without bound**: model work is admitted up to a
//! fixed number of requests in flight and everything beyond gets `429` with `Retry-After`,
//! clients are rate-limited per address, bodies are size-limited, and a session's turns
//! are serialized by a per-session lock and written to SQLite before the reply is sent, so
//! a crash or a `kill -9` loses nothing that a client was told had happened.
//!
//! The HTTP contract is in `API.md` next to this crate's manifest.
//!
//! ```no_run
//! use std::sync::Arc;
//! use hypatia_server::{AppState, ServerConfig};
//! use hypatia_llm::ScriptedBackend;
//! use hypatia_tutor::SqliteStore;
//!
//! # async fn run() -> anyhow::Result<()> {
//! let config = ServerConfig::default();
//! let state = AppState::new(config.clone(), Arc::new(SqliteStore::in_memory()?));
//! state.set_backend(Arc::new(ScriptedBackend::new(["Hello!"])));
//! let listener = tokio::net::TcpListener::bind(config.addr).await?;
//! hypatia_server::serve(listener, state, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use hypatia_llm::Backend;
use hypatia_solve::{Executor, SandboxExecutor};
use hypatia_tutor::{Store, TutorConfig};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

mod error;
mod limits;
mod openai;
mod solve;
mod tutoring;
mod web;

pub use error::ApiError;
pub use limits::{Admission, SessionLocks};

/// Shortest bearer token accepted: a short secret can be guessed over the network.
pub const MIN_TOKEN_CHARS: usize = 16;

/// How the server runs. Invariants (checked by [`ServerConfig::validate`]): a server
/// reachable from other machines has a bearer token; a token has at least
/// [`MIN_TOKEN_CHARS`] characters; every limit is at least 1; `max_samples` is at most the
/// backend's `parallel` where that is known.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` on the API when set.
    pub token: Option<String>,
    /// Origins allowed to call the API from other pages; empty means CORS stays off.
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Requests per minute from one client address (bursts up to the same number).
    pub rate_per_minute: u32,
    /// Model-running requests admitted at once; the rest are answered `429`.
    pub max_in_flight: usize,
    /// Most samples (`n`) one chat completion may ask for.
    pub max_samples: u32,
    /// Sequences the backend decodes at once, when it is known (the embedded engine's
    /// `--parallel`): `max_samples` may not exceed it.
    pub parallel: Option<u32>,
    /// Tutoring defaults; a session's own grade overrides `grade`.
    pub tutor: TutorConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            cors_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            rate_per_minute: 600,
            max_in_flight: 64,
            max_samples: 16,
            parallel: None,
            tutor: TutorConfig::default(),
        }
    }
}

impl ServerConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            anyhow::bail!(
                "{} is reachable from other machines: set a bearer token (--token or \
                 HYPATIA_TOKEN), or bind to 127.0.0.1",
                self.addr
            );
        }
        if let Some(token) = &self.token {
            let n = token.chars().count();
            if n < MIN_TOKEN_CHARS {
                anyhow::bail!(
                    "the bearer token has {n} characters; use at least {MIN_TOKEN_CHARS} (a short \
                     token can be guessed), e.g. python3 -c 'import secrets; print(secrets.token_hex(16))'"
                );
            }
        }
        let limits = [self.max_body_bytes, self.rate_per_minute as usize, self.max_in_flight];
        if limits.contains(&0) || self.max_samples == 0 {
            anyhow::bail!("max body, rate, max in flight and max samples must each be at least 1");
        }
        if let Some(parallel) = self.parallel {
            if self.max_samples > parallel {
                anyhow::bail!(
                    "--max-samples {} is above --parallel {parallel}: the engine decodes at most \
                     {parallel} sequences at once, so a request for more samples could never run; \
                     lower --max-samples or raise --parallel",
                    self.max_samples
                );
            }
        }
        self.tutor.validate()?;
        Ok(())
    }
}

/// What every route shares. Cloning is cheap (everything is behind `Arc`).
#[derive(Clone)]
pub struct AppState {
    config: Arc<ServerConfig>,
    /// Set once the model has loaded: the server answers `/health` (and `503` on model
    /// routes) while a large model is still being read.
    backend: Arc<OnceLock<Arc<dyn Backend>>>,
    store: Arc<dyn Store>,
    executor: Arc<dyn Executor>,
    admission: Admission,
    locks: SessionLocks,
    limiter: Arc<limits::RateLimiter>,
}

impl AppState {
    pub fn new(config: ServerConfig, store: Arc<dyn Store>) -> Self {
        let executor: Arc<dyn Executor> =
            Arc::new(SandboxExecutor::global(hypatia_sandbox::Limits::default()));
        Self {
            admission: Admission::new(config.max_in_flight),
            limiter: Arc::new(limits::RateLimiter::new(config.rate_per_minute)),
            config: Arc::new(config),
            backend: Arc::new(OnceLock::new()),
            store,
            executor,
            locks: SessionLocks::default(),
        }
    }

    /// Makes the model available; later calls are ignored (one model per server).
    pub fn set_backend(&self, backend: Arc<dyn Backend>) {
        let _ = self.backend.set(backend);
    }

    fn backend(&self) -> Result<Arc<dyn Backend>, ApiError> {
        self.backend.get().cloned().ok_or(ApiError::NotReady)
    }
}

/// Every route, with its limits. Pass the result to [`serve`] or drive it in tests.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/api/sessions", post(tutoring::create))
        .route("/api/sessions/{id}", get(tutoring::read))
        .route("/api/sessions/{id}/messages", post(tutoring::message))
        .route("/api/students/{student}/sessions", get(tutoring::sessions_of))
        .route("/api/students/{student}/progress", get(tutoring::progress))
        .route("/api/solve", post(solve::solve))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), limits::guard));
    let mut app = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi))
        .merge(api)
        .fallback(web::asset)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(
            // One span per request with method, path and status at INFO: the access log.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        );
    if !state.config.cors_origins.is_empty() {
        let origins = state.config.cors_origins.iter().filter_map(|o| o.parse().ok());
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([axum::http::header::CONTENT_TYPE, axum::http::header::AUTHORIZATION]);
        app = app.layer(cors);
    }
    app.with_state(state)
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// The OpenAPI description of every route (`crates/server/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let backend = state.backend()?;
    let store = state.store.clone();
    // A query that touches the database file, so a broken store is not reported ready.
    tokio::task::spawn_blocking(move || store.sessions_of(""))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(axum::Json(serde_json::json!({"ready": true, "model": backend.model_name()})))
}
