//! `vote`: self-consistency over samples of a base strategy.
//!
//! Samples are drawn in rounds, each round one request for several samples (`n > 1`) so
//! that they share the prompt's computation. Answers are grouped by the checker's
//! equivalence, not by spelling: `0.5` and `\frac12` are one vote. After each round the
//! vote stops early once the samples left could not change the winner. The share of drawn
//! samples that agree with the winner is reported as the solution's confidence.

use std::time::Instant;

use hypatia_grade::equivalent;
use hypatia_llm::Backend;

use crate::{
    Event, Problem, Solution, SolveError, Step, Strategy, StrategyOptions, Trace, VoteGroup,
};

/// Self-consistency with early stopping.
pub struct Vote {
    base: Box<dyn Strategy>,
    /// Most samples drawn (K).
    pub samples: u32,
    /// Samples per round.
    pub round_size: u32,
    pub seed: u32,
    /// Whether the winner is completed by the base strategy (e.g. `pot`'s explanation).
    pub finish_winner: bool,
}

impl Vote {
    /// `base` should sample (temperature above 0), or every sample is the same.
    pub fn new(base: Box<dyn Strategy>, opts: &StrategyOptions) -> Self {
        let samples = opts.samples.max(1);
        let round_size = match opts.round_size {
            0 => samples.div_ceil(2),
            r => r.min(samples),
        };
        Self { base, samples, round_size, seed: opts.seed, finish_winner: opts.explain }
    }
}

/// Answer groups in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub groups: Vec<VoteGroup>,
}

impl Tally {
    /// Counts sample `index`'s answer into the group of an equivalent answer, or a new
    /// one. Equivalence is checked both ways because the checker reads its first argument
    /// as a gold answer, which licenses readings of the second.
    pub fn add(&mut self, index: u32, answer: &str) {
        let group = self.groups.iter_mut().find(|g| {
            g.answer == answer || equivalent(&g.answer, answer) || equivalent(answer, &g.answer)
        });
        match group {
            Some(g) => {
                g.votes += 1;
                g.samples.push(index);
            }
            None => self.groups.push(VoteGroup {
                answer: answer.to_string(),
                votes: 1,
                samples: vec![index],
            }),
        }
    }

    /// The leading group; ties go to the answer seen first.
    pub fn leader(&self) -> Option<&VoteGroup> {
        // `max_by_key` keeps the last of equal maxima, so scan in reverse.
        self.groups.iter().rev().max_by_key(|g| g.votes)
    }

    /// Whether `remaining` more votes could not change the leader: it leads the runner-up
    /// by more than that (a tie could go either way, so it must be strictly more).
    pub fn decided(&self, remaining: u32) -> bool {
        let Some(leader) = self.leader() else { return remaining == 0 };
        let runner_up = self
            .groups
            .iter()
            .filter(|g| !std::ptr::eq(*g, leader))
            .map(|g| g.votes)
            .max()
            .unwrap_or(0);
        leader.votes > runner_up + remaining
    }
}

impl Strategy for Vote {
    fn name(&self) -> &str {
        "vote"
    }

    fn solve(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError> {
        let start = Instant::now();
        let mut tally = Tally::default();
        let mut drawn: Vec<Solution> = Vec::new();
        let mut steps = Vec::new();
        while (drawn.len() as u32) < self.samples {
            let done = drawn.len() as u32;
            let k = self.round_size.min(self.samples - done);
            let seed = self.seed.wrapping_add(done);
            // Several samples' text interleaved would be noise; only a lone sample streams.
            let round = if k == 1 {
                self.base.solve_samples(backend, problem, k, seed, on_event)?
            } else {
                self.base.solve_samples(backend, problem, k, seed, &mut |_| {})?
            };
            if round.is_empty() {
                break;
            }
            for (offset, solution) in round.into_iter().enumerate() {
                let index = done + offset as u32;
                if let Some(answer) = &solution.answer {
                    tally.add(index, answer);
                }
                steps.push(Step::Sample {
                    index,
                    answer: solution.answer.clone(),
                    steps: solution.trace.steps.clone(),
                    method: None,
                });
                drawn.push(solution);
            }
            if tally.decided(self.samples.saturating_sub(drawn.len() as u32)) {
                break;
            }
        }
        let n_drawn = drawn.len() as u32;
        let prompt_tokens = drawn.iter().map(|s| s.prompt_tokens).sum();
        let completion_tokens = drawn.iter().map(|s| s.completion_tokens).sum();
        let leader = tally.leader().cloned();
        steps.push(Step::Vote {
            groups: tally.groups.clone(),
            drawn: n_drawn,
            budget: self.samples,
            winner: leader.as_ref().map(|g| g.answer.clone()),
        });
        let mut solution = Solution {
            answer: None,
            strategy: self.name().into(),
            model: backend.model_name().into(),
            text: String::new(),
            prompt_tokens,
            completion_tokens,
            seconds: 0.0,
            trace: Trace::default(),
            confidence: None,
        };
        if let Some(leader) = leader {
            let first = leader.samples[0] as usize;
            let mut representative = drawn.swap_remove(first);
            if self.finish_winner {
                let before = (
                    representative.prompt_tokens,
                    representative.completion_tokens,
                    representative.trace.steps.len(),
                );
                self.base.finish(backend, problem, &mut representative)?;
                solution.prompt_tokens += representative.prompt_tokens.saturating_sub(before.0);
                solution.completion_tokens +=
                    representative.completion_tokens.saturating_sub(before.1);
                // What finishing did (an explanation's generation) belongs to the trace too.
                if let Some(extra) = representative.trace.steps.get(before.2..) {
                    steps.extend(extra.iter().cloned());
                }
            }
            solution.answer = representative.answer.clone();
            solution.text = representative.text;
            solution.confidence = Some(f64::from(leader.votes) / f64::from(n_drawn.max(1)));
        } else {
            solution.text = drawn.first().map(|s| s.text.clone()).unwrap_or_default();
            solution.confidence = Some(0.0);
        }
        steps.push(Step::Answer { answer: solution.answer.clone(), source: "majority".into() });
        solution.trace.steps = steps;
        solution.seconds = start.elapsed().as_secs_f64();
        Ok(solution)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::cot::ChainOfThought;
    use hypatia_llm::{SamplingParams, ScriptedBackend};

    fn vote(samples: u32, round_size: u32) -> Vote {
        let cot = ChainOfThought {
            params: SamplingParams { temperature: 0.7, ..SamplingParams::greedy(256) },
        };
        let opts = StrategyOptions { samples, round_size, seed: 100, ..Default::default() };
        Vote::new(Box::new(cot), &opts)
    }

    #[test]
    fn equivalent_spellings_are_one_group() {
        let mut t = Tally::default();
        t.add(0, "0.5");
        t.add(1, "\\frac12");
        t.add(2, "\\frac{1}{2}");
        t.add(3, "2");
        assert_eq!(t.groups.len(), 2);
        assert_eq!(t.groups[0].votes, 3);
        assert_eq!(t.groups[0].samples, [0, 1, 2]);
        assert_eq!(t.leader().unwrap().answer, "0.5");
    }

    #[test]
    fn ties_go_to_the_answer_seen_first_and_are_never_decided() {
        let mut t = Tally::default();
        t.add(0, "3");
        t.add(1, "4");
        assert_eq!(t.leader().unwrap().answer, "3");
        assert!(!t.decided(0));
        t.add(2, "3");
        assert!(t.decided(0));
        assert!(!t.decided(1));
    }

    #[test]
    fn majority_wins_with_confidence_and_kv_shared_requests() {
        let answers =
            ["\\boxed{0.5}", "\\boxed{\\frac12}", "\\boxed{3}", "\\boxed{\\frac{1}{2}}", "no idea"];
        let backend = ScriptedBackend::from_fn(move |req, i| {
            Some(answers[(req.params.seed - 100 + i) as usize].to_string())
        });
        let s = vote(5, 5).solve(&backend, &Problem::new("half?"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("0.5"));
        assert_eq!(s.confidence, Some(3.0 / 5.0));
        assert_eq!(s.strategy, "vote");
        let requests = backend.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].params.n, 5);
        let Some(Step::Vote { groups, drawn, .. }) =
            s.trace.steps.iter().find(|s| matches!(s, Step::Vote { .. }))
        else {
            panic!("no vote step")
        };
        assert_eq!((groups.len(), *drawn), (2, 5));
        assert!(s.completion_tokens >= 5);
    }

    #[test]
    fn stops_early_once_the_rest_cannot_change_the_winner() {
        // Every sample says 7: after a round of 4 of 7, three more cannot beat four.
        let backend = ScriptedBackend::from_fn(|_, _| Some("\\boxed{7}".into()));
        let s = vote(7, 4).solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("7"));
        let requests = backend.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(s.confidence, Some(1.0));
    }

    #[test]
    fn a_split_vote_draws_further_rounds_with_fresh_seeds() {
        let backend = ScriptedBackend::from_fn(|req, i| {
            let sample = req.params.seed - 100 + i;
            Some(if sample % 2 == 0 { "\\boxed{1}" } else { "\\boxed{2}" }.into())
        });
        let s = vote(5, 2).solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        let seeds: Vec<_> =
            backend.requests().iter().map(|r| (r.params.seed, r.params.n)).collect();
        assert_eq!(seeds, [(100, 2), (102, 2), (104, 1)]);
        assert_eq!(s.answer.as_deref(), Some("1"));
        assert_eq!(s.confidence, Some(3.0 / 5.0));
    }

    #[test]
    fn no_answers_at_all_is_no_answer() {
        let backend = ScriptedBackend::from_fn(|_, _| Some("hmm".into()));
        let s = vote(3, 3).solve(&backend, &Problem::new("p"), &mut |_| {}).unwrap();
        assert_eq!(s.answer, None);
        assert_eq!(s.confidence, Some(0.0));
        assert_eq!(s.text, "hmm");
    }

    #[test]
    fn over_pot_only_the_winner_is_explained() {
        use crate::exec::FnExecutor;
        use std::sync::Arc;
        let backend = ScriptedBackend::from_fn(|req, i| {
            Some(if req.messages[0].content.contains("tutor") {
                "Explained. \\boxed{4}".into()
            } else {
                format!("```python\nprint({})\n```", if i == 1 { 5 } else { 4 })
            })
        });
        let executor =
            FnExecutor::new(|code| FnExecutor::ok(if code.contains('5') { "5\n" } else { "4\n" }));
        let opts = StrategyOptions { samples: 3, round_size: 3, ..Default::default() };
        let vote = crate::build_strategy_with("vote", &opts, Arc::new(executor)).unwrap();
        let s = vote.solve(&backend, &Problem::new("2+2"), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("4"));
        assert_eq!(s.text, "Explained. \\boxed{4}");
        let requests = backend.requests();
        // One shared request for three programs, then one explanation.
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].params.n, 3);
        // Greedy options are turned into sampling, or the votes would all agree.
        assert!(requests[0].params.temperature > 0.0);
        let explanations = s
            .trace
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Generation { prompt, .. } if prompt[0].content.contains("tutor")))
            .count();
        assert_eq!(explanations, 1);
    }
}
