//! `hypatia serve`: the HTTP API and the web page on one address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use hypatia_server::{AppState, ServerConfig};
use hypatia_tutor::{SqliteStore, TutorConfig};

use crate::EngineArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the URL printed says which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Bearer token the API requires (needed when --addr is not a loopback address).
    #[arg(long, env = "HYPATIA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Allow calls from pages of this origin (repeatable); CORS is off without it.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body: usize,
    /// Requests per minute from one client address.
    #[arg(long, default_value_t = 600)]
    rate: u32,
    /// Model-running requests at once; more are answered 429 with Retry-After.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Most samples (`n`) one chat completion may ask for. Default: the engine's
    /// --parallel (16 with --backend); never above --parallel.
    #[arg(long)]
    max_samples: Option<u32>,
    /// SQLite file of sessions and progress (default: $HYPATIA_HOME/tutor.db).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Default school grade of new sessions.
    #[arg(long, default_value_t = 6)]
    grade: u8,
    /// Attempts before "show me the answer" is honoured.
    #[arg(long, default_value_t = 3)]
    reveal_after: u32,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let config = ServerConfig {
        addr: args.addr,
        token: args.token.filter(|t| !t.is_empty()),
        cors_origins: args.cors_origins,
        max_body_bytes: args.max_body,
        rate_per_minute: args.rate,
        max_in_flight: args.max_in_flight,
        // The embedded engine decodes at most --parallel sequences; a remote server sets
        // its own bound.
        max_samples: args.max_samples.unwrap_or(if args.engine.backends.is_empty() {
            args.engine.parallel
        } else {
            16
        }),
        parallel: args.engine.backends.is_empty().then_some(args.engine.parallel),
        tutor: TutorConfig {
            grade: args.grade,
            reveal_after: args.reveal_after,
            ..TutorConfig::default()
        },
    };
    config.validate()?;
    let db = args.db.unwrap_or_else(|| hypatia_llm::models::hypatia_home().join("tutor.db"));
    let store = Arc::new(SqliteStore::open(&db)?);
    let state = AppState::new(config.clone(), store);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        // The first line on stdout is the URL: scripts and tests read it.
        println!("Hypatia is listening on http://{addr}/");
        eprintln!("sessions: {}; loading model {}…", db.display(), args.engine.model);
        let loading = state.clone();
        let engine = args.engine.clone();
        let loader = tokio::task::spawn_blocking(move || -> Result<()> {
            let backend = engine.backend()?;
            eprintln!("model {} ready", backend.model_name());
            loading.set_backend(backend);
            Ok(())
        });
        let server = tokio::spawn(hypatia_server::serve(listener, state, shutdown_signal()));
        // A model that cannot load is fatal: a server that can never answer is worse than
        // an error message.
        loader.await??;
        server.await??;
        eprintln!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
