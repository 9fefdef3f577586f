//! A backend that replays canned completions, for unit tests of the logic above the seam.
//!
//! It behaves like a real backend where tests can observe it: stop strings cut the text,
//! text streams in pieces, the callback can cancel, and every request is recorded so a
//! test can assert on the prompts a strategy built.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Mutex;

use crate::backend::{Backend, Choice, Delta, FinishReason, LlmError, Request, Response};
use crate::text::TextAssembler;

type Responder = Box<dyn Fn(&Request, u32) -> Option<String> + Send + Sync>;

/// Replays completions in order, or computes them with a closure.
pub struct ScriptedBackend {
    name: String,
    script: Mutex<VecDeque<String>>,
    responder: Option<Responder>,
    seen: Mutex<Vec<Request>>,
}

impl ScriptedBackend {
    /// Each sample of each request takes the next completion of `completions`.
    pub fn new<S: Into<String>>(completions: impl IntoIterator<Item = S>) -> Self {
        Self {
            name: "scripted".into(),
            script: Mutex::new(completions.into_iter().map(Into::into).collect()),
            responder: None,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Completions computed from the request and the sample index; `None` means the script
    /// has nothing for this request (an error, as with an exhausted script).
    pub fn from_fn(f: impl Fn(&Request, u32) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            name: "scripted".into(),
            script: Mutex::new(VecDeque::new()),
            responder: Some(Box::new(f)),
            seen: Mutex::new(Vec::new()),
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Completions not yet used.
    pub fn remaining(&self) -> usize {
        self.script.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn next_completion(&self, request: &Request, index: u32) -> Result<String, LlmError> {
        match &self.responder {
            Some(f) => f(request, index).ok_or(LlmError::ScriptExhausted),
            None => self
                .script
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
                .ok_or(LlmError::ScriptExhausted),
        }
    }
}

impl Backend for ScriptedBackend {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn generate_streaming(
        &self,
        request: &Request,
        on_delta: &mut dyn FnMut(Delta<'_>) -> ControlFlow<()>,
    ) -> Result<Response, LlmError> {
        request.params.validate()?;
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
        let mut choices = Vec::new();
        let mut cancelled = request.cancel.as_ref().is_some_and(|c| c.is_cancelled());
        for index in 0..request.params.n {
            let full = self.next_completion(request, index)?;
            let mut text = TextAssembler::new(&request.params.stop);
            let mut tokens = 0;
            let mut finish = FinishReason::Length;
            // Whitespace-separated words stand in for tokens.
            for piece in full.split_inclusive(char::is_whitespace) {
                if cancelled {
                    finish = FinishReason::Cancelled;
                    break;
                }
                if tokens == request.params.max_tokens {
                    break;
                }
                tokens += 1;
                let pushed = text.push(piece.as_bytes());
                if !pushed.delta.is_empty()
                    && on_delta(Delta { index, text: &pushed.delta }).is_break()
                {
                    cancelled = true;
                }
                if pushed.stopped {
                    finish = FinishReason::Stop;
                    break;
                }
            }
            if tokens < request.params.max_tokens && finish == FinishReason::Length {
                finish = FinishReason::Stop;
            }
            let tail = text.finish();
            if !tail.is_empty() {
                let _ = on_delta(Delta { index, text: &tail });
            }
            choices.push(Choice {
                index,
                text: text.text().to_string(),
                completion_tokens: tokens,
                finish_reason: finish,
            });
        }
        let completion_tokens = choices.iter().map(|c| c.completion_tokens).sum();
        let prompt_tokens =
            request.messages.iter().map(|m| m.content.split_whitespace().count() as u32).sum();
        Ok(Response { choices, prompt_tokens, cached_tokens: 0, completion_tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{ChatMessage, SamplingParams};

    fn request(params: SamplingParams) -> Request {
        Request::new(vec![ChatMessage::user("What is 2+2?")], params)
    }

    #[test]
    fn replays_in_order_and_records_requests() {
        let b = ScriptedBackend::new(["four", "five"]);
        assert_eq!(b.generate(&request(SamplingParams::default())).unwrap().text(), "four");
        assert_eq!(b.generate(&request(SamplingParams::default())).unwrap().text(), "five");
        assert!(matches!(
            b.generate(&request(SamplingParams::default())),
            Err(LlmError::ScriptExhausted)
        ));
        assert_eq!(b.requests().len(), 3);
        assert_eq!(b.requests()[0].messages[0].content, "What is 2+2?");
    }

    #[test]
    fn applies_stop_strings_and_max_tokens() {
        let b = ScriptedBackend::new(["a b c STOP d", "one two three four"]);
        let stop = SamplingParams { stop: vec!["STOP".into()], ..Default::default() };
        let r = b.generate(&request(stop)).unwrap();
        assert_eq!(r.text(), "a b c ");
        assert_eq!(r.choices[0].finish_reason, FinishReason::Stop);
        let r = b.generate(&request(SamplingParams::greedy(2))).unwrap();
        assert_eq!(r.text(), "one two ");
        assert_eq!(r.choices[0].finish_reason, FinishReason::Length);
    }

    #[test]
    fn streams_deltas_that_add_up_and_can_cancel() {
        let b = ScriptedBackend::new(["x y z", "p q r"]);
        let mut seen = String::new();
        let r = b
            .generate_streaming(&request(SamplingParams::default()), &mut |d| {
                seen.push_str(d.text);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen, r.text());
        let r =
            b.generate_streaming(&request(SamplingParams::default()), &mut |_| {
                ControlFlow::Break(())
            })
            .unwrap();
        assert_eq!(r.choices[0].finish_reason, FinishReason::Cancelled);
    }

    #[test]
    fn n_samples_come_from_the_responder_with_their_index() {
        let b = ScriptedBackend::from_fn(|_, i| Some(format!("sample {i}")));
        let r = b.generate(&request(SamplingParams { n: 3, ..Default::default() })).unwrap();
        let texts: Vec<_> = r.choices.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["sample 0", "sample 1", "sample 2"]);
    }
}
