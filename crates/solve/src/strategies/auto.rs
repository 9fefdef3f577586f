//! `auto`: spend tokens where the answer is in doubt, and say how sure it is.
//!
//! One greedy sample of a small model is a coin with a bias: a program (`pot`) is cheap
//! and right about half the time on grade-school problems, a chain of thought (`cot`)
//! costs three times the tokens and is right more often, and where the two agree they are
//! right far more often than either alone. So `auto` asks both, greedily, and stops when
//! they agree and no plausibility gate ([`crate::gates`]) doubts the answer. Otherwise it
//! draws more samples from both methods (at temperature 0.7), within a fixed budget, and
//! takes a vote in which answers are grouped by the checker and weighted by what each
//! method is worth; a doubted answer counts for little. The answer's confidence is the
//! measured accuracy of its kind of evidence ([`crate::confidence`]), not a vote share.

use std::sync::Arc;
use std::time::Instant;

use hypatia_grade::equivalent;
use hypatia_llm::Backend;

use crate::confidence::{Bucket, Calibration};
use crate::exec::Executor;
use crate::gates::{self, Doubt};
use crate::strategies::cot::ChainOfThought;
use crate::strategies::pot::{self, ProgramOfThought};
use crate::{
    Event, Problem, Solution, SolveError, Step, Strategy, StrategyOptions, Trace, VoteGroup,
};

/// Temperature of the extra samples drawn when the greedy answers disagree.
const SAMPLE_TEMPERATURE: f32 = 0.7;
/// Extra samples at most, after the two greedy ones.
const MAX_EXTRA: u32 = 4;
/// What one vote is worth, by method: the chain of thought is the more accurate method on
/// the development data, and greedy answers beat samples at temperature 0.7.
const WEIGHT_POT: f64 = 1.0;
const WEIGHT_COT: f64 = 1.25;
const WEIGHT_SAMPLE: f64 = 0.75;
/// A doubted answer's vote counts this much of a clean one.
const DOUBT_FACTOR: f64 = 0.25;

/// The adaptive solver.
pub struct Auto {
    pot: ProgramOfThought,
    cot: ChainOfThought,
    pot_sampler: ProgramOfThought,
    cot_sampler: ChainOfThought,
    /// Extra samples at most when the greedy answers disagree or are doubted.
    pub max_extra: u32,
    /// Whether the answer gets a student-facing explanation (from a program that gave it).
    pub explain: bool,
    pub seed: u32,
}

impl Auto {
    pub fn new(opts: &StrategyOptions, executor: Arc<dyn Executor>) -> Self {
        let greedy = StrategyOptions { temperature: 0.0, explain: false, ..opts.clone() };
        let sampling =
            StrategyOptions { temperature: SAMPLE_TEMPERATURE, explain: false, ..opts.clone() };
        Self {
            pot: ProgramOfThought::new(&greedy, executor.clone()),
            cot: ChainOfThought { params: greedy.params() },
            pot_sampler: ProgramOfThought::new(&sampling, executor),
            cot_sampler: ChainOfThought { params: sampling.params() },
            max_extra: MAX_EXTRA,
            explain: opts.explain,
            seed: opts.seed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Pot,
    Cot,
}

/// One answer drawn, with what is known about it.
struct Candidate {
    method: Method,
    greedy: bool,
    solution: Solution,
    doubts: Vec<Doubt>,
}

impl Candidate {
    fn weight(&self) -> f64 {
        let base = match (self.method, self.greedy) {
            (_, false) => WEIGHT_SAMPLE,
            (Method::Pot, true) => WEIGHT_POT,
            (Method::Cot, true) => WEIGHT_COT,
        };
        if self.doubts.is_empty() {
            base
        } else {
            base * DOUBT_FACTOR
        }
    }

    fn label(&self) -> String {
        let method = match self.method {
            Method::Pot => "pot",
            Method::Cot => "cot",
        };
        if self.greedy {
            method.to_string()
        } else {
            format!("{method}@{SAMPLE_TEMPERATURE}")
        }
    }
}

/// Answers grouped by the checker (both ways round: the checker reads its first argument
/// as a gold answer), with their weighted scores.
struct Group {
    answer: String,
    members: Vec<usize>,
    score: f64,
}

fn same(a: &str, b: &str) -> bool {
    a == b || equivalent(a, b) || equivalent(b, a)
}

fn group(candidates: &[Candidate]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let Some(answer) = &c.solution.answer else { continue };
        match groups.iter_mut().find(|g| same(&g.answer, answer)) {
            Some(g) => {
                g.members.push(i);
                g.score += c.weight();
            }
            None => {
                groups.push(Group { answer: answer.clone(), members: vec![i], score: c.weight() })
            }
        }
    }
    groups
}

/// The group with the highest score; ties go to the group seen first.
fn leader(groups: &[Group]) -> Option<&Group> {
    groups.iter().rev().max_by(|a, b| a.score.total_cmp(&b.score))
}

impl Auto {
    fn draw(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        method: Method,
        greedy: bool,
        seed: u32,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Candidate, SolveError> {
        // Where the stream of text goes next, for a reader watching it.
        let stage = match (method, greedy) {
            (Method::Pot, true) => "[auto: a program]\n",
            (Method::Cot, true) => {
                "\n\n[auto: checking with a second method, step-by-step reasoning]\n"
            }
            (Method::Pot, false) => {
                "\n\n[auto: the answers differ or look doubtful; another program]\n"
            }
            (Method::Cot, false) => "\n\n[auto: another line of reasoning]\n",
        };
        on_event(Event::Text(stage));
        let mut solution = match (method, greedy) {
            (Method::Pot, true) => self.pot.solve(backend, problem, on_event)?,
            (Method::Cot, true) => self.cot.solve(backend, problem, on_event)?,
            (Method::Pot, false) => crate::only_sample(
                self.pot_sampler.solve_samples(backend, problem, 1, seed, on_event)?,
            )?,
            (Method::Cot, false) => crate::only_sample(
                self.cot_sampler.solve_samples(backend, problem, 1, seed, on_event)?,
            )?,
        };
        // A float artifact stands for a short decimal (`0.01999999999998181` is 0.02,
        // `72.0` is 72): the answer shown is the number meant.
        if let Some(repaired) = solution.answer.as_deref().and_then(gates::repair_float) {
            solution.trace.steps.push(Step::Answer {
                answer: Some(repaired.clone()),
                source: "float artifact read as the decimal it stands for".into(),
            });
            solution.answer = Some(repaired);
        }
        let doubts = match &solution.answer {
            Some(a) => gates::doubts(
                problem,
                a,
                &solution.trace.steps,
                &pot::example_problems(problem.style),
            ),
            None => Vec::new(),
        };
        Ok(Candidate { method, greedy, solution, doubts })
    }

    /// Whether the vote is settled: the leader has three votes or more from both methods,
    /// no doubt, and two votes more than any other answer.
    fn settled(&self, candidates: &[Candidate], groups: &[Group]) -> bool {
        let Some(lead) = leader(groups) else { return false };
        let both = {
            let methods: Vec<Method> = lead.members.iter().map(|&i| candidates[i].method).collect();
            methods.contains(&Method::Pot) && methods.contains(&Method::Cot)
        };
        let clean = lead.members.iter().all(|&i| candidates[i].doubts.is_empty());
        let runner_up = groups
            .iter()
            .filter(|g| !std::ptr::eq(*g, lead))
            .map(|g| g.members.len())
            .max()
            .unwrap_or(0);
        lead.members.len() >= 3 && both && clean && lead.members.len() >= runner_up + 2
    }
}

impl Strategy for Auto {
    fn name(&self) -> &str {
        "auto"
    }

    fn solve(
        &self,
        backend: &dyn Backend,
        problem: &Problem,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Solution, SolveError> {
        let start = Instant::now();
        let mut candidates = vec![
            self.draw(backend, problem, Method::Pot, true, self.seed, on_event)?,
            self.draw(backend, problem, Method::Cot, true, self.seed, on_event)?,
        ];
        let agree = match (&candidates[0].solution.answer, &candidates[1].solution.answer) {
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        };
        let early = agree && candidates.iter().all(|c| c.doubts.is_empty());
        if !early {
            for k in 0..self.max_extra {
                let method = if k % 2 == 0 { Method::Pot } else { Method::Cot };
                let seed = self.seed.wrapping_add(1 + k);
                candidates.push(self.draw(backend, problem, method, false, seed, on_event)?);
                if self.settled(&candidates, &group(&candidates)) {
                    break;
                }
            }
        }
        let groups = group(&candidates);
        let lead = leader(&groups);
        let answered = candidates.iter().filter(|c| c.solution.answer.is_some()).count();
        let mut winner_doubts: Vec<Doubt> = lead
            .map(|g| {
                // An answer is doubted when every drawing of it is.
                let mut all = g.members.iter().map(|&i| &candidates[i].doubts);
                let first = all.next().cloned().unwrap_or_default();
                if all.all(|d| !d.is_empty()) {
                    first
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default();
        let bucket = match lead {
            None => Bucket::None,
            Some(_) if early => Bucket::Agree,
            Some(_) if !winner_doubts.is_empty() => Bucket::Doubtful,
            Some(g) => {
                let methods: Vec<Method> =
                    g.members.iter().map(|&i| candidates[i].method).collect();
                let both = methods.contains(&Method::Pot) && methods.contains(&Method::Cot);
                let share = g.members.len() as f64 / answered.max(1) as f64;
                if g.members.len() >= 3 && both && share >= 0.75 {
                    Bucket::Strong
                } else if share > 0.5 {
                    Bucket::Majority
                } else {
                    Bucket::Split
                }
            }
        };
        let mut steps: Vec<Step> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| Step::Sample {
                index: i as u32,
                answer: c.solution.answer.clone(),
                steps: c.solution.trace.steps.clone(),
                method: Some(c.label()),
            })
            .collect();
        steps.push(Step::Vote {
            groups: groups
                .iter()
                .map(|g| VoteGroup {
                    answer: g.answer.clone(),
                    votes: g.members.len() as u32,
                    samples: g.members.iter().map(|&i| i as u32).collect(),
                })
                .collect(),
            drawn: candidates.len() as u32,
            budget: 2 + self.max_extra,
            winner: lead.map(|g| g.answer.clone()),
        });
        let mut prompt_tokens: u32 = candidates.iter().map(|c| c.solution.prompt_tokens).sum();
        let mut completion_tokens: u32 =
            candidates.iter().map(|c| c.solution.completion_tokens).sum();
        // The reader sees an explanation of a program that gave the answer, else the
        // reasoning of a chain of thought that did.
        let mut text = String::new();
        let mut answer = None;
        if let Some(g) = lead {
            answer = Some(candidates[g.members[0]].solution.answer.clone().unwrap_or_default());
            let program = g.members.iter().find(|&&i| candidates[i].method == Method::Pot);
            let reasoning = g.members.iter().find(|&&i| candidates[i].method == Method::Cot);
            if let (true, Some(&i)) = (self.explain, program) {
                let mut explained = candidates[i].solution.clone();
                let before = (
                    explained.prompt_tokens,
                    explained.completion_tokens,
                    explained.trace.steps.len(),
                );
                self.pot.finish(backend, problem, &mut explained)?;
                prompt_tokens += explained.prompt_tokens - before.0;
                completion_tokens += explained.completion_tokens - before.1;
                steps.extend(explained.trace.steps[before.2..].iter().cloned());
                text = explained.text;
                // An explanation that boxes another answer than the program's is a sign
                // the program computed something other than what was asked.
                let boxed = hypatia_grade::last_boxed(&text);
                if boxed.is_some_and(|b| !same(&b, answer.as_deref().unwrap_or(""))) {
                    winner_doubts.push(Doubt::ExplanationDisagrees);
                }
            }
            if text.is_empty() {
                let i = reasoning.or(program).copied().unwrap_or(g.members[0]);
                text = candidates[i].solution.text.clone();
            }
        } else if let Some(c) = candidates.iter().find(|c| c.method == Method::Cot) {
            text = c.solution.text.clone();
        }
        let bucket = if !winner_doubts.is_empty() && bucket != Bucket::None {
            Bucket::Doubtful
        } else {
            bucket
        };
        let confidence =
            Calibration::builtin().confidence(backend.model_name(), problem.style, bucket);
        steps.push(Step::Confidence {
            bucket: bucket.as_str().into(),
            confidence,
            doubts: winner_doubts,
            style: problem.style,
        });
        steps.push(Step::Answer { answer: answer.clone(), source: "auto".into() });
        Ok(Solution {
            answer,
            strategy: self.name().into(),
            model: backend.model_name().into(),
            text,
            prompt_tokens,
            completion_tokens,
            seconds: start.elapsed().as_secs_f64(),
            trace: Trace { steps },
            confidence: Some(confidence),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::FnExecutor;
    use hypatia_llm::ScriptedBackend;

    /// A backend whose programs print `program` and whose chains of thought box `cot`
    /// (samples at temperature > 0 answer `sample_program` / `sample_cot`).
    fn backend(
        program: &'static str,
        cot: &'static str,
        samples: [&'static str; 2],
    ) -> ScriptedBackend {
        ScriptedBackend::from_fn(move |req, _| {
            let system = &req.messages[0].content;
            let sampled = req.params.temperature > 0.0;
            Some(if system.contains("Python") {
                let v = if sampled { samples[0] } else { program };
                format!("Plan.\n```python\nprint({v})\n```")
            } else if system.contains("tutor") {
                "Explained for a student.".into()
            } else {
                let v = if sampled { samples[1] } else { cot };
                format!("Reasoning. \\boxed{{{v}}}")
            })
        })
    }

    fn auto() -> Auto {
        let executor = FnExecutor::new(|code| {
            let inner = code.trim().trim_start_matches("print(").trim_end_matches(')');
            FnExecutor::ok(&format!("{inner}\n"))
        });
        Auto::new(&StrategyOptions::default(), Arc::new(executor))
    }

    const APPLES: &str = "Tom has 3 bags of 4 apples. How many apples does he have?";

    #[test]
    fn agreement_of_program_and_reasoning_stops_at_once() {
        let b = backend("12", "12", ["0", "0"]);
        let s = auto().solve(&b, &Problem::new(APPLES), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("12"));
        assert_eq!(s.strategy, "auto");
        // Program, chain of thought, explanation: nothing more.
        assert_eq!(b.requests().len(), 3);
        assert_eq!(s.text, "Explained for a student.");
        let Some(Step::Confidence { bucket, .. }) =
            s.trace.steps.iter().find(|s| matches!(s, Step::Confidence { .. }))
        else {
            panic!("no confidence step");
        };
        assert_eq!(bucket, "agree");
        assert!(s.confidence.unwrap() > 0.5);
    }

    #[test]
    fn disagreement_draws_samples_and_the_majority_wins() {
        // Greedy program 11, greedy reasoning 12; every sample says 12.
        let b = backend("11", "12", ["12", "12"]);
        let s = auto().solve(&b, &Problem::new(APPLES), &mut |_| {}).unwrap();
        assert_eq!(s.answer.as_deref(), Some("12"));
        let Some(Step::Vote { drawn, groups, .. }) =
            s.trace.steps.iter().find(|s| matches!(s, Step::Vote { .. }))
        else {
            panic!("no vote")
        };
        // 11 | 12 12 12 settles after two extra samples (three votes, both methods).
        assert_eq!(*drawn, 4);
        assert_eq!(groups.len(), 2);
        let conf = s.confidence.unwrap();
        assert!(
            conf < Calibration::builtin().confidence("scripted", crate::Style::Word, Bucket::Agree)
                + 1e-9
        );
    }

    #[test]
    fn a_doubted_agreement_is_not_trusted_at_once() {
        // Both greedy answers say 12.5 apples: a count that is not whole.
        let b = backend("12.5", "12.5", ["12", "12"]);
        let s = auto().solve(&b, &Problem::new(APPLES), &mut |_| {}).unwrap();
        let drawn = s.trace.steps.iter().filter(|s| matches!(s, Step::Sample { .. })).count();
        assert!(drawn > 2, "a doubted agreement draws more samples");
        // Two clean 12s outweigh two doubted 12.5s.
        assert_eq!(s.answer.as_deref(), Some("12"));
    }

    #[test]
    fn float_artifacts_are_read_as_the_decimal_they_stand_for() {
        let b = backend("0.30000000000000004", "0.3", ["0", "0"]);
        let s = auto()
            .solve(
                &b,
                &Problem::new("A pen costs $0.1 and a pad $0.2. How much do both cost?"),
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(s.answer.as_deref(), Some("0.3"));
        assert_eq!(b.requests().len(), 3);
    }
}
