//! A real server on loopback, over the real engine running SmolLM2-135M.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use hypatia_llm::{Backend, EngineConfig, LlamaEngine, ModelStore};
use hypatia_server::{AppState, ServerConfig};
use hypatia_tutor::SqliteStore;

/// Parallel sequences of the shared engine (the conformance checks need 4).
pub const N_SEQ_MAX: u32 = 4;

/// One engine for every test in a binary, taken in turns: several checks compare outputs
/// across requests, which must not depend on what else is in the batch.
pub fn engine() -> (Arc<LlamaEngine>, MutexGuard<'static, ()>) {
    static ENGINE: OnceLock<Arc<LlamaEngine>> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let guard = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let engine = ENGINE.get_or_init(|| {
        let path = ModelStore::default().ensure("smollm2-135m").expect("pull smollm2-135m");
        let config = EngineConfig {
            n_ctx: 4096,
            n_seq_max: N_SEQ_MAX,
            prefix_cache_seqs: 0,
            ..EngineConfig::default()
        };
        Arc::new(LlamaEngine::load("smollm2-135m", &path, &config).expect("load smollm2-135m"))
    });
    (engine.clone(), guard)
}

/// A server running on its own thread until dropped.
pub struct Server {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(config: ServerConfig, backend: Arc<dyn Backend>) -> Server {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        Self::start_with(config, backend, store)
    }

    pub fn start_with(
        mut config: ServerConfig,
        backend: Arc<dyn Backend>,
        store: Arc<SqliteStore>,
    ) -> Server {
        config.addr = "127.0.0.1:0".parse().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let state = AppState::new(config, store);
                state.set_backend(backend);
                let shutdown = async {
                    let _ = stop_rx.await;
                };
                hypatia_server::serve(listener, state, shutdown).await.unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Server { url: format!("http://{addr}"), stop: Some(stop_tx), thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap()
}
