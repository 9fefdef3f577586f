//! Diagnosis of a student's work: which step went wrong first, and how.
//!
//! The work is split into steps (lines, or sentences of a one-line answer). Every
//! arithmetic claim `a op b = c` in a step is recomputed exactly; the result is then
//! compared with the verified solution's quantities. The first step that is wrong is
//! classified:
//!
//! * the expression is right but its stated result is not → [`ErrorKind::ArithmeticSlip`];
//! * it uses a number that is neither in the problem, nor a quantity of the solution, nor
//!   an earlier result of the student → [`ErrorKind::MisreadQuantity`];
//! * its numbers are right but another operator on them gives a quantity of the solution
//!   → [`ErrorKind::WrongOperation`];
//! * otherwise → [`ErrorKind::Conceptual`].
//!
//! A correct result that is not one of the solution's quantities is not wrong by itself:
//! students take other paths. Such a step is blamed only if nothing the student does
//! later turns it into a quantity of the solution.

use hypatia_grade::{extract_answer, Checker, ExtractOptions};
use num_rational::BigRational;
use serde::{Deserialize, Serialize};

use crate::numbers::{claims, format_rational, mentions, same_number, Claim};
use crate::{ErrorKind, Reference};

/// The first wrong step of a student's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrongStep {
    /// 0-based index into the steps of the work.
    pub index: usize,
    pub text: String,
    pub kind: ErrorKind,
    /// The arithmetic the student wrote, as `expr = stated`, when the step has one.
    pub claim: Option<String>,
}

/// What the tutor knows about the student's work. Serialized as the `diagnosis` of a
/// `tutor reply` output line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// How many steps the work was split into.
    pub steps: usize,
    pub first_wrong: Option<WrongStep>,
    /// The final answer the student gave, if any.
    pub answer: Option<String>,
    /// The final answer is right (by the checker).
    pub answer_correct: bool,
    /// Indices of the solution's quantities the student has stated correctly.
    pub reached: Vec<usize>,
}

impl Diagnosis {
    /// Whether the work contains anything to check: steps with numbers, or an answer.
    pub fn is_empty(&self) -> bool {
        self.answer.is_none() && self.first_wrong.is_none() && self.reached.is_empty()
    }
}

/// Splits work into steps: its non-empty lines, or the sentences of a single line.
///
/// ```
/// use hypatia_tutor::diagnose::split_steps;
/// assert_eq!(split_steps("She has 2.5 kg. Then 3 more! Done"), ["She has 2.5 kg.", "Then 3 more!", "Done"]);
/// assert_eq!(split_steps("a\n\n b \n"), ["a", "b"]);
/// assert_eq!(split_steps("Mr. Chiu has 56. Ms. Ha has 5."), ["Mr. Chiu has 56.", "Ms. Ha has 5."]);
/// ```
pub fn split_steps(work: &str) -> Vec<String> {
    let lines: Vec<&str> = work.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.len() != 1 {
        return lines.into_iter().map(str::to_string).collect();
    }
    let line = lines[0];
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (k, &(pos, c)) in chars.iter().enumerate() {
        let ends = matches!(c, '.' | '!' | '?' | ';');
        let followed_by_space = chars.get(k + 1).is_some_and(|(_, n)| n.is_whitespace());
        if ends && followed_by_space && !(c == '.' && is_abbreviation(&line[start..pos])) {
            let piece = line[start..pos + c.len_utf8()].trim();
            if !piece.is_empty() {
                out.push(piece.to_string());
            }
            start = pos + c.len_utf8();
        }
    }
    let rest = line[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// Whether the text before a full stop ends in an abbreviation ("Mr", "Dr", "e.g", an
/// initial), which does not end a sentence.
fn is_abbreviation(before: &str) -> bool {
    let word = before.rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
    const KNOWN: [&str; 10] = ["mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "e.g", "i.e"];
    let lower = word.to_ascii_lowercase();
    KNOWN.contains(&lower.as_str())
        || (word.len() == 1 && word.chars().all(|c| c.is_ascii_uppercase()))
}

/// How one step stands against the solution.
enum Status {
    /// Nothing to check.
    Silent,
    /// Its result is a quantity of the solution (or the answer).
    Matches(BigRational),
    /// Right arithmetic, but a value the solution never computes.
    Unmatched(BigRational, Claim),
    Wrong(ErrorKind, Option<Claim>),
}

/// Diagnoses `work` (the student's steps and answer) against the verified solution.
pub fn diagnose(problem: &str, work: &str, reference: &Reference, checker: &Checker) -> Diagnosis {
    let steps = split_steps(work);
    let given: Vec<BigRational> = mentions(problem).into_iter().map(|m| m.value).collect();
    // Quantity values parsed once: every step is compared with all of them.
    let values: Vec<Option<BigRational>> = reference.quantities.iter().map(|q| q.exact()).collect();
    let solution: Vec<BigRational> =
        values.iter().flatten().cloned().chain(reference.exact_answer()).collect();
    let mut own: Vec<BigRational> = Vec::new();
    let mut reached = Vec::new();
    let mut mark_reached = |value: &BigRational| {
        for (k, q) in values.iter().enumerate() {
            if q.as_ref().is_some_and(|q| same_number(q, value)) && !reached.contains(&k) {
                reached.push(k);
            }
        }
    };
    let mut statuses = Vec::with_capacity(steps.len());
    // How many of the student's own results precede each step.
    let mut own_before = Vec::with_capacity(steps.len());
    for step in &steps {
        own_before.push(own.len());
        let status = check_step(step, &solution);
        match &status {
            // "I got 24 for May": a stated value without arithmetic still shows what the
            // student has found.
            Status::Silent => mentions(step).iter().for_each(|m| mark_reached(&m.value)),
            Status::Matches(v) | Status::Unmatched(v, _) => {
                own.push(v.clone());
                mark_reached(v);
            }
            Status::Wrong(..) => {}
        }
        statuses.push(status);
    }
    let answer = final_answer(work);
    let answer_correct =
        answer.as_deref().is_some_and(|a| checker.equivalent(&reference.answer, a));

    // Steps are held against the solution's quantities only when the tutor has some from
    // a solution it trusts; otherwise only the student's own arithmetic is checked, and
    // nothing is said about steps the student may be missing.
    let arithmetic_only = reference.quantities.is_empty() || !reference.is_trusted();
    let mut first_wrong = None;
    if !answer_correct {
        for (index, status) in statuses.iter().enumerate() {
            let verdict = match status {
                Status::Wrong(kind, claim) => Some((*kind, claim.clone())),
                Status::Unmatched(..) if arithmetic_only => None,
                Status::Unmatched(value, claim) => {
                    let leads_to_solution =
                        steps.iter().zip(&statuses).skip(index + 1).any(|(later, status)| {
                            matches!(status, Status::Matches(_))
                                && claims(later).iter().any(|c| c.operands.contains(value))
                        });
                    (!leads_to_solution).then(|| {
                        (
                            classify(claim, &given, &solution, &own[..own_before[index]]),
                            Some(claim.clone()),
                        )
                    })
                }
                _ => None,
            };
            if let Some((kind, claim)) = verdict {
                first_wrong = Some(WrongStep {
                    index,
                    text: steps[index].clone(),
                    kind,
                    claim: claim.map(|c| format!("{} = {}", c.expr, format_rational(&c.stated))),
                });
                break;
            }
        }
    }
    Diagnosis { steps: steps.len(), first_wrong, answer, answer_correct, reached }
}

fn check_step(step: &str, solution: &[BigRational]) -> Status {
    let found = claims(step);
    let Some(last) = found.last() else {
        return Status::Silent;
    };
    for claim in &found {
        if !claim.is_right() {
            // A wrongly written expression whose stated value is still right is a notation
            // slip, not a mistake in the solution.
            if solution.iter().any(|s| same_number(s, &claim.stated)) {
                continue;
            }
            // `3 * 15 = 3 + 15 = 18`: the value is another operation's on the same numbers.
            let kind = if other_operations(claim).contains(&claim.stated) {
                ErrorKind::WrongOperation
            } else {
                ErrorKind::ArithmeticSlip
            };
            return Status::Wrong(kind, Some(claim.clone()));
        }
    }
    let value = last.stated.clone();
    if solution.iter().any(|s| same_number(s, &value)) {
        return Status::Matches(value);
    }
    Status::Unmatched(value, last.clone())
}

/// Why a correctly computed value that leads nowhere is wrong.
fn classify(
    claim: &Claim,
    given: &[BigRational],
    solution: &[BigRational],
    own: &[BigRational],
) -> ErrorKind {
    let known = |v: &BigRational| {
        given.iter().chain(solution).chain(own).any(|k| k == v) || is_common_constant(v)
    };
    if claim.operands.iter().any(|o| !known(o)) {
        return ErrorKind::MisreadQuantity;
    }
    if other_operations(claim).iter().any(|v| solution.iter().any(|s| same_number(s, v))) {
        return ErrorKind::WrongOperation;
    }
    ErrorKind::Conceptual
}

/// Numbers that appear in solutions without being in the problem: units of time, dozens,
/// percent, halves.
fn is_common_constant(v: &BigRational) -> bool {
    const COMMON: [i64; 13] = [0, 1, 2, 3, 4, 7, 10, 12, 24, 52, 60, 100, 365];
    v.is_integer() && COMMON.iter().any(|c| BigRational::from_integer((*c).into()) == *v)
}

/// The values the claim's expression takes with one operator swapped for another.
fn other_operations(claim: &Claim) -> Vec<BigRational> {
    let expr = &claim.expr;
    let mut out = Vec::new();
    for (pos, op) in expr.char_indices().filter(|(p, c)| *p > 0 && "+-*/".contains(*c)) {
        for other in ['+', '-', '*', '/'] {
            if other == op {
                continue;
            }
            let mut changed = expr.clone();
            changed.replace_range(pos..pos + 1, &other.to_string());
            if let Some(v) = hypatia_grade::evaluate(&changed) {
                out.push(v);
            }
        }
    }
    // Division the other way round is the classic wrong operation too.
    if let [a, b] = claim.operands.as_slice() {
        if !a.numer().eq(&0.into()) {
            out.push(b / a);
        }
        out.push(b - a);
    }
    out
}

/// The student's final answer: a marked answer, else the last number of the last step.
pub(crate) fn final_answer(work: &str) -> Option<String> {
    extract_answer(work, &ExtractOptions { last_number_fallback: true })
        .filter(|a| !a.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBLEM: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";

    fn reference() -> Reference {
        Reference::from_worked(
            "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
            None,
        )
        .unwrap()
    }

    fn check(work: &str) -> Diagnosis {
        diagnose(PROBLEM, work, &reference(), &Checker::default())
    }

    #[test]
    fn right_work_has_no_wrong_step() {
        let d = check("In May she sold 48 / 2 = 24.\nAltogether 48 + 24 = 72.\nThe answer is 72.");
        assert!(d.answer_correct);
        assert_eq!(d.first_wrong, None);
        assert_eq!(d.reached, [0, 1]);
    }

    #[test]
    fn arithmetic_slip_is_located() {
        let d = check("In May she sold 48 / 2 = 24.\nAltogether 48 + 24 = 82.\nThe answer is 82.");
        assert!(!d.answer_correct);
        let w = d.first_wrong.unwrap();
        assert_eq!((w.index, w.kind), (1, ErrorKind::ArithmeticSlip));
        assert_eq!(w.claim.as_deref(), Some("48 + 24 = 82"));
    }

    #[test]
    fn wrong_operation_is_located() {
        let d = check("May: 48 * 2 = 96. Total: 48 + 96 = 144. So the answer is 144.");
        let w = d.first_wrong.unwrap();
        assert_eq!((w.index, w.kind), (0, ErrorKind::WrongOperation));
    }

    #[test]
    fn misread_quantity_is_located() {
        let d = check("May: 46 / 2 = 23\nTotal: 46 + 23 = 69\nThe answer is 69");
        let w = d.first_wrong.unwrap();
        assert_eq!((w.index, w.kind), (0, ErrorKind::MisreadQuantity));
    }

    #[test]
    fn another_correct_path_is_not_blamed() {
        // 48 * 1.5 is not a quantity of the reference, but it is the answer.
        let d = check("She sold one and a half times as many: 48 * 1.5 = 72. The answer is 72.");
        assert!(d.answer_correct);
        assert!(d.first_wrong.is_none());
    }

    #[test]
    fn values_stated_without_arithmetic_are_reached() {
        let d = check("In May she sold 24 clips, I think.");
        assert_eq!(d.reached, [0]);
    }

    #[test]
    fn an_answer_without_work_has_no_location() {
        let d = check("I think it is 70");
        assert_eq!(d.answer.as_deref(), Some("70"));
        assert!(!d.answer_correct);
        assert!(d.first_wrong.is_none());
    }
}
