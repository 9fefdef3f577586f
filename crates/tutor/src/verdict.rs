//! Whether a student's final answer is right, said only as strongly as the tutor knows.
//!
//! The tutor's own answer may be wrong: solved silently by a small model, it is right only
//! as often as its calibrated confidence says. So a student's answer that differs from a
//! reference that is not trusted ([`Reference::is_trusted`]) is never called wrong on the
//! reference's word: it is checked by solving the problem again (three programs, sampled,
//! independent of the reference's), and if that does not settle it the verdict is
//! `unsure` and the tutor says so and works through the steps with the student.

use std::sync::Arc;

use hypatia_grade::Checker;
use hypatia_llm::Backend;
use hypatia_solve::{Executor, Problem, ProgramOfThought, Strategy, StrategyOptions};
use serde::{Deserialize, Serialize};

use crate::{Reference, TutorError};

/// How the tutor judges a student's final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerVerdict {
    Correct,
    Incorrect,
    /// The tutor's own answer is not confident enough to judge, and checking the
    /// student's answer did not settle it.
    Unsure,
}

/// A final answer the student stated, and the verdict on it (the `student_answer` of a
/// `tutor reply` output line and of the API's turn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentAnswer {
    pub value: String,
    pub verdict: AnswerVerdict,
}

/// Programs drawn to check a student's answer against an untrusted reference.
const CHECK_SAMPLES: u32 = 3;
const CHECK_TEMPERATURE: f32 = 0.7;

/// The verdict on `answer` without any model call: the checker against a trusted
/// reference, `unsure` against an untrusted one that disagrees.
pub fn judge_offline(reference: &Reference, answer: &str, checker: &Checker) -> AnswerVerdict {
    if checker.equivalent(&reference.answer, answer) {
        AnswerVerdict::Correct
    } else if reference.is_trusted() {
        AnswerVerdict::Incorrect
    } else {
        AnswerVerdict::Unsure
    }
}

/// The verdict on `answer`, checking it by solving again where the reference is not
/// trusted: correct when at least two of three fresh programs give the student's answer
/// and none the reference's, incorrect when at least two give the reference's and none
/// the student's, unsure otherwise.
pub fn judge(
    backend: &dyn Backend,
    executor: &Arc<dyn Executor>,
    problem: &str,
    reference: &Reference,
    answer: &str,
    checker: &Checker,
    seed: u32,
) -> Result<AnswerVerdict, TutorError> {
    let offline = judge_offline(reference, answer, checker);
    if offline != AnswerVerdict::Unsure {
        return Ok(offline);
    }
    let opts = StrategyOptions {
        temperature: CHECK_TEMPERATURE,
        explain: false,
        ..StrategyOptions::default()
    };
    let pot = ProgramOfThought::new(&opts, executor.clone());
    let samples =
        pot.solve_samples(backend, &Problem::new(problem), CHECK_SAMPLES, seed, &mut |_| {})?;
    let same = |a: &str, b: &str| checker.equivalent(a, b) || checker.equivalent(b, a);
    let count = |target: &str| {
        samples.iter().filter(|s| s.answer.as_deref().is_some_and(|a| same(target, a))).count()
    };
    let (for_student, for_reference) = (count(answer), count(&reference.answer));
    Ok(if for_student >= 2 && for_reference == 0 {
        AnswerVerdict::Correct
    } else if for_reference >= 2 && for_student == 0 {
        AnswerVerdict::Incorrect
    } else {
        AnswerVerdict::Unsure
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use hypatia_llm::ScriptedBackend;
    use hypatia_solve::FnExecutor;

    fn reference(answer: &str, confidence: f64) -> Reference {
        Reference {
            answer: answer.into(),
            quantities: Vec::new(),
            solution: String::new(),
            source: Source::ProgramUnchecked,
            confidence,
        }
    }

    /// Programs that print the numbers of `outputs`, one per sample.
    fn checking(outputs: [&'static str; 3]) -> (ScriptedBackend, Arc<dyn Executor>) {
        let backend = ScriptedBackend::from_fn(move |_, i| {
            Some(format!("```python\nprint({})\n```", outputs[i as usize % 3]))
        });
        let executor: Arc<dyn Executor> = Arc::new(FnExecutor::new(|code| {
            let inner = code.trim().trim_start_matches("print(").trim_end_matches(')');
            FnExecutor::ok(&format!("{inner}\n"))
        }));
        (backend, executor)
    }

    #[test]
    fn a_trusted_reference_judges_alone() {
        let c = Checker::default();
        assert_eq!(judge_offline(&reference("72", 1.0), "72.0", &c), AnswerVerdict::Correct);
        assert_eq!(judge_offline(&reference("72", 1.0), "70", &c), AnswerVerdict::Incorrect);
        assert_eq!(judge_offline(&reference("72", 0.5), "70", &c), AnswerVerdict::Unsure);
    }

    #[test]
    fn an_untrusted_reference_is_checked_by_solving_again() {
        let c = Checker::default();
        let doubtful = reference("70", 0.5);
        let (b, e) = checking(["72", "72", "71"]);
        assert_eq!(judge(&b, &e, "p", &doubtful, "72", &c, 0).unwrap(), AnswerVerdict::Correct);
        assert_eq!(b.requests()[0].params.n, 3);
        let (b, e) = checking(["70", "70", "72"]);
        assert_eq!(judge(&b, &e, "p", &doubtful, "72", &c, 0).unwrap(), AnswerVerdict::Unsure);
        let (b, e) = checking(["70", "70", "71"]);
        assert_eq!(judge(&b, &e, "p", &doubtful, "72", &c, 0).unwrap(), AnswerVerdict::Incorrect);
        // Against a trusted reference no model call is made.
        let (b, e) = checking(["72", "72", "72"]);
        assert_eq!(
            judge(&b, &e, "p", &reference("70", 1.0), "72", &c, 0).unwrap(),
            AnswerVerdict::Incorrect
        );
        assert!(b.requests().is_empty());
    }
}
