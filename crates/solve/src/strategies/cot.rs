//! `cot`: the model reasons step by step in text and boxes its answer.

use std::ops::ControlFlow;
use std::time::Instant;

use hypatia_grade::{extract_answer, ExtractOptions};
use hypatia_llm::{Backend, ChatMessage, Request, SamplingParams};

use crate::{Event, Problem, Solution, SolveError, Step, Strategy, Trace};

const SYSTEM: &str = include_str!("../../prompts/cot_system.txt");
const USER: &str = include_str!("../../prompts/cot_user.txt");

/// Chain of thought with the answer in `\boxed{}`.
#[derive(Debug, Clone)]
pub struct ChainOfThought {
    pub params: SamplingParams,
}

impl Default for ChainOfThought {
    fn default() -> Self {
        Self { params: SamplingParams::greedy(1024) }
    }
}

impl ChainOfThought {
    /// The chat the model sees for `problem`.
    pub fn messages(problem: &Problem) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system(SYSTEM.trim()),
            ChatMessage::user(USER.trim().replace("{problem}", problem.text.trim())),
        ]
    }
}

impl Strategy for ChainOfThought {
    fn name(&self) -> &str {
        "cot"
    }

    fn solve(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError> {
        let start = Instant::now();
        let messages = Self::messages(problem);
        let request = Request::new(messages.clone(), self.params.clone());
        let response = backend.generate_streaming(&request, &mut |delta| {
            on_event(Event::Text(delta.text));
            ControlFlow::Continue(())
        })?;
        let choice = &response.choices[0];
        // A truncated reasoning's last number is a guess, not an answer.
        #[allow(clippy::needless_update)] // the options may grow; only this one matters here
        let options = ExtractOptions { last_number_fallback: false, ..ExtractOptions::default() };
        let answer = extract_answer(&choice.text, &options);
        let trace = Trace {
            steps: vec![
                Step::Generation {
                    prompt: messages,
                    completion: choice.text.clone(),
                    prompt_tokens: response.prompt_tokens,
                    completion_tokens: choice.completion_tokens,
                    finish_reason: choice.finish_reason,
                },
                Step::Answer { answer: answer.clone(), source: "completion".into() },
            ],
        };
        Ok(Solution {
            answer,
            strategy: self.name().into(),
            model: backend.model_name().into(),
            text: choice.text.clone(),
            prompt_tokens: response.prompt_tokens,
            completion_tokens: response.completion_tokens,
            seconds: start.elapsed().as_secs_f64(),
            trace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypatia_llm::ScriptedBackend;

    #[test]
    fn streams_text_and_extracts_the_boxed_answer() {
        let backend = ScriptedBackend::new([
            "2 pens cost 6. A notebook costs 12, so 3 cost 36. Total \\boxed{42}.",
        ]);
        let mut streamed = String::new();
        let s = ChainOfThought::default()
            .solve(&backend, &Problem::new("pens"), &mut |Event::Text(t)| streamed.push_str(t))
            .unwrap();
        assert_eq!(s.answer.as_deref(), Some("42"));
        assert_eq!(streamed, s.text);
        assert_eq!(s.trace.steps.len(), 2);
        let prompt = &backend.requests()[0].messages;
        assert!(prompt[1].content.starts_with("pens"));
        assert!(prompt[1].content.contains("\\boxed{}"));
    }

    #[test]
    fn no_box_means_no_answer_rather_than_a_guess() {
        let backend = ScriptedBackend::new(["First, 3 times 4 is 12 and then"]);
        let s = ChainOfThought::default().solve(&backend, &Problem::new("x"), &mut |_| {}).unwrap();
        assert_eq!(s.answer, None);
    }
}
