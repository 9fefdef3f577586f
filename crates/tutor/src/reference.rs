//! The verified solution the tutor holds before it speaks: the final answer and every
//! intermediate quantity, each an exact number.
//!
//! It comes from one of two places. A worked reference solution with calculator
//! annotations (GSM8K's `<<48/2=24>>`) names its quantities itself. Otherwise Hypatia
//! solves the problem silently with the adaptive solver (`auto`), which also says how far
//! its answer can be trusted, and runs a program that gave the chosen answer once more
//! under a tracer that records every number a variable takes: the quantities are what the
//! program computed, not what a model claims. A program whose answer disagrees with the
//! chosen one contributes no quantities, because they would be the quantities of a wrong
//! solution.

use std::sync::Arc;

use hypatia_grade::{evaluate, Checker};
use hypatia_llm::Backend;
use hypatia_sandbox::Status;
use hypatia_solve::{Auto, Executor, Problem, Solution, Step, Strategy, StrategyOptions};
use num_rational::BigRational;
use serde::{Deserialize, Serialize};

use crate::numbers::format_rational;
use crate::TutorError;

/// One intermediate result of the verified solution.
///
/// Invariant: `value` is the canonical text of an exact rational (`24`, `-3/4`), so
/// [`Quantity::exact`] always succeeds for a quantity built by this module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    /// How it was computed: `48/2` for an annotation, the variable name for a program.
    pub label: String,
    pub value: String,
}

impl Quantity {
    pub fn new(label: impl Into<String>, value: &BigRational) -> Self {
        Self { label: label.into(), value: format_rational(value) }
    }

    pub fn exact(&self) -> Option<BigRational> {
        evaluate(&self.value)
    }
}

/// Where the verified solution came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A worked solution supplied with the problem.
    Given,
    /// Hypatia's own program, checked against a given answer.
    ProgramChecked,
    /// Hypatia's own program and nothing to check it against.
    ProgramUnchecked,
}

/// The answer, the quantities in the order they are computed, and a worked solution the
/// tutor may explain once the student has earned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub answer: String,
    pub quantities: Vec<Quantity>,
    pub solution: String,
    pub source: Source,
    /// How far `answer` can be trusted, in `[0, 1]`: 1 for a given worked solution or
    /// answer, the solver's calibrated confidence for Hypatia's own.
    #[serde(default = "certain")]
    pub confidence: f64,
}

fn certain() -> f64 {
    1.0
}

/// A reference this confident or more is trusted to judge a student's answer alone;
/// below it, a differing answer is checked before the student is told it is wrong.
pub const TRUSTED_CONFIDENCE: f64 = 0.9;

impl Reference {
    /// From a worked solution with `<<expr=value>>` annotations and an optional `#### N`
    /// line. `answer` overrides the `####` line. Annotations whose value is not exact are
    /// skipped.
    ///
    /// ```
    /// use hypatia_tutor::Reference;
    /// let r = Reference::from_worked("Half: 48/2 = <<48/2=24>>24\nTotal: <<48+24=72>>72\n#### 72", None).unwrap();
    /// assert_eq!(r.answer, "72");
    /// let values: Vec<_> = r.quantities.iter().map(|q| q.value.as_str()).collect();
    /// assert_eq!(values, ["24", "72"]);
    /// assert!(!r.solution.contains("<<"));
    /// ```
    pub fn from_worked(solution: &str, answer: Option<&str>) -> Option<Reference> {
        let mut quantities = Vec::new();
        let mut rest = solution;
        while let Some(start) = rest.find("<<") {
            let Some(len) = rest[start..].find(">>") else { break };
            let inner = &rest[start + 2..start + len];
            if let Some((expr, value)) = inner.rsplit_once('=') {
                if let Some(v) = evaluate(value.trim()).or_else(|| evaluate(expr.trim())) {
                    quantities.push(Quantity::new(expr.trim(), &v));
                }
            }
            rest = &rest[start + len + 2..];
        }
        let hashes = solution.rsplit_once("####").map(|(_, a)| a.trim().replace(',', ""));
        let answer = answer.map(str::to_string).or(hashes).filter(|a| !a.trim().is_empty())?;
        Some(Reference {
            answer,
            quantities,
            solution: strip_annotations(solution),
            source: Source::Given,
            confidence: 1.0,
        })
    }

    /// Whether the answer is trusted enough to tell a student with another answer that it
    /// is wrong ([`TRUSTED_CONFIDENCE`]).
    pub fn is_trusted(&self) -> bool {
        self.confidence >= TRUSTED_CONFIDENCE
    }

    /// Solves `problem` with the adaptive solver (`auto`: a program and a chain of thought,
    /// more samples where they disagree) and traces the quantities of a program whose
    /// answer is the chosen one; when no program gave it, there are none, and the
    /// diagnosis checks only the student's own arithmetic. `known_answer`, when given, is
    /// the truth: it is kept as the answer (confidence 1), and only a program that agrees
    /// with it contributes quantities.
    pub fn solve(
        backend: &dyn Backend,
        executor: Arc<dyn Executor>,
        problem: &Problem,
        known_answer: Option<&str>,
    ) -> Result<Reference, TutorError> {
        let auto = Auto::new(&StrategyOptions::default(), executor.clone());
        let solution = auto.solve(backend, problem, &mut |_| {})?;
        Reference::from_solution(executor.as_ref(), &solution, known_answer)
    }

    /// The reference a solver's `solution` gives (see [`Reference::solve`]): its answer and
    /// confidence, and the quantities of a program in its trace that gave the chosen answer,
    /// traced by running that program once more.
    pub fn from_solution(
        executor: &dyn Executor,
        solution: &Solution,
        known_answer: Option<&str>,
    ) -> Result<Reference, TutorError> {
        let checker = Checker::default();
        let agrees = match (known_answer, solution.answer.as_deref()) {
            (Some(known), Some(found)) => checker.equivalent(known, found),
            (Some(_), None) => false,
            (None, found) => found.is_some(),
        };
        let chosen = known_answer.map(str::to_string).or_else(|| solution.answer.clone());
        let program = chosen.as_deref().and_then(|c| program_with_answer(&solution.trace.steps, c));
        let quantities = match program {
            Some(code) => trace_quantities(executor, &code)?,
            None => Vec::new(),
        };
        let Some(answer) = chosen else { return Err(TutorError::Unsolved) };
        let source = match known_answer {
            Some(_) if agrees => Source::ProgramChecked,
            Some(_) => Source::Given,
            None => Source::ProgramUnchecked,
        };
        let confidence = match known_answer {
            Some(_) => 1.0,
            None => solution.confidence.unwrap_or(0.0),
        };
        let text = if agrees { solution.text.clone() } else { String::new() };
        Ok(Reference { answer, quantities, solution: text, source, confidence })
    }

    /// The final answer as an exact number, when it is one.
    pub fn exact_answer(&self) -> Option<BigRational> {
        evaluate(&self.answer)
    }
}

/// The worked solution as a student would read it: annotations removed, the `####` line
/// turned into a sentence.
fn strip_annotations(solution: &str) -> String {
    let mut out = String::new();
    let mut rest = solution;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        match rest[start..].find(">>") {
            Some(len) => rest = &rest[start + len + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    match out.rsplit_once("####") {
        Some((body, answer)) => format!("{}\nThe answer is {}.", body.trim_end(), answer.trim()),
        None => out,
    }
}

/// The last program that ran and whose answer is `answer`: among the samples of a
/// pooling strategy (`auto`, `vote`), or the solution's own.
fn program_with_answer(steps: &[Step], answer: &str) -> Option<String> {
    let checker = Checker::default();
    let same = |a: &str| checker.equivalent(answer, a) || checker.equivalent(a, answer);
    let last_program = |steps: &[Step]| {
        steps.iter().rev().find_map(|s| match s {
            Step::Execution { code, outcome } if outcome.status == Status::Ok => Some(code.clone()),
            _ => None,
        })
    };
    let samples: Vec<(&Option<String>, &Vec<Step>)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Sample { answer, steps, .. } => Some((answer, steps)),
            _ => None,
        })
        .collect();
    if samples.is_empty() {
        let found = steps.iter().rev().find_map(|s| match s {
            Step::Answer { answer: Some(a), .. } => Some(a.clone()),
            _ => None,
        })?;
        return if same(&found) { last_program(steps) } else { None };
    }
    samples
        .into_iter()
        .filter(|(a, _)| a.as_deref().is_some_and(&same))
        .find_map(|(_, steps)| last_program(steps))
}

/// Marks the tracer's output line, so the program's own output cannot be mistaken for it.
const TRACE_MARK: &str = "__hypatia_quantities__";

/// Prepended tracer: records each numeric value a variable of any frame takes, and each
/// numeric value a function returns, in order;
/// [`TRACE_END`], appended, prints them as one JSON line. (The sandbox's worker does not
/// run `atexit` handlers, so the footer is code, not a hook.)
const TRACER: &str = r#"
import sys as _hq_sys, json as _hq_json, fractions as _hq_fr
_hq_seen, _hq_out = {}, []
def _hq_num(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, _hq_fr.Fraction)):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else None
    if getattr(v, "is_Rational", False):
        return str(v)
    return None
def _hq_scan(frame):
    for k, v in list(frame.f_locals.items()):
        if k.startswith("_") or len(_hq_out) >= 200:
            continue
        s = _hq_num(v)
        if s is not None and _hq_seen.get((id(frame.f_code), k)) != s:
            _hq_seen[(id(frame.f_code), k)] = s
            _hq_out.append([k, s])
def _hq_trace(frame, event, arg):
    if frame.f_code.co_filename != _hq_file:
        return None
    if event in ("line", "return"):
        _hq_scan(frame)
    if event == "return" and frame.f_code.co_name != "<module>" and len(_hq_out) < 200:
        s = _hq_num(arg)
        if s is not None:
            _hq_out.append([frame.f_code.co_name + "()", s])
    return _hq_trace
_hq_file = _hq_sys._getframe().f_code.co_filename
_hq_sys.settrace(_hq_trace)
_hq_sys._getframe().f_trace = _hq_trace
"#;

const TRACE_END: &str =
    "\n_hq_sys.settrace(None)\nprint(\"\\n__MARK__\" + _hq_json.dumps(_hq_out))\n";

/// Runs `code` under the tracer and returns the quantities it computed.
fn trace_quantities(executor: &dyn Executor, code: &str) -> Result<Vec<Quantity>, TutorError> {
    let program = format!("{TRACER}\n{code}{}", TRACE_END.replace("__MARK__", TRACE_MARK));
    let outcome = executor.run(&program)?;
    let Some(line) = outcome.stdout.lines().rev().find_map(|l| l.strip_prefix(TRACE_MARK)) else {
        return Ok(Vec::new());
    };
    let pairs: Vec<(String, String)> = serde_json::from_str(line).unwrap_or_default();
    Ok(pairs
        .into_iter()
        .filter_map(|(name, value)| Some(Quantity::new(name, &evaluate(&value)?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_solution_without_answer_line_needs_an_answer() {
        assert!(Reference::from_worked("2+2 = <<2+2=4>>4", None).is_none());
        let r = Reference::from_worked("2+2 = <<2+2=4>>4", Some("4")).unwrap();
        assert_eq!(r.quantities.len(), 1);
        assert_eq!(r.source, Source::Given);
    }

    #[test]
    fn malformed_annotations_are_skipped() {
        let r = Reference::from_worked("a <<oops>> b <<1/3=0.33>> c <<x=y", Some("1")).unwrap();
        assert_eq!(r.quantities.len(), 1);
        assert_eq!(r.quantities[0].value, "0.33");
    }

    fn solved(known: Option<&str>) -> Reference {
        let program = "Half of April's clips.\n```python\ndef solve():\n    april = 48\n    may = april // 2\n    return april + may\nprint(solve())\n```\n";
        let backend = hypatia_llm::ScriptedBackend::from_fn(move |req, _| {
            let system = &req.messages[0].content;
            Some(if system.contains("Python") {
                program.to_string()
            } else if system.contains("tutor") {
                "She sold 24 in May, so 72 in all.".to_string()
            } else {
                "48 + 24 = 72, so \\boxed{72}.".to_string()
            })
        });
        let exec =
            Arc::new(hypatia_solve::SandboxExecutor::global(hypatia_sandbox::Limits::default()));
        Reference::solve(
            &backend,
            exec,
            &Problem::new("48 clips in April, half as many in May; how many?"),
            known,
        )
        .unwrap()
    }

    #[test]
    fn a_solved_reference_keeps_the_programs_quantities_when_they_agree() {
        let r = solved(Some("72"));
        assert_eq!(r.source, Source::ProgramChecked);
        let values: Vec<&str> = r.quantities.iter().map(|q| q.value.as_str()).collect();
        assert!(values.contains(&"24") && values.contains(&"72"), "{values:?}");
        let wrong = solved(Some("70"));
        assert_eq!((wrong.answer.as_str(), wrong.source), ("70", Source::Given));
        assert!(wrong.quantities.is_empty() && wrong.solution.is_empty());
        let alone = solved(None);
        assert_eq!((alone.answer.as_str(), alone.source), ("72", Source::ProgramUnchecked));
        // Program and reasoning agree: the calibrated confidence of that evidence.
        assert!(alone.confidence > 0.5 && alone.confidence < 1.0, "{}", alone.confidence);
        assert_eq!(r.confidence, 1.0);
    }

    #[test]
    fn the_tracer_records_values_of_every_frame() {
        let Ok(sandbox) = hypatia_sandbox::Sandbox::global() else {
            panic!("the sandbox must be installed for the tutor tests");
        };
        let _ = sandbox;
        let exec = hypatia_solve::SandboxExecutor::global(hypatia_sandbox::Limits::default());
        let code = "def f(n):\n    half = n / 2\n    return half * 3\nclips = 48\ntotal = f(clips) + 1\nprint(total)\n";
        let q = trace_quantities(&exec, code).unwrap();
        let values: Vec<(&str, &str)> =
            q.iter().map(|q| (q.label.as_str(), q.value.as_str())).collect();
        assert!(values.contains(&("half", "24")), "{values:?}");
        assert!(values.contains(&("clips", "48")), "{values:?}");
        assert!(values.contains(&("total", "73")), "{values:?}");
    }
}
