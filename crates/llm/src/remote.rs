//! A [`Backend`] that talks to an OpenAI-compatible chat-completions server.
//!
//! It lets everything above the seam run against a model served elsewhere: vLLM or SGLang
//! on a GPU machine, llama.cpp's server, or another Hypatia (`hypatia serve`). Replies are
//! always streamed (`stream: true`) and the server-sent events are parsed here, so the
//! caller sees text as it is produced and cancelling simply drops the connection, which
//! makes the server stop generating.
//!
//! The client is `reqwest`'s *blocking* one because the seam is blocking: callers use plain
//! threads (or tokio's `spawn_blocking`) and many of them may share one backend. Servers
//! differ in what they accept; where one refuses `n > 1` or returns fewer choices than
//! asked, the backend remembers and from then on sends one request per choice, run
//! concurrently, seeded `seed + i` like the embedded engine's sample `i`. A forced
//! assistant prefix is sent as a final assistant message with vLLM's
//! `continue_final_message`; the returned text is the continuation only, as with the
//! embedded engine.
//!
//! vLLM: `vllm serve Qwen/Qwen2.5-Coder-1.5B-Instruct --port 8000`, then
//! `--backend http://host:8000`. SGLang: `python -m sglang.launch_server --model-path
//! Qwen/Qwen2.5-Coder-1.5B-Instruct --port 30000`, then `--backend http://host:30000`.
//!
//! ```no_run
//! use hypatia_llm::{Backend, ChatMessage, RemoteBackend, Request, SamplingParams};
//!
//! // The model is whatever the server lists first under /v1/models.
//! let backend = RemoteBackend::new("http://localhost:8000", None, None)?;
//! let request = Request::new(vec![ChatMessage::user("What is 7 * 8?")], SamplingParams::greedy(128));
//! println!("{}: {}", backend.model_name(), backend.generate(&request)?.text());
//! # Ok::<(), hypatia_llm::LlmError>(())
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::backend::{
    Backend, CancelToken, Choice, Delta, FinishReason, LlmError, Request, Response,
};

/// Retries of a request the server turned away as overloaded (429, 503).
const MAX_RETRIES: u32 = 3;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Server error text kept in an [`LlmError`]; an HTML error page is of no use in full.
const MAX_ERROR_CHARS: usize = 500;

type OnText<'a> = &'a mut dyn FnMut(u32, &str) -> ControlFlow<()>;

/// A model served by an OpenAI-compatible server, reached over HTTP.
pub struct RemoteBackend {
    client: Client,
    /// Scheme, host, port and any path prefix, without `/v1`.
    base: String,
    model: String,
    api_key: Option<String>,
    /// Set once the server refused `n > 1` or returned fewer choices than asked.
    emulate_n: AtomicBool,
    /// Set once the server refused `stream_options`; token counts are then estimated.
    skip_stream_options: AtomicBool,
}

impl RemoteBackend {
    /// `base_url` is the server's root, with or without `/v1` (`http://host:8000`). Without
    /// a `model`, the first one listed by `GET /v1/models` is used.
    pub fn new(
        base_url: &str,
        model: Option<String>,
        api_key: Option<String>,
    ) -> Result<Self, LlmError> {
        let mut backend = Self {
            client: http_client(Duration::from_secs(600), Duration::from_secs(10))?,
            base: normalize_base_url(base_url)?,
            model: model.unwrap_or_default(),
            api_key,
            emulate_n: AtomicBool::new(false),
            skip_stream_options: AtomicBool::new(false),
        };
        if backend.model.is_empty() {
            backend.model = backend.first_listed_model()?;
        }
        Ok(backend)
    }

    /// Replaces the timeouts (defaults: 600 s and 10 s). `request` bounds the wait for a
    /// reply to start and then for each next piece of a stream, not the whole generation.
    pub fn with_timeouts(mut self, request: Duration, connect: Duration) -> Result<Self, LlmError> {
        self.client = http_client(request, connect)?;
        Ok(self)
    }

    /// The server's root URL, normalised (no trailing slash, no `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn first_listed_model(&self) -> Result<String, LlmError> {
        #[derive(Deserialize)]
        struct Models {
            data: Vec<Model>,
        }
        #[derive(Deserialize)]
        struct Model {
            id: String,
        }
        let url = format!("{}/v1/models", self.base);
        let failed = |why: String| {
            LlmError::Remote(format!(
                "cannot learn the model from {url} ({why}); name it explicitly"
            ))
        };
        let response =
            self.authorized(self.client.get(&url)).send().map_err(|e| failed(describe(&e)))?;
        let status = response.status();
        let body = response.text().map_err(|e| failed(describe(&e)))?;
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}: {}", error_message(&body))));
        }
        let models: Models =
            serde_json::from_str(&body).map_err(|e| failed(format!("unexpected reply: {e}")))?;
        models.data.into_iter().next().map(|m| m.id).ok_or_else(|| failed("it lists none".into()))
    }

    fn chat_body(&self, request: &Request, n: u32, seed: u32, include_usage: bool) -> Value {
        let params = &request.params;
        let mut messages = json!(request.messages);
        let mut body = json!({
            "model": self.model,
            "stream": true,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "seed": seed,
            "n": n,
        });
        if include_usage {
            body["stream_options"] = json!({ "include_usage": true });
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        if let Some(grammar) = &params.grammar {
            body["grammar"] = json!(grammar);
        }
        if let (Some(prefix), Some(list)) = (&request.assistant_prefix, messages.as_array_mut()) {
            list.push(json!({ "role": "assistant", "content": prefix }));
            body["continue_final_message"] = json!(true);
            body["add_generation_prompt"] = json!(false);
        }
        body["messages"] = messages;
        body
    }

    /// POSTs a chat request, retrying while the server says it is overloaded. `None` means
    /// the caller cancelled while waiting to retry.
    fn post_chat(
        &self,
        body: &Value,
        cancel: Option<&CancelToken>,
    ) -> Result<Option<reqwest::blocking::Response>, LlmError> {
        let url = format!("{}/v1/chat/completions", self.base);
        let mut retries = 0;
        loop {
            let response = self
                .authorized(self.client.post(&url).json(body))
                .send()
                .map_err(|e| LlmError::Remote(format!("POST {url}: {}", describe(&e))))?;
            let status = response.status();
            if status.is_success() {
                return Ok(Some(response));
            }
            let retry_after = response.headers().get(RETRY_AFTER).and_then(|value| {
                value.to_str().ok()?.trim().parse().ok().map(Duration::from_secs)
            });
            let message = error_message(&response.text().unwrap_or_default());
            let overloaded =
                matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE);
            if !overloaded || retries == MAX_RETRIES {
                return Err(http_error(status, &message));
            }
            let wait = retry_after.unwrap_or(Duration::from_secs(1 << retries)).min(MAX_RETRY_WAIT);
            tracing::debug!(%status, ?wait, %message, "server overloaded; retrying");
            if !sleep_unless_cancelled(wait, cancel) {
                return Ok(None);
            }
            retries += 1;
        }
    }

    /// Runs one streaming request for `n` choices.
    fn stream(
        &self,
        request: &Request,
        n: u32,
        seed: u32,
        on_text: OnText<'_>,
    ) -> Result<Stream, LlmError> {
        let cancel = request.cancel.as_ref();
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Ok(Stream::cancelled());
        }
        let include_usage = !self.skip_stream_options.load(Ordering::Relaxed);
        let response = match self
            .post_chat(&self.chat_body(request, n, seed, include_usage), cancel)
        {
            Err(LlmError::InvalidRequest(message))
                if include_usage && message.contains("stream_options") =>
            {
                tracing::info!(%message, "the server refused stream_options; estimating tokens");
                self.skip_stream_options.store(true, Ordering::Relaxed);
                self.post_chat(&self.chat_body(request, n, seed, false), cancel)?
            }
            other => other?,
        };
        match response {
            Some(response) => read_stream(response, cancel, on_text),
            None => Ok(Stream::cancelled()),
        }
    }

    /// Emulates `n` with one single-choice request per index, run concurrently. Deltas are
    /// funnelled to the calling thread, the only one the seam lets call `on_delta`.
    fn stream_each(
        &self,
        request: &Request,
        indices: &[u32],
        on_delta: &mut dyn FnMut(Delta<'_>) -> ControlFlow<()>,
    ) -> Result<Vec<(u32, Stream)>, LlmError> {
        let (sender, receiver) = mpsc::channel::<(u32, String)>();
        // Stops the other requests when the callback breaks or one request fails.
        let abort = CancelToken::new();
        thread::scope(|scope| {
            let workers: Vec<_> = indices
                .iter()
                .map(|&index| {
                    let (sender, abort) = (sender.clone(), abort.clone());
                    scope.spawn(move || {
                        let seed = request.params.seed.wrapping_add(index);
                        let result = self.stream(request, 1, seed, &mut |_, text| {
                            if abort.is_cancelled() || sender.send((index, text.into())).is_err() {
                                ControlFlow::Break(())
                            } else {
                                ControlFlow::Continue(())
                            }
                        });
                        if result.is_err() {
                            abort.cancel();
                        }
                        result.map(|stream| (index, stream))
                    })
                })
                .collect();
            drop(sender);
            // Ends once every worker has finished and dropped its sender.
            for (index, text) in receiver {
                if on_delta(Delta { index, text: &text }).is_break() {
                    abort.cancel();
                    break;
                }
            }
            workers
                .into_iter()
                .map(|worker| {
                    worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }
}

/// Written by hand to keep the API key out of logs.
impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBackend")
            .field("base", &self.base)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Backend for RemoteBackend {
    fn model_name(&self) -> &str {
        &self.model
    }

    fn generate_streaming(
        &self,
        request: &Request,
        on_delta: &mut dyn FnMut(Delta<'_>) -> ControlFlow<()>,
    ) -> Result<Response, LlmError> {
        request.params.validate()?;
        let n = request.params.n;
        let mut first = Stream::default();
        if n == 1 || !self.emulate_n.load(Ordering::Relaxed) {
            let mut on_text = |index, text: &str| on_delta(Delta { index, text });
            match self.stream(request, n, request.params.seed, &mut on_text) {
                Ok(stream) => first = stream,
                Err(LlmError::InvalidRequest(message)) if n > 1 && mentions_n(&message) => {
                    tracing::info!(%message, "the server refused n > 1; one request per choice");
                    self.emulate_n.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let mut stopped = first.stopped;
        let missing: Vec<u32> = (0..n).filter(|i| !first.choices.contains_key(i)).collect();
        let (mut choices, mut usage) = first.into_choices();
        if n > 1 && !missing.is_empty() && !stopped {
            if !self.emulate_n.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    n,
                    got = choices.len(),
                    "fewer choices than asked; one request each"
                );
            }
            for (index, stream) in self.stream_each(request, &missing, on_delta)? {
                stopped |= stream.stopped;
                let (single, single_usage) = stream.into_choices();
                choices.extend(single.into_iter().map(|choice| Choice { index, ..choice }));
                usage = match (usage, single_usage) {
                    // Counted once; the reuse is what the least lucky request got.
                    (Some((p1, c1)), Some((p2, c2))) => Some((p1.max(p2), c1.min(c2))),
                    (a, b) => a.or(b),
                };
            }
        }
        // Choices the server never started: cancelled before they began, or left out.
        let finish_reason = if stopped { FinishReason::Cancelled } else { FinishReason::Stop };
        for index in 0..n {
            if !choices.iter().any(|c| c.index == index) {
                choices.push(Choice {
                    index,
                    text: String::new(),
                    completion_tokens: 0,
                    finish_reason,
                });
            }
        }
        choices.sort_by_key(|c| c.index);
        let (prompt_tokens, cached_tokens) = usage.unwrap_or_else(|| {
            tracing::debug!("no usage from the server; completion tokens estimated from chunks");
            (0, 0)
        });
        let completion_tokens = choices.iter().map(|c| c.completion_tokens).sum();
        Ok(Response { choices, prompt_tokens, cached_tokens, completion_tokens })
    }
}

/// Assembles server-sent events from lines; only `data` fields matter to chat streams.
#[derive(Debug, Default)]
struct SseParser {
    data: Option<String>,
}

impl SseParser {
    /// Feeds one line (its `\n` or `\r\n` is optional); returns an event's data once the
    /// blank line that ends the event arrives. Several `data` lines are joined with `\n`.
    fn feed(&mut self, line: &str) -> Option<String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return self.data.take();
        }
        // Comments (`: …`) have an empty field name; `event`, `id` and `retry` don't matter.
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if field == "data" {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
        None
    }

    /// Ends the input. An unterminated event still counts: some servers close the
    /// connection right after `data: [DONE]` without the blank line.
    fn finish(&mut self) -> Option<String> {
        self.data.take()
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    index: u32,
    #[serde(default)]
    delta: ChunkDelta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct ChunkDelta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    cached_tokens: Option<u32>,
}

/// What one streamed request produced, by the server's choice index.
#[derive(Default)]
struct Stream {
    choices: BTreeMap<u32, Sample>,
    usage: Option<Usage>,
    /// The caller cancelled or the callback broke before the stream ended.
    stopped: bool,
}

#[derive(Default)]
struct Sample {
    text: String,
    chunks: u32,
    finish: Option<FinishReason>,
}

impl Stream {
    fn cancelled() -> Self {
        Self { stopped: true, ..Self::default() }
    }

    fn apply(&mut self, data: &str, on_text: OnText<'_>) -> Result<ControlFlow<()>, LlmError> {
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            LlmError::Remote(format!("unreadable stream chunk ({e}): {}", truncate(data)))
        })?;
        if chunk.error.is_some() {
            return Err(LlmError::Remote(format!("failed mid-stream: {}", error_message(data))));
        }
        // vLLM sends `"usage": null` in every chunk but the last.
        self.usage = chunk.usage.or(self.usage.take());
        for choice in chunk.choices {
            let sample = self.choices.entry(choice.index).or_default();
            if let Some(reason) = choice.finish_reason {
                sample.finish = Some(if reason == "length" {
                    FinishReason::Length
                } else {
                    FinishReason::Stop
                });
            }
            if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
                sample.text.push_str(&text);
                sample.chunks += 1;
                if on_text(choice.index, &text).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The choices, and `(prompt_tokens, cached_tokens)` when the server reported usage.
    /// Without usage, a choice's tokens are estimated as its number of content chunks.
    fn into_choices(self) -> (Vec<Choice>, Option<(u32, u32)>) {
        let unfinished = if self.stopped { FinishReason::Cancelled } else { FinishReason::Stop };
        let chunks: Vec<u32> = self.choices.values().map(|s| s.chunks).collect();
        let tokens = match &self.usage {
            Some(usage) => split_tokens(usage.completion_tokens, &chunks),
            None => chunks,
        };
        let choices = self
            .choices
            .into_iter()
            .zip(tokens)
            .map(|((index, sample), completion_tokens)| Choice {
                index,
                text: sample.text,
                completion_tokens,
                finish_reason: sample.finish.unwrap_or(unfinished),
            })
            .collect();
        let usage = self.usage.map(|u| {
            let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0);
            (u.prompt_tokens, cached)
        });
        (choices, usage)
    }
}

/// Reads a chat stream to `[DONE]`, or until the request is cancelled or the callback breaks.
fn read_stream(
    body: impl Read,
    cancel: Option<&CancelToken>,
    on_text: OnText<'_>,
) -> Result<Stream, LlmError> {
    let mut reader = BufReader::new(body);
    let mut events = SseParser::default();
    let mut stream = Stream::default();
    let mut line = String::new();
    loop {
        if cancel.is_some_and(CancelToken::is_cancelled) {
            stream.stopped = true;
            return Ok(stream);
        }
        line.clear();
        let at_end = reader
            .read_line(&mut line)
            .map_err(|e| LlmError::Remote(format!("reading the stream: {e}")))?
            == 0;
        let data = if at_end { events.finish() } else { events.feed(&line) };
        match data.as_deref() {
            Some("[DONE]") => return Ok(stream),
            Some(data) if stream.apply(data, on_text)?.is_break() => {
                stream.stopped = true;
                return Ok(stream);
            }
            _ => {}
        }
        if at_end {
            break;
        }
    }
    // Without `[DONE]`, only a stream whose every choice finished passes for complete.
    if stream.choices.is_empty() || stream.choices.values().any(|s| s.finish.is_none()) {
        return Err(LlmError::Remote("the stream ended before the reply was complete".into()));
    }
    Ok(stream)
}

/// Splits a completion-token total over choices in proportion to their content chunks
/// (at least one each), so the per-choice counts add up to the server's exact total.
fn split_tokens(total: u32, chunks: &[u32]) -> Vec<u32> {
    let sum: u64 = chunks.iter().map(|&c| u64::from(c.max(1))).sum();
    let (mut cumulative, mut assigned) = (0, 0);
    chunks
        .iter()
        .map(|&c| {
            cumulative += u64::from(c.max(1));
            let upto = u64::from(total) * cumulative / sum;
            let share = upto - assigned;
            assigned = upto;
            share as u32
        })
        .collect()
}

fn http_client(timeout: Duration, connect_timeout: Duration) -> Result<Client, LlmError> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| LlmError::Remote(format!("cannot create the HTTP client: {}", describe(&e))))
}

/// Accepts `host:port`, `http://host:port`, `http://host:port/v1`, with or without a
/// trailing slash, and returns the root without `/v1`.
fn normalize_base_url(url: &str) -> Result<String, LlmError> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let base =
        if trimmed.contains("://") { trimmed.to_string() } else { format!("http://{trimmed}") };
    match reqwest::Url::parse(&base) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(base),
        Ok(_) => Err(LlmError::InvalidRequest(format!("server URL {url:?} is not http(s)"))),
        Err(e) => Err(LlmError::InvalidRequest(format!("bad server URL {url:?}: {e}"))),
    }
}

/// The message of an error reply: OpenAI's `{"error": {"message"}}`, `{"error": "…"}`,
/// vLLM's older `{"message"}`, or else the raw body.
fn error_message(body: &str) -> String {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let message = parsed.as_ref().and_then(|value| {
        let error = value.get("error").unwrap_or(value);
        error.get("message").and_then(Value::as_str).or(error.as_str())
    });
    truncate(message.unwrap_or(body.trim()))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Client errors are the request's fault (bad input, too long, unsupported parameter).
fn http_error(status: StatusCode, message: &str) -> LlmError {
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => {
            LlmError::InvalidRequest(format!("HTTP {status}: {message}"))
        }
        _ => LlmError::Remote(format!("HTTP {status}: {message}")),
    }
}

/// Whether a refusal is about `n`, like llama.cpp's "Only one completion choice is allowed".
fn mentions_n(message: &str) -> bool {
    message.split(|c: char| !c.is_alphanumeric() && c != '_').any(|word| word == "n")
        || message.to_lowercase().contains("choice")
}

/// reqwest's top-level message hides the cause ("connection refused") in its sources.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Returns false if the request was cancelled before `duration` passed.
fn sleep_unless_cancelled(duration: Duration, cancel: Option<&CancelToken>) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{ChatMessage, SamplingParams};

    /// Parses a whole stream, returning the deltas in order and what was assembled.
    fn parse(bytes: &str, break_after: usize) -> (Vec<(u32, String)>, Result<Stream, LlmError>) {
        let mut deltas = Vec::new();
        let result = read_stream(bytes.as_bytes(), None, &mut |index, text| {
            deltas.push((index, text.to_string()));
            if deltas.len() == break_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        (deltas, result)
    }

    fn chunk(index: u32, content: &str, finish: Option<&str>) -> String {
        let choice =
            json!({"index": index, "delta": {"content": content}, "finish_reason": finish});
        format!("data: {}\n\n", json!({"choices": [choice], "usage": null}))
    }

    #[test]
    fn sse_parser_joins_data_lines_and_skips_comments_and_other_fields() {
        let mut parser = SseParser::default();
        let lines = [": keep-alive\r\n", "event: message\r\n", "data: {\"a\":\r\n", "data:1}\r\n"];
        assert!(lines.iter().all(|line| parser.feed(line).is_none()));
        assert_eq!(parser.feed("\r\n").as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(parser.feed("\n"), None, "a blank line without data is no event");
        parser.feed("data: [DONE]");
        assert_eq!(parser.finish().as_deref(), Some("[DONE]"));
    }

    #[test]
    fn interleaved_choices_stream_in_order_and_usage_is_split() {
        let role = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 6,
            "prompt_tokens_details": {"cached_tokens": 8}}});
        let bytes = [
            format!("{role}\r\n\r\n"),
            chunk(0, "Four", None),
            chunk(1, "It is", None),
            chunk(0, ".", Some("stop")),
            chunk(1, " 4", Some("length")),
            format!(": done soon\n\ndata: {usage}\n\ndata: [DONE]\n\n"),
            chunk(0, "ignored after DONE", None),
        ]
        .concat();
        let (deltas, stream) = parse(&bytes, 0);
        let expected = [(0, "Four"), (1, "It is"), (0, "."), (1, " 4")];
        assert_eq!(deltas, expected.map(|(i, t)| (i, t.to_string())));
        let (choices, usage) = stream.unwrap().into_choices();
        assert_eq!(usage, Some((12, 8)));
        assert_eq!(choices[0].text, "Four.");
        assert_eq!(choices[0].finish_reason, FinishReason::Stop);
        assert_eq!(choices[1].text, "It is 4");
        assert_eq!(choices[1].finish_reason, FinishReason::Length);
        assert_eq!(choices.iter().map(|c| c.completion_tokens).sum::<u32>(), 6);
    }

    #[test]
    fn without_usage_tokens_are_counted_chunks() {
        let bytes = [chunk(0, "a", None), chunk(0, "b", Some("stop")), "data: [DONE]".into()];
        let (choices, usage) = parse(&bytes.concat(), 0).1.unwrap().into_choices();
        assert_eq!((choices[0].completion_tokens, usage), (2, None));
    }

    #[test]
    fn breaking_cancels_only_unfinished_choices() {
        let bytes = [chunk(1, "done", Some("stop")), chunk(0, "x", None), chunk(0, "y", None)];
        let (deltas, stream) = parse(&bytes.concat(), 2);
        assert_eq!(deltas.len(), 2);
        let (choices, _) = stream.unwrap().into_choices();
        assert_eq!(
            (choices[0].text.as_str(), choices[0].finish_reason),
            ("x", FinishReason::Cancelled)
        );
        assert_eq!(choices[1].finish_reason, FinishReason::Stop);
    }

    #[test]
    fn truncated_streams_and_mid_stream_errors_fail() {
        let (_, cut) = parse(&chunk(0, "half", None), 0);
        assert!(matches!(cut, Err(LlmError::Remote(m)) if m.contains("ended")));
        let error = "data: {\"error\":{\"message\":\"out of memory\"}}\n\n";
        assert!(
            matches!(parse(error, 0).1, Err(LlmError::Remote(m)) if m.contains("out of memory"))
        );
        // A finished stream that closes without `[DONE]` is complete.
        assert!(parse(&chunk(0, "ok", Some("stop")), 0).1.is_ok());
    }

    #[test]
    fn token_split_adds_up() {
        assert_eq!(split_tokens(10, &[3, 1]), vec![7, 3]);
        assert_eq!(split_tokens(5, &[0, 0]), vec![2, 3]);
        assert_eq!(split_tokens(7, &[4]), vec![7]);
    }

    #[test]
    fn base_urls_are_normalised() {
        for url in
            ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/", "h:8000"]
        {
            assert_eq!(normalize_base_url(url).unwrap(), "http://h:8000", "{url}");
        }
        assert_eq!(normalize_base_url("https://x.org/llm/v1").unwrap(), "https://x.org/llm");
        assert!(normalize_base_url("ftp://h").is_err());
        assert!(normalize_base_url("").is_err());
    }

    #[test]
    fn error_messages_are_extracted_and_truncated() {
        assert_eq!(error_message(r#"{"error":{"message":"bad n","type":"x"}}"#), "bad n");
        assert_eq!(error_message(r#"{"error":"busy"}"#), "busy");
        assert_eq!(error_message(r#"{"object":"error","message":"too long"}"#), "too long");
        assert_eq!(error_message(" Bad Gateway\n"), "Bad Gateway");
        assert_eq!(error_message(&"é".repeat(900)).chars().count(), MAX_ERROR_CHARS + 1);
        assert!(matches!(http_error(StatusCode::BAD_REQUEST, "x"), LlmError::InvalidRequest(_)));
        assert!(matches!(http_error(StatusCode::BAD_GATEWAY, "x"), LlmError::Remote(_)));
        assert!(mentions_n("HTTP 400: 'n' must be 1"));
        assert!(mentions_n("Only one completion choice is allowed"));
        assert!(!mentions_n("prompt exceeds n_ctx"));
    }

    fn offline_backend() -> RemoteBackend {
        // Nothing listens on the discard port; these tests never send a request.
        RemoteBackend::new("http://127.0.0.1:9/v1/", Some("m".into()), Some("sk-secret".into()))
            .unwrap()
    }

    #[test]
    fn chat_body_continues_the_prefix_and_omits_unset_fields() {
        let backend = offline_backend();
        assert_eq!((backend.model_name(), backend.base_url()), ("m", "http://127.0.0.1:9"));
        assert!(!format!("{backend:?}").contains("sk-secret"), "the API key stays out of logs");
        let mut request = Request::new(vec![ChatMessage::user("2+2?")], SamplingParams::greedy(9));
        let plain = backend.chat_body(&request, 1, 0, true);
        assert_eq!(plain["messages"], json!([{"role": "user", "content": "2+2?"}]));
        assert_eq!(plain["stream_options"]["include_usage"], true);
        assert!(plain.get("stop").is_none() && plain.get("grammar").is_none());
        assert!(plain.get("continue_final_message").is_none());
        request.assistant_prefix = Some("It is".into());
        request.params.stop = vec!["\n".into()];
        let body = backend.chat_body(&request, 3, 7, false);
        assert_eq!(body["messages"][1], json!({"role": "assistant", "content": "It is"}));
        assert_eq!(
            (&body["continue_final_message"], &body["add_generation_prompt"]),
            (&json!(true), &json!(false))
        );
        assert_eq!(
            (&body["n"], &body["seed"], &body["stop"]),
            (&json!(3), &json!(7), &json!(["\n"]))
        );
        assert!(body.get("stream_options").is_none());
    }

    #[test]
    fn a_cancelled_request_sends_nothing_and_bad_params_are_refused() {
        let backend = offline_backend();
        let mut request = Request::new(vec![ChatMessage::user("hi")], SamplingParams::default());
        request.params.n = 2;
        request.cancel = Some(CancelToken::new());
        request.cancel.as_ref().unwrap().cancel();
        let response = backend.generate(&request).unwrap();
        assert_eq!(response.choices.len(), 2);
        assert!(response.choices.iter().all(|c| c.finish_reason == FinishReason::Cancelled));
        request.params.top_p = 0.0;
        assert!(matches!(backend.generate(&request), Err(LlmError::InvalidRequest(_))));
    }
}
