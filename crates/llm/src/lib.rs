//! The language-model layer of Hypatia: the [`Backend`] seam and what sits behind it.
//!
//! Everything above this crate (strategies, the tutor, the benchmark harness, the server)
//! asks a [`Backend`] for chat completions and never learns what runs the model. Three
//! implementations exist: [`LlamaEngine`] embeds llama.cpp and runs a GGUF model on this
//! machine, [`RemoteBackend`] talks to any OpenAI-compatible server (vLLM, SGLang), and
//! [`ScriptedBackend`] replays canned text for unit tests. The key design choice is that
//! the seam is *blocking and shareable*: a `Backend` is `Send + Sync`, any number of
//! threads call it at once, and the embedded engine turns those concurrent calls into one
//! continuously batched decode loop on a single thread that owns the llama.cpp context,
//! which is both what llama.cpp needs (contexts are not thread-safe) and what makes a
//! small CPU fast (one weight pass serves every sequence).
//!
//! ```
//! use hypatia_llm::{Backend, ChatMessage, Request, SamplingParams, ScriptedBackend};
//!
//! let backend = ScriptedBackend::new(["2 + 2 = 4, so the answer is \\boxed{4}."]);
//! let request = Request::new(vec![ChatMessage::user("What is 2+2?")], SamplingParams::greedy(64));
//! let response = backend.generate(&request).unwrap();
//! assert!(response.text().ends_with("\\boxed{4}."));
//! ```
//!
//! [`models`] knows the models Hypatia can fetch and pulls them (`hypatia model pull`).

pub mod backend;
pub mod cores;
pub mod engine;
pub mod grammar;
pub mod models;
mod prefix;
pub mod raw;
pub mod remote;
pub mod scripted;
pub mod text;

pub use backend::{
    Backend, CancelToken, ChatMessage, Choice, Delta, FinishReason, LlmError, Request, Response,
    Role, SamplingParams,
};
pub use engine::{EngineConfig, EngineInfo, LlamaEngine};
pub use models::{ModelError, ModelSpec, ModelStore, DEFAULT_MODEL};
pub use remote::RemoteBackend;
pub use scripted::ScriptedBackend;

/// Loads a model by registry name (pulling it on first use) or by path to a `.gguf` file.
pub fn load_engine(
    name_or_path: &str,
    store: &ModelStore,
    config: &EngineConfig,
) -> anyhow::Result<LlamaEngine> {
    let path = store.ensure(name_or_path)?;
    Ok(LlamaEngine::load(name_or_path, &path, config)?)
}
