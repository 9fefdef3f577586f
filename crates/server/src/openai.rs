//! `POST /v1/chat/completions` and `GET /v1/models`: the OpenAI wire format over whatever
//! backend the server runs, so any OpenAI client — and Hypatia's own remote backend — can
//! use it.

use std::convert::Infallible;
use std::ops::ControlFlow;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use hypatia_llm::{ChatMessage, FinishReason, Request, Role, SamplingParams};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::Json;
use crate::{ApiError, AppState};

/// Tokens per sample this server will take on.
const MAX_TOKENS: u32 = 8192;
const DEFAULT_MAX_TOKENS: u32 = 1024;

#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    messages: Vec<MessageIn>,
    #[serde(default)]
    model: Option<String>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stop: Option<Stop>,
    seed: Option<i64>,
    n: Option<u32>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    /// vLLM's extension: the last message is an assistant message to continue.
    #[serde(default)]
    continue_final_message: bool,
    #[serde(default)]
    grammar: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageIn {
    role: String,
    content: Content,
}

/// A message's content: a string, or OpenAI's list of typed parts (only text is read).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

impl ChatCompletionRequest {
    /// The backend request, or why this one cannot be served.
    fn to_request(&self, max_samples: u32) -> Result<Request, ApiError> {
        let bad = |why: String| Err(ApiError::BadRequest(why));
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => return bad(format!("messages[{i}]: role `{other}` is not supported")),
            };
            let content = match &m.content {
                Content::Text(t) => t.clone(),
                Content::Parts(parts) => {
                    if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                        return bad(format!("messages[{i}]: content of type `{}`", p.kind));
                    }
                    parts.iter().map(|p| p.text.as_str()).collect()
                }
            };
            messages.push(ChatMessage { role, content });
        }
        let mut assistant_prefix = None;
        if self.continue_final_message {
            match messages.pop() {
                Some(last) if last.role == Role::Assistant => assistant_prefix = Some(last.content),
                _ => return bad("continue_final_message needs a final assistant message".into()),
            }
        }
        if messages.is_empty() {
            return bad("messages must not be empty".into());
        }
        let n = self.n.unwrap_or(1);
        if n > max_samples {
            return bad(format!("n must be at most {max_samples}"));
        }
        let max_tokens =
            self.max_completion_tokens.or(self.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS);
        if max_tokens > MAX_TOKENS {
            return bad(format!("max_tokens must be at most {MAX_TOKENS}"));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        let params = SamplingParams {
            max_tokens,
            // OpenAI's default temperature is 1.
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            // Seeds are 32-bit below the seam; larger ones are folded, not refused.
            seed: self.seed.map(|s| s as u32).unwrap_or(0),
            stop,
            n,
            grammar: self.grammar.clone(),
        };
        params.validate()?;
        Ok(Request { messages, assistant_prefix, params, cancel: None })
    }
}

pub async fn models(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    let backend = state.backend()?;
    Ok(axum::Json(json!({
        "object": "list",
        "data": [{"id": backend.model_name(), "object": "model", "created": 0, "owned_by": "hypatia"}],
    })))
}

pub async fn chat_completions(
    State(state): State<AppState>,
    Json(body): Json<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let request = body.to_request(state.config.max_samples)?;
    let backend = state.backend()?;
    let permit = state.admission.admit()?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = unix_seconds();
    let model = body.model.clone().unwrap_or_else(|| backend.model_name().to_string());
    if !body.stream {
        let response = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            backend.generate(&request)
        })
        .await??;
        let choices: Vec<Value> = response
            .choices
            .iter()
            .map(|c| {
                json!({
                    "index": c.index,
                    "message": {"role": "assistant", "content": c.text},
                    "finish_reason": finish_name(c.finish_reason),
                })
            })
            .collect();
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": choices, "usage": usage(&response),
        });
        return Ok(axum::Json(body).into_response());
    }

    let include_usage = body.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let (tx, mut rx) = mpsc::channel::<Result<Event, ApiError>>(64);
    let chunk = move |choices: Value, usage: Option<Value>| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": choices,
        });
        if let Some(u) = usage {
            c["usage"] = u;
        }
        Event::default().data(c.to_string())
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut started = vec![false; request.params.n as usize];
        // A send fails only when the client has gone: stop generating for nobody.
        let mut on_delta = |d: hypatia_llm::Delta<'_>| {
            let first = !std::mem::replace(&mut started[d.index as usize], true);
            let delta = if first {
                json!({"role": "assistant", "content": d.text})
            } else {
                json!({"content": d.text})
            };
            let event =
                chunk(json!([{"index": d.index, "delta": delta, "finish_reason": null}]), None);
            match tx.blocking_send(Ok(event)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        };
        let result = backend.generate_streaming(&request, &mut on_delta);
        match result {
            Ok(response) => {
                for c in &response.choices {
                    let done = json!([{"index": c.index, "delta": {}, "finish_reason": finish_name(c.finish_reason)}]);
                    let _ = tx.blocking_send(Ok(chunk(done, None)));
                }
                if include_usage {
                    let _ = tx.blocking_send(Ok(chunk(json!([]), Some(usage(&response)))));
                }
            }
            // Before the first chunk the error can still be a proper HTTP status.
            Err(e) if !started.iter().any(|s| *s) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
            Err(e) => {
                let error = json!({"error": {"message": e.to_string(), "type": "server_error"}});
                let _ = tx.blocking_send(Ok(Event::default().data(error.to_string())));
            }
        }
        let _ = tx.blocking_send(Ok(Event::default().data("[DONE]")));
    });
    // The response starts with the first event, so a request the backend refuses (a bad
    // grammar, a prompt too long) gets its 4xx instead of a 200 with an error inside.
    let first = match rx.recv().await {
        Some(Ok(event)) => event,
        Some(Err(e)) => return Err(e),
        None => return Err(ApiError::Internal("the generation ended without output".into())),
    };
    let rest = futures_util::StreamExt::filter_map(ReceiverStream::new(rx), |e| async { e.ok() });
    let stream = futures_util::StreamExt::map(
        futures_util::StreamExt::chain(futures_util::stream::iter([first]), rest),
        Ok::<_, Infallible>,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

fn usage(response: &hypatia_llm::Response) -> Value {
    json!({
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
        "total_tokens": response.prompt_tokens + response.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": response.cached_tokens},
    })
}

fn finish_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
    }
}

pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<Request, ApiError> {
        serde_json::from_value::<ChatCompletionRequest>(body).unwrap().to_request(16)
    }

    #[test]
    fn openai_fields_map_onto_the_seam() {
        let r = parse(json!({
            "model": "x", "messages": [{"role": "developer", "content": "Be brief."},
                                       {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "temperature": 0, "max_completion_tokens": 7, "stop": "\n", "seed": 3, "n": 2,
        }))
        .unwrap();
        assert_eq!(r.messages, vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi")]);
        assert_eq!(r.params.max_tokens, 7);
        assert_eq!(r.params.stop, vec!["\n".to_string()]);
        assert_eq!((r.params.seed, r.params.n, r.params.temperature), (3, 2, 0.0));
    }

    #[test]
    fn a_final_assistant_message_is_continued_when_asked() {
        let r = parse(json!({
            "messages": [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2,"}],
            "continue_final_message": true,
        }))
        .unwrap();
        assert_eq!(r.assistant_prefix.as_deref(), Some("1, 2,"));
        assert_eq!(r.messages.len(), 1);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let cases = [
            (json!({"messages": []}), "must not be empty"),
            (json!({"messages": [{"role": "tool", "content": "x"}]}), "role `tool`"),
            (json!({"messages": [{"role": "user", "content": "x"}], "n": 99}), "at most 16"),
            (json!({"messages": [{"role": "user", "content": "x"}], "top_p": 0}), "top_p"),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "continue_final_message": true}),
                "final assistant",
            ),
        ];
        for (body, why) in cases {
            let err = parse(body.clone()).unwrap_err().to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
