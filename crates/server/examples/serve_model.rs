//! Serves a model's tutor, solver and OpenAI-compatible API from your own program.
//!
//! ```sh
//! cargo run --release -p hypatia-server --example serve_model -- smollm2-135m
//! ```
//! then open http://127.0.0.1:8080/ or point any OpenAI client at it.

use std::sync::Arc;

use hypatia_llm::{load_engine, EngineConfig, ModelStore};
use hypatia_server::{AppState, ServerConfig};
use hypatia_tutor::SqliteStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let model = std::env::args().nth(1).unwrap_or_else(|| "smollm2-135m".into());
    let config = ServerConfig::default();
    config.validate()?;
    // Sessions kept in memory here; `hypatia serve` keeps them in a SQLite file.
    let state = AppState::new(config.clone(), Arc::new(SqliteStore::in_memory()?));
    let engine = tokio::task::spawn_blocking(move || {
        load_engine(&model, &ModelStore::default(), &EngineConfig::default())
    })
    .await??;
    state.set_backend(Arc::new(engine));
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    hypatia_server::serve(listener, state, stop).await?;
    Ok(())
}
