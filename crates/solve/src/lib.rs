//! Solving strategies: how Hypatia turns a math problem into a checked answer.
//!
//! A strategy drives a [`Backend`] (the model) through some procedure — reasoning in text,
//! writing and running code, verifying, voting — and returns an answer together with a
//! typed [`Trace`] of every step. The key design choice is that strategies see only the
//! `Backend` seam and produce data, not text on a terminal: the same strategy runs on the
//! embedded engine, a remote server or a scripted test backend, and its trace feeds the
//! CLI, the benchmark harness, the tutor and training-data generation alike.
//!
//! Strategies that run code reach the sandbox through the [`Executor`] seam, for the same
//! reason: unit tests replace it with a function ([`FnExecutor`]), everything else uses
//! [`SandboxExecutor`], which opens the process-wide sandbox only when code first runs.
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

use std::sync::Arc;
use std::time::Duration;

use hypatia_llm::{Backend, LlmError};
use hypatia_sandbox::{Limits, Outcome, SandboxError};
use serde::{Deserialize, Serialize};

mod common;
pub mod confidence;
pub mod exec;
pub mod gates;
pub mod strategies;
pub mod verdict;

pub use common::fill;
pub use exec::{CellRunner, Executor, FnExecutor, SandboxExecutor};
pub use strategies::auto::Auto;
pub use strategies::code_feedback::CodeFeedback;
pub use strategies::cot::ChainOfThought;
pub use strategies::pot::ProgramOfThought;
pub use strategies::solver_verifier::SolverVerifier;
pub use strategies::tools::ToolUse;
pub use strategies::vote::Vote;
pub use verdict::{parse_verdict, Verdict};

/// A problem to solve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub text: String,
    /// Which worked examples and instructions suit it.
    pub style: Style,
}

impl Problem {
    /// A problem whose style is guessed from its text (see [`Style::guess`]).
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let style = Style::guess(&text);
        Self { text, style }
    }

    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

/// The kind of problem, for strategies whose prompts differ by kind.
///
/// Small models imitate their worked examples closely: shown a competition example that
/// solves equations with sympy, the 0.5B model reached for `sympy.solve` on plain
/// arithmetic word problems and crashed. Word problems therefore get word-problem
/// examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// A grade-school word problem with a numeric answer (GSM8K, SVAMP, ASDiv, MAWPS).
    Word,
    /// A competition or textbook problem, often in LaTeX (MATH, AIME, …).
    Competition,
}

impl Style {
    /// Competition when the text carries LaTeX (a backslash command, `^`, `_{`, or `$` that
    /// opens math rather than an amount of dollars), word otherwise.
    ///
    /// ```
    /// use hypatia_solve::Style;
    /// assert_eq!(Style::guess("Weng earns $12 an hour. How much is 50 minutes?"), Style::Word);
    /// assert_eq!(Style::guess(r"Find $x$ if $2^x = 8$."), Style::Competition);
    /// assert_eq!(Style::guess(r"Simplify \frac{6}{8}."), Style::Competition);
    /// assert_eq!(Style::guess("What is $2+3$ plus 4?"), Style::Competition);
    /// assert_eq!(Style::guess("A pen is $3 and a book is $12. How much for both?"), Style::Word);
    /// ```
    pub fn guess(text: &str) -> Style {
        let latex_command = text
            .split('\\')
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic() || "([".contains(c)));
        // Between a pair of dollars: math has no plain words ("$2+3$", "$x$"); prices
        // ("$12 an hour ... $15") do.
        let parts: Vec<&str> = text.split('$').collect();
        let math_dollar = (1..parts.len().saturating_sub(1)).step_by(2).any(|i| {
            let inside = parts[i];
            !inside.trim().is_empty()
                && !inside.contains('\n')
                && !inside
                    .split_whitespace()
                    .any(|word| word.len() >= 3 && word.chars().all(|c| c.is_ascii_alphabetic()))
        });
        if latex_command || math_dollar || text.contains('^') || text.contains("_{") {
            Style::Competition
        } else {
            Style::Word
        }
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
    /// A program taken from a completion and how it ran in the sandbox.
    Execution { code: String, outcome: Outcome },
    /// A verifier's judgement of a solver's answer.
    Verdict { verdict: Verdict, answer: Option<String>, feedback: String },
    /// One sample of a voting strategy, with the base strategy's own steps.
    Sample {
        index: u32,
        answer: Option<String>,
        steps: Vec<Step>,
        /// The method that drew it, where samples of several methods are pooled (`auto`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
    },
    /// How far the final answer can be trusted, and why: `auto`'s evidence bucket
    /// ([`crate::confidence`]) and the doubts the gates raised about the answer.
    Confidence { bucket: String, confidence: f64, doubts: Vec<gates::Doubt>, style: Style },
    /// The tally of a vote after its last round.
    Vote {
        groups: Vec<VoteGroup>,
        /// Samples drawn, including those without an answer.
        drawn: u32,
        /// Samples the vote was allowed to draw.
        budget: u32,
        winner: Option<String>,
    },
    /// The answer taken from a completion or a program's output.
    Answer { answer: Option<String>, source: String },
}

/// Answers that the checker found equivalent, counted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteGroup {
    /// The first answer of the group as it was written; later members may be spelled
    /// differently (`0.5` and `\frac12`).
    pub answer: String,
    pub votes: u32,
    /// Indices of the samples in this group, in draw order.
    pub samples: Vec<u32>,
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
    /// The text to show a reader: the reasoning that led to the answer (for `pot`, the
    /// explanation written from the executed result).
    pub text: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub seconds: f64,
    pub trace: Trace,
    /// How much the strategy trusts its answer, in `[0, 1]`: for `vote`, the share of
    /// drawn samples that gave the winning answer. `None` where a strategy has no measure.
    #[serde(default)]
    pub confidence: Option<f64>,
}

/// Progress a caller can show while a strategy runs.
///
/// One variant for now: callers (the CLI) destructure it irrefutably, so a new variant is a
/// breaking change to coordinate with them.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// Model text as it is generated, and program output as it is inserted.
    Text(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The sandbox itself failed (a program's own failure is an [`Outcome`], not an error).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("unknown strategy `{0}`; known: {1}")]
    UnknownStrategy(String, String),
    #[error("invalid strategy options: {0}")]
    InvalidOptions(String),
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

    /// Draws `k` independent samples, sample `i` seeded with `seed + i`, sharing the
    /// prompt's computation (`n > 1`) where the strategy can. The shared prompt is counted
    /// once, in the first sample's `prompt_tokens`.
    ///
    /// The default calls [`Strategy::solve`] `k` times, which only varies if the strategy
    /// samples on its own.
    fn solve_samples(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        k: u32,
        seed: u32,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Solution>, SolveError> {
        let _ = seed;
        (0..k).map(|_| self.solve(backend, problem, on_event)).collect()
    }

    /// Completes a solution that was drawn without its reader-facing extras (a vote draws
    /// `pot` samples without explanations and asks only the winner for one). The default
    /// does nothing.
    fn finish(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        solution: &mut Solution,
    ) -> Result<(), SolveError> {
        let _ = (backend, problem, solution);
        Ok(())
    }
}

/// The solution of a one-sample draw (a strategy that returned none is an engine fault).
pub(crate) fn only_sample(mut all: Vec<Solution>) -> Result<Solution, SolveError> {
    all.pop().ok_or_else(|| SolveError::Llm(LlmError::Engine("the strategy drew no sample".into())))
}

/// Every strategy, by command-line name.
pub const STRATEGIES: &[&str] =
    &["auto", "cot", "pot", "code-feedback", "tools", "solver-verifier", "vote"];

/// The strategy used where none is named: `auto`, which checks its answer against a
/// second method and reports a calibrated confidence.
pub const DEFAULT_STRATEGY: &str = "auto";

/// Settings shared by the strategy constructors; each strategy reads the fields it needs.
///
/// Invariants (checked by [`StrategyOptions::validate`]): `samples >= 1`,
/// `max_tokens >= 1`, `temperature` finite and `>= 0`, `0 < top_p <= 1`, a non-zero
/// `timeout` of at most an hour.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyOptions {
    /// `vote`: how many samples it may draw (K).
    pub samples: u32,
    /// `vote`: the strategy voted over; `solver-verifier`: the solver (`cot` or `pot`).
    pub base: String,
    /// Token budget of each model call.
    pub max_tokens: u32,
    /// Sampling temperature; 0 is greedy. `vote` samples at 0.7 when this is 0, because
    /// greedy samples would all agree.
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u32,
    /// `pot`: how many times a failed program is sent back with its error.
    pub max_retries: u32,
    /// `tools`: most programs run per solution.
    pub max_tool_calls: u32,
    /// `solver-verifier`: most solver attempts.
    pub max_rounds: u32,
    /// `vote`: samples drawn per round; 0 picks about half of `samples`, so a clear
    /// majority stops after the first round.
    pub round_size: u32,
    /// `pot`: write a student-facing explanation of the executed result.
    pub explain: bool,
    /// Wall-clock limit of each program.
    pub timeout: Duration,
}

impl Default for StrategyOptions {
    fn default() -> Self {
        Self {
            samples: 5,
            base: "pot".into(),
            max_tokens: 1024,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            max_retries: 2,
            max_tool_calls: 4,
            max_rounds: 3,
            round_size: 0,
            explain: true,
            timeout: Duration::from_secs(10),
        }
    }
}

impl StrategyOptions {
    /// Checks the invariants listed on the type.
    pub fn validate(&self) -> Result<(), SolveError> {
        let bad = |why: &str| Err(SolveError::InvalidOptions(why.to_string()));
        if self.samples == 0 {
            return bad("samples must be at least 1");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1");
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature must be a finite number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(3600) {
            return bad("timeout must be above zero and at most one hour");
        }
        Ok(())
    }

    /// Sampling parameters for one model call.
    pub fn params(&self) -> hypatia_llm::SamplingParams {
        hypatia_llm::SamplingParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            ..Default::default()
        }
    }

    /// The sandbox limits of each program.
    pub fn limits(&self) -> Limits {
        Limits::default().with_timeout(self.timeout)
    }
}

/// Builds a strategy from its command-line name, running code in the process-wide
/// sandbox (opened on first use, so strategies that never run code never open it).
pub fn build_strategy(name: &str, opts: &StrategyOptions) -> Result<Box<dyn Strategy>, SolveError> {
    build_strategy_with(name, opts, Arc::new(SandboxExecutor::global(opts.limits())))
}

/// [`build_strategy`] with the code runner chosen by the caller.
pub fn build_strategy_with(
    name: &str,
    opts: &StrategyOptions,
    executor: Arc<dyn Executor>,
) -> Result<Box<dyn Strategy>, SolveError> {
    opts.validate()?;
    let strategy: Box<dyn Strategy> = match name {
        "auto" => Box::new(Auto::new(opts, executor)),
        "cot" => Box::new(ChainOfThought { params: opts.params() }),
        "pot" => Box::new(ProgramOfThought::new(opts, executor)),
        "code-feedback" => Box::new(CodeFeedback::new(opts, executor)),
        "tools" => Box::new(ToolUse::new(opts, executor)),
        "solver-verifier" => {
            if !matches!(opts.base.as_str(), "cot" | "pot") {
                return Err(SolveError::InvalidOptions(format!(
                    "solver-verifier's solver must be cot or pot, not `{}`",
                    opts.base
                )));
            }
            let solver = build_strategy_with(&opts.base, opts, executor)?;
            Box::new(SolverVerifier::new(solver, opts))
        }
        "vote" => {
            if opts.base == "vote" {
                return Err(SolveError::InvalidOptions("vote cannot vote over itself".into()));
            }
            let temperature = if opts.temperature == 0.0 { 0.7 } else { opts.temperature };
            // Losing samples need no explanation; the vote asks the winner for one.
            let base_opts = StrategyOptions { temperature, explain: false, ..opts.clone() };
            let base = build_strategy_with(&opts.base, &base_opts, executor)?;
            Box::new(Vote::new(base, opts))
        }
        other => return Err(SolveError::UnknownStrategy(other.to_string(), STRATEGIES.join(", "))),
    };
    Ok(strategy)
}

/// Builds a strategy with [`StrategyOptions::default`].
pub fn strategy_by_name(name: &str) -> Result<Box<dyn Strategy>, SolveError> {
    build_strategy(name, &StrategyOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_strategy_builds_and_reports_its_name() {
        for name in STRATEGIES {
            let s = strategy_by_name(name).unwrap();
            assert_eq!(s.name(), *name);
        }
        assert!(matches!(strategy_by_name("magic"), Err(SolveError::UnknownStrategy(..))));
    }

    #[test]
    fn bad_options_are_refused() {
        let o = StrategyOptions { samples: 0, ..Default::default() };
        assert!(matches!(build_strategy("vote", &o), Err(SolveError::InvalidOptions(_))));
        let o = StrategyOptions { base: "vote".into(), ..Default::default() };
        assert!(matches!(build_strategy("vote", &o), Err(SolveError::InvalidOptions(_))));
        let o = StrategyOptions { base: "tools".into(), ..Default::default() };
        assert!(build_strategy("solver-verifier", &o).is_err());
        assert!(build_strategy("vote", &o).is_ok());
        let o = StrategyOptions { top_p: 0.0, ..Default::default() };
        assert!(build_strategy("cot", &o).is_err());
    }

    #[test]
    fn strategies_are_send_and_sync() {
        fn check<T: Send + Sync + ?Sized>(_: &T) {}
        let s = strategy_by_name("vote").unwrap();
        check(&*s);
    }

    #[test]
    fn solutions_without_confidence_still_deserialize() {
        let json = r#"{"answer":"7","strategy":"cot","model":"m","text":"t","prompt_tokens":1,
            "completion_tokens":2,"seconds":0.5,"trace":{"steps":[]}}"#;
        let s: Solution = serde_json::from_str(json).unwrap();
        assert_eq!(s.confidence, None);
        assert_eq!(s.answer.as_deref(), Some("7"));
    }
}
