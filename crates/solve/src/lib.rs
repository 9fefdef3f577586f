//! Solving strategies: how Hypatia turns a math problem into a checked answer.
//!
//! A strategy drives a [`Backend`] (the model) through some procedure — reasoning in text,
//! writing and running code, verifying, voting — and returns an answer together with a
//! typed [`Trace`] of every step. The key design choice is that strategies see only the
//! `Backend` seam and produce data, not text on a terminal: the same strategy runs on the
//! embedded engine, a remote server or a scripted test backend, and its trace feeds the
//! CLI, the benchmark harness, the tutor and training-data generation alike.
//!
//! ```
//! use hypatia_llm::ScriptedBackend;
//! use hypatia_solve::{strategy_by_name, Problem};
//!
//! let backend = ScriptedBackend::new(["3 + 4 = 7, so the answer is \\boxed{7}."]);
//! let cot = strategy_by_name("cot").unwrap();
//! let solution = cot.solve(&backend, &Problem::new("What is 3 + 4?"), &mut |_| {}).unwrap();
//! assert_eq!(solution.answer.as_deref(), Some("7"));
//! ```

use hypatia_llm::{Backend, LlmError};
use serde::{Deserialize, Serialize};

pub mod strategies;

pub use strategies::cot::ChainOfThought;

/// A problem to solve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub text: String,
}

impl Problem {
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }
}

/// One step of a strategy, recorded as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A model call: what was asked and what came back.
    Generation {
        prompt: Vec<hypatia_llm::ChatMessage>,
        completion: String,
        prompt_tokens: u32,
        completion_tokens: u32,
        finish_reason: hypatia_llm::FinishReason,
    },
    /// The answer taken from a completion or a program's output.
    Answer { answer: Option<String>, source: String },
}

/// Everything a strategy did, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub steps: Vec<Step>,
}

/// A strategy's result. `answer` is `None` when no answer could be extracted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    pub answer: Option<String>,
    pub strategy: String,
    pub model: String,
    /// The text to show a reader: the reasoning that led to the answer.
    pub text: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub seconds: f64,
    pub trace: Trace,
}

/// Progress a caller can show while a strategy runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// Model text as it is generated.
    Text(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("unknown strategy `{0}`; known: {1}")]
    UnknownStrategy(String, String),
}

/// A way of solving problems with a model.
pub trait Strategy: Send + Sync {
    fn name(&self) -> &str;

    /// Solves `problem`, reporting progress to `on_event`.
    fn solve(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError>;
}

/// Strategies that exist so far.
pub const STRATEGIES: &[&str] = &["cot"];

/// Builds a strategy from its command-line name.
pub fn strategy_by_name(name: &str) -> Result<Box<dyn Strategy>, SolveError> {
    match name {
        "cot" => Ok(Box::new(ChainOfThought::default())),
        other => Err(SolveError::UnknownStrategy(other.to_string(), STRATEGIES.join(", "))),
    }
}
