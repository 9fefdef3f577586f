//! `solver-verifier`: a solver answers, a verifier judges, and they go on until they agree.
//!
//! Each round the solver (`cot` or `pot`) solves the problem; the verifier reads the
//! solution and answers CORRECT, INCORRECT or UNCLEAR with feedback. A CORRECT verdict
//! ends it. After INCORRECT the solver tries again with the rejected answer and the
//! feedback in front of it. The rounds are bounded; without agreement the last answer
//! that was not judged INCORRECT is kept, else the last answer.

use std::time::Instant;

use hypatia_llm::{Backend, ChatMessage, SamplingParams};

use crate::common::{fill, generate, Ledger};
use crate::verdict::{parse_verdict, Verdict};
use crate::{Event, Problem, Solution, SolveError, Step, Strategy, StrategyOptions, Trace};

const SYSTEM: &str = include_str!("../../prompts/verifier_system.txt");
const USER: &str = include_str!("../../prompts/verifier_user.txt");
const RETRY: &str = include_str!("../../prompts/solver_retry.txt");

/// Longest solution text shown to the verifier.
const MAX_SOLUTION_SHOWN: usize = 6000;

/// A solver checked by a verifier, for a bounded number of rounds.
pub struct SolverVerifier {
    solver: Box<dyn Strategy>,
    /// Sampling of the verifier's calls.
    pub params: SamplingParams,
    /// Most solver attempts; at least one is always made.
    pub max_rounds: u32,
}

impl SolverVerifier {
    pub fn new(solver: Box<dyn Strategy>, opts: &StrategyOptions) -> Self {
        Self { solver, params: opts.params(), max_rounds: opts.max_rounds.max(1) }
    }

    /// The chat that asks the verifier to judge `solution`.
    pub fn verifier_messages(problem: &Problem, solution: &Solution) -> Vec<ChatMessage> {
        let answer = solution.answer.as_deref().unwrap_or("(none given)");
        let text = crate::common::clip_middle(solution.text.trim(), MAX_SOLUTION_SHOWN);
        vec![
            ChatMessage::system(SYSTEM.trim()),
            ChatMessage::user(fill(
                USER,
                &[("problem", problem.text.trim()), ("solution", &text), ("answer", answer)],
            )),
        ]
    }
}

impl Strategy for SolverVerifier {
    fn name(&self) -> &str {
        "solver-verifier"
    }

    fn solve(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError> {
        let start = Instant::now();
        let first = self.solver.solve(backend, problem, on_event)?;
        self.rounds(backend, problem, first, start, on_event)
    }

    /// The first rounds' solver samples share one request; each sample is then verified,
    /// and retried, on its own.
    fn solve_samples(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        k: u32,
        seed: u32,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<Solution>, SolveError> {
        let start = Instant::now();
        let firsts = self.solver.solve_samples(backend, problem, k, seed, &mut |_| {})?;
        let mut quiet = |_: Event<'_>| {};
        let on_event: &mut dyn FnMut(Event<'_>) = if k == 1 { on_event } else { &mut quiet };
        firsts
            .into_iter()
            .map(|first| self.rounds(backend, problem, first, start, on_event))
            .collect()
    }
}

impl SolverVerifier {
    /// Verifies `first`, the solver's first attempt, and goes on with further attempts
    /// until solver and verifier agree or the rounds run out.
    fn rounds(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        first: Solution,
        start: Instant,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError> {
        let mut ledger = Ledger::default();
        // (solution, verdict) of every round.
        let mut rounds: Vec<(Solution, Verdict)> = Vec::new();
        let mut asked = problem.clone();
        let mut next = Some(first);
        for round in 0..self.max_rounds {
            let solution = match next.take() {
                Some(first) => first,
                None => {
                    on_event(Event::Text("\n\n"));
                    self.solver.solve(backend, &asked, on_event)?
                }
            };
            ledger.prompt_tokens += solution.prompt_tokens;
            ledger.completion_tokens += solution.completion_tokens;
            ledger.steps.push(Step::Sample {
                index: round,
                answer: solution.answer.clone(),
                steps: solution.trace.steps.clone(),
                method: None,
            });
            let (verdict, feedback) = match &solution.answer {
                // Nothing to verify; a verifier call would be wasted.
                None => (Verdict::Incorrect, "The attempt gave no final answer.".to_string()),
                Some(_) => {
                    let messages = Self::verifier_messages(problem, &solution);
                    let params = SamplingParams { n: 1, ..self.params.clone() };
                    let response = generate(backend, &messages, None, &params, &mut |_| {})?;
                    parse_verdict(&ledger.single(&messages, &response))
                }
            };
            ledger.steps.push(Step::Verdict {
                verdict,
                answer: solution.answer.clone(),
                feedback: feedback.clone(),
            });
            let rejected = solution.answer.clone().unwrap_or_else(|| "nothing".into());
            rounds.push((solution, verdict));
            if verdict == Verdict::Correct {
                break;
            }
            let feedback = if feedback.is_empty() { "no reason was given." } else { &feedback };
            asked = Problem::new(fill(
                RETRY,
                &[("problem", problem.text.trim()), ("answer", &rejected), ("feedback", feedback)],
            ));
        }
        let chosen = rounds
            .iter()
            .rposition(|(s, v)| *v != Verdict::Incorrect && s.answer.is_some())
            .unwrap_or(rounds.len() - 1);
        let (best, verdict) = rounds.swap_remove(chosen);
        let source = match verdict {
            Verdict::Correct => "verified",
            Verdict::Unclear => "unclear verdict",
            Verdict::Incorrect => "unverified, last round",
        };
        ledger.steps.push(Step::Answer { answer: best.answer.clone(), source: source.into() });
        Ok(Solution {
            answer: best.answer,
            strategy: self.name().into(),
            model: backend.model_name().into(),
            text: best.text,
            prompt_tokens: ledger.prompt_tokens,
            completion_tokens: ledger.completion_tokens,
            seconds: start.elapsed().as_secs_f64(),
            trace: Trace { steps: ledger.steps },
            confidence: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::cot::ChainOfThought;
    use hypatia_llm::ScriptedBackend;

    fn strategy(max_rounds: u32) -> SolverVerifier {
        let opts = StrategyOptions { max_rounds, ..Default::default() };
        SolverVerifier::new(Box::new(ChainOfThought::default()), &opts)
    }

    #[test]
    fn a_correct_verdict_ends_the_first_round() {
        let backend = ScriptedBackend::new([
            "6 \\boxed{6}",
            "All checks out.\nVerdict: CORRECT\nFeedback: none",
        ]);
        let s = strategy(3).solve(&backend, &Problem::new("2*3?"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("6"));
        assert_eq!(backend.requests().len(), 2);
        let verifier = &backend.requests()[1].messages[1].content;
        assert!(verifier.contains("2*3?") && verifier.contains("Proposed final answer: 6"));
        assert!(s
            .trace
            .steps
            .iter()
            .any(|s| matches!(s, Step::Verdict { verdict: Verdict::Correct, .. })));
    }

    #[test]
    fn feedback_reaches_the_next_round_until_they_agree() {
        let backend = ScriptedBackend::new([
            "5 \\boxed{5}",
            "**Verdict:** Incorrect\n**Feedback:** 2*3 is 6, not 5.",
            "6 \\boxed{6}",
            "Verdict: correct",
        ]);
        let s = strategy(3).solve(&backend, &Problem::new("2*3?"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("6"));
        let retry = &backend.requests()[2].messages[1].content;
        assert!(retry.starts_with("2*3?"));
        assert!(retry.contains("answered 5") && retry.contains("2*3 is 6, not 5."), "{retry}");
        assert_eq!(backend.requests().len(), 4);
    }

    #[test]
    fn rounds_are_bounded_and_an_unclear_answer_beats_a_rejected_one() {
        let backend = ScriptedBackend::new([
            "\\boxed{7}",
            "Hmm, I cannot tell. Verdict: UNCLEAR",
            "\\boxed{8}",
            "Verdict: INCORRECT",
        ]);
        let s = strategy(2).solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert_eq!(backend.requests().len(), 4);
        assert_eq!(s.answer.as_deref(), Some("7"));
        assert_eq!(
            s.trace.steps.last(),
            Some(&Step::Answer { answer: Some("7".into()), source: "unclear verdict".into() })
        );
    }

    #[test]
    fn no_answer_skips_the_verifier() {
        let backend = ScriptedBackend::new(["I give up", "\\boxed{3}", "Verdict: CORRECT"]);
        let s = strategy(3).solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("3"));
        // Solver, solver again, then one verifier call.
        assert_eq!(backend.requests().len(), 3);
        assert!(backend.requests()[1].messages[1].content.contains("answered nothing"));
    }

    #[test]
    fn samples_share_the_first_solver_request_and_are_verified_one_by_one() {
        let backend = ScriptedBackend::from_fn(|req, i| {
            Some(if req.messages[0].content.contains("checks solutions") {
                // The verifier rejects 5 and accepts anything else.
                if req.messages[1].content.contains("answer: 5") {
                    "Verdict: INCORRECT\nFeedback: recount.".into()
                } else {
                    "Verdict: CORRECT".into()
                }
            } else if req.params.n == 2 {
                format!("\\boxed{{{}}}", [5, 6][i as usize])
            } else {
                "\\boxed{6}".into()
            })
        });
        let s = strategy(2).solve_samples(&backend, &Problem::new("p"), 2, 3, &mut |_| {}).unwrap();
        let answers: Vec<_> = s.iter().map(|s| s.answer.clone().unwrap()).collect();
        assert_eq!(answers, ["6", "6"]);
        let requests = backend.requests();
        assert_eq!((requests[0].params.n, requests[0].params.seed), (2, 3));
        // Shared solver call, verify 5, retry, verify 6, verify the second sample's 6.
        assert_eq!(requests.len(), 5);
    }
}
