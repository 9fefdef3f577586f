//! The `Backend` seam: what every strategy, tutor and server above this crate talks to.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role name chat templates expect.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: Role::Assistant, content: content.into() }
    }
}

/// How tokens are chosen.
///
/// Invariants (checked by [`SamplingParams::validate`]): `temperature >= 0`,
/// `0 < top_p <= 1`, `n >= 1`, `max_tokens >= 1`. A temperature of zero means greedy
/// decoding, which is reproducible; a sampled request with the same `seed` gives the same
/// text again (sample `i` of a request uses `seed + i`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub max_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u32,
    /// Generation ends before the first occurrence of any of these; the stop string itself is
    /// not part of the returned text.
    pub stop: Vec<String>,
    /// Number of independent samples of the same prompt. The prompt is computed once and its
    /// KV cells are shared by every sample.
    pub n: u32,
    /// A grammar in llama.cpp's GBNF notation (start symbol `root`) that every sample must
    /// follow, e.g. to force a JSON verdict. The embedded engine enforces it token by
    /// token; the scripted backend ignores it.
    pub grammar: Option<String>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
            n: 1,
            grammar: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding with a token budget.
    pub fn greedy(max_tokens: u32) -> Self {
        Self { max_tokens, ..Self::default() }
    }

    /// Checks the invariants, so every backend rejects the same bad input the same way.
    pub fn validate(&self) -> Result<(), LlmError> {
        let bad = |why: &str| Err(LlmError::InvalidRequest(why.to_string()));
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1");
        }
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature must be a finite number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if self.n == 0 {
            return bad("n must be at least 1");
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop strings must not be empty");
        }
        if let Some(grammar) = &self.grammar {
            crate::grammar::check_grammar(grammar).map_err(LlmError::InvalidRequest)?;
        }
        Ok(())
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

/// A flag that asks a running request to stop. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A chat generation request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub messages: Vec<ChatMessage>,
    /// Text the assistant's reply is forced to start with; generation continues from it.
    /// Interleaved tool use relies on this to resume after inserting a program's output.
    pub assistant_prefix: Option<String>,
    pub params: SamplingParams,
    /// Cancelling frees the request's sequences in the engine; the result then carries
    /// what was generated so far with [`FinishReason::Cancelled`].
    pub cancel: Option<CancelToken>,
}

impl Request {
    pub fn new(messages: Vec<ChatMessage>, params: SamplingParams) -> Self {
        Self { messages, params, ..Self::default() }
    }
}

/// Why a sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached, or the context was full.
    Length,
    /// The caller cancelled.
    Cancelled,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Cancelled => "cancelled",
        }
    }
}

/// One finished sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub text: String,
    pub completion_tokens: u32,
    pub finish_reason: FinishReason,
}

/// The result of a request: `n` choices, in index order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub choices: Vec<Choice>,
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV cells were reused from an earlier request instead of being
    /// computed (part of `prompt_tokens`).
    pub cached_tokens: u32,
    /// Sum over all choices.
    pub completion_tokens: u32,
}

impl Response {
    /// The text of the first choice (the only one when `n == 1`).
    pub fn text(&self) -> &str {
        self.choices.first().map(|c| c.text.as_str()).unwrap_or("")
    }
}

/// A piece of streamed text for one sample. Concatenating the deltas of a sample gives
/// exactly its final text (stop strings are held back, never streamed and then retracted).
#[derive(Debug, Clone, PartialEq)]
pub struct Delta<'a> {
    pub index: u32,
    pub text: &'a str,
}

/// What can go wrong below the seam.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("prompt of {prompt} tokens does not fit the context of {n_ctx} tokens")]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("engine stopped: {0}")]
    EngineStopped(String),
    #[error("engine error: {0}")]
    Engine(String),
    #[error("remote backend: {0}")]
    Remote(String),
    #[error("script exhausted: the scripted backend has no completion left for this request")]
    ScriptExhausted,
}

/// A language model that answers chat requests.
///
/// This is the seam between Hypatia's logic and whatever runs the model: the embedded
/// llama.cpp engine, a remote OpenAI-compatible server, or a scripted test double. It is
/// blocking and `Sync`, so many threads can hold one backend and call it at once; the
/// embedded engine batches their requests together.
pub trait Backend: Send + Sync {
    /// The model's name, as reported in results and traces.
    fn model_name(&self) -> &str;

    /// Generates, calling `on_delta` with each piece of text as it is produced. Returning
    /// `ControlFlow::Break` from the callback cancels the request (the sample's sequence is
    /// freed and the result reports [`FinishReason::Cancelled`]).
    fn generate_streaming(
        &self,
        request: &Request,
        on_delta: &mut dyn FnMut(Delta<'_>) -> ControlFlow<()>,
    ) -> Result<Response, LlmError>;

    /// Generates without streaming.
    fn generate(&self, request: &Request) -> Result<Response, LlmError> {
        self.generate_streaming(request, &mut |_| ControlFlow::Continue(()))
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn model_name(&self) -> &str {
        (**self).model_name()
    }
    fn generate_streaming(
        &self,
        request: &Request,
        on_delta: &mut dyn FnMut(Delta<'_>) -> ControlFlow<()>,
    ) -> Result<Response, LlmError> {
        (**self).generate_streaming(request, on_delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_params_reject_bad_values() {
        assert!(SamplingParams::default().validate().is_ok());
        let bad = [
            SamplingParams { max_tokens: 0, ..Default::default() },
            SamplingParams { temperature: -0.1, ..Default::default() },
            SamplingParams { temperature: f32::NAN, ..Default::default() },
            SamplingParams { top_p: 0.0, ..Default::default() },
            SamplingParams { top_p: 1.5, ..Default::default() },
            SamplingParams { n: 0, ..Default::default() },
            SamplingParams { stop: vec![String::new()], ..Default::default() },
        ];
        for p in bad {
            assert!(matches!(p.validate(), Err(LlmError::InvalidRequest(_))), "{p:?}");
        }
    }

    #[test]
    fn cancel_token_is_shared_by_clones() {
        let a = CancelToken::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
    }
}
