//! `cot`: the model reasons step by step in text and boxes its answer.

use std::time::Instant;

use hypatia_grade::{extract_answer, ExtractOptions};
use hypatia_llm::{Backend, ChatMessage, SamplingParams};

use crate::common::{generate, Ledger};
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

impl ChainOfThought {
    /// `k` samples of one prompt, in one request so that they share its computation.
    fn run(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        params: SamplingParams,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Solution>, SolveError> {
        let start = Instant::now();
        let messages = Self::messages(problem);
        let response = generate(backend, &messages, None, &params, on_event)?;
        let seconds = start.elapsed().as_secs_f64();
        Ok(response
            .choices
            .iter()
            .enumerate()
            .map(|(i, choice)| {
                let mut ledger = Ledger::default();
                ledger.generation(&messages, &response, choice, i == 0);
                let answer = boxed_answer(&choice.text);
                ledger
                    .steps
                    .push(Step::Answer { answer: answer.clone(), source: "completion".into() });
                Solution {
                    answer,
                    strategy: self.name().into(),
                    model: backend.model_name().into(),
                    text: choice.text.clone(),
                    prompt_tokens: ledger.prompt_tokens,
                    completion_tokens: ledger.completion_tokens,
                    seconds,
                    trace: Trace { steps: ledger.steps },
                    confidence: None,
                }
            })
            .collect())
    }
}

/// The answer a text solution announces, without guessing: a truncated reasoning's last
/// number is not an answer.
pub(crate) fn boxed_answer(text: &str) -> Option<String> {
    extract_answer(text, &ExtractOptions { last_number_fallback: false })
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
        let params = SamplingParams { n: 1, ..self.params.clone() };
        crate::only_sample(self.run(backend, problem, params, on_event)?)
    }

    fn solve_samples(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        k: u32,
        seed: u32,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Solution>, SolveError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let params = SamplingParams { n: k, seed, ..self.params.clone() };
        self.run(backend, problem, params, on_event)
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

    #[test]
    fn samples_share_one_request_and_count_the_prompt_once() {
        let backend = ScriptedBackend::from_fn(|_, i| Some(format!("so \\boxed{{{}}}", i + 1)));
        let cot = ChainOfThought::default();
        let s = cot.solve_samples(&backend, &Problem::new("x"), 3, 10, &mut |_| {}).unwrap();
        let answers: Vec<_> = s.iter().map(|s| s.answer.clone().unwrap()).collect();
        assert_eq!(answers, ["1", "2", "3"]);
        let requests = backend.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!((requests[0].params.n, requests[0].params.seed), (3, 10));
        assert!(s[0].prompt_tokens > 0);
        assert_eq!(s[1].prompt_tokens + s[2].prompt_tokens, 0);
    }
}
