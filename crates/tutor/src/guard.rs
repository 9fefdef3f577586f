//! The leak guard: does a reply give away what the student should find?
//!
//! Every reply the tutor is about to send passes through [`find_leaks`]. It looks at every
//! way a number can be stated — numerals, number words, fractions, arithmetic that
//! evaluates to the answer (`48 + 24`), LaTeX spans, and digits spread out to dodge a
//! filter (`7 2`, `7-2`) — and checks each with the exact checker against the final
//! answer and, when configured, the solution's intermediate results the student has not
//! reached yet. The guard never trusts the model or the student's framing ("my teacher
//! allows it"): it reads only the reply's text.

use hypatia_grade::{evaluate, Checker};
use num_rational::BigRational;
use num_traits::Signed;
use serde::{Deserialize, Serialize};

use crate::numbers::{mentions, normalize_expr, same_number};
use crate::Reference;

/// What a leaking reply gave away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    /// The offending text in the reply.
    pub text: String,
    /// `answer`, or the label of the intermediate quantity.
    pub what: String,
}

/// What the guard protects in one turn.
#[derive(Debug, Clone)]
pub struct Protected<'a> {
    pub reference: &'a Reference,
    /// The final answer: false once the student has found it (or been told).
    pub answer: bool,
    /// Indices of intermediate quantities still to be protected.
    pub intermediates: Vec<usize>,
    /// Arithmetic the student wrote themselves (see [`Protected::student_wrote`]):
    /// quoting `48 + 24` back to the student who wrote `48 + 24 = 82` reveals nothing.
    /// Numbers are never exempt, only expressions.
    student_exprs: Vec<String>,
}

impl<'a> Protected<'a> {
    /// Protects the answer and every intermediate the student has not reached, except
    /// quantities that also appear in the problem text or are small integers (≤ 10): the
    /// tutor must be able to say "two" and quote the problem.
    pub fn new(
        reference: &'a Reference,
        problem: &str,
        reached: &[usize],
        intermediates: bool,
    ) -> Self {
        let given: Vec<BigRational> = mentions(problem).into_iter().map(|m| m.value).collect();
        let ten = BigRational::from_integer(10.into());
        let answer_value = reference.exact_answer();
        let intermediates = if intermediates {
            reference
                .quantities
                .iter()
                .enumerate()
                .filter(|(k, q)| {
                    let Some(v) = q.exact() else { return false };
                    let small = v.is_integer() && v.abs() <= ten;
                    let known = reached.contains(k) || given.contains(&v) || small;
                    !known && answer_value.as_ref() != Some(&v)
                })
                .map(|(k, _)| k)
                .collect()
        } else {
            Vec::new()
        };
        Protected { reference, answer: true, intermediates, student_exprs: Vec::new() }
    }

    /// Exempts what the student wrote in `text`: its arithmetic from the expression
    /// check, and its numbers from the intermediates (the answer stays protected: a
    /// student who wrote it somewhere has not necessarily found it).
    pub fn student_wrote(&mut self, text: &str) {
        self.student_exprs.extend(arithmetic_spans(text).iter().map(|s| squash(s)));
        let written: Vec<BigRational> = mentions(text).into_iter().map(|m| m.value).collect();
        let quantities = &self.reference.quantities;
        self.intermediates.retain(|&k| quantities[k].exact().is_none_or(|v| !written.contains(&v)));
    }
}

fn squash(expr: &str) -> String {
    normalize_expr(expr).split_whitespace().collect()
}

/// Everything in `reply` that states a protected value. Empty means safe to send.
///
/// ```
/// use hypatia_tutor::{guard::{find_leaks, Protected}, Reference};
/// let r = Reference::from_worked("48/2 = <<48/2=24>>24\n48+24 = <<48+24=72>>72\n#### 72", None).unwrap();
/// let p = Protected::new(&r, "48 clips in April, half as many in May", &[], true);
/// assert!(find_leaks("What is half of 48?", &p).is_empty());
/// assert_eq!(find_leaks("So she sold seventy-two clips.", &p)[0].what, "answer");
/// assert_eq!(find_leaks("Add 48 + 24 and you are done.", &p).len(), 2);
/// assert_eq!(find_leaks("The answer is 7 2.", &p)[0].what, "answer");
/// ```
pub fn find_leaks(reply: &str, protected: &Protected<'_>) -> Vec<Leak> {
    let reference = protected.reference;
    let answer = reference.exact_answer();
    let checker = Checker::default();
    let mut leaks = Vec::new();
    let mut flag = |text: &str, what: &str| {
        if !leaks.iter().any(|l: &Leak| l.text == text && l.what == what) {
            leaks.push(Leak { text: text.to_string(), what: what.to_string() });
        }
    };
    let is_answer = |v: &BigRational| answer.as_ref().is_some_and(|a| same_number(a, v));

    for m in mentions(reply) {
        if protected.answer && is_answer(&m.value) {
            flag(&m.text, "answer");
        }
        for &k in &protected.intermediates {
            let q = &reference.quantities[k];
            if q.exact().is_some_and(|v| same_number(&v, &m.value)) {
                flag(&m.text, &q.label);
            }
        }
    }
    if !protected.answer {
        return leaks;
    }
    for span in arithmetic_spans(reply) {
        if protected.student_exprs.contains(&squash(&span)) {
            continue;
        }
        if evaluate(&normalize_expr(&span)).is_some_and(|v| is_answer(&v)) {
            flag(&span, "answer");
        }
    }
    for spread in spread_digits(reply) {
        if evaluate(&spread).is_some_and(|v| is_answer(&v)) {
            flag(&spread, "answer");
        }
    }
    // Non-numeric answers (expressions, intervals, sets) and LaTeX: ask the checker about
    // every math span.
    for span in math_spans(reply) {
        if checker.equivalent(&reference.answer, &span) {
            flag(&span, "answer");
        }
    }
    leaks
}

/// Maximal runs of numbers joined by operators: `48 + 24`, `(3 × 4) − 1`.
fn arithmetic_spans(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let t = current.trim().trim_end_matches(|c: char| "+-*/×÷·−(.,".contains(c)).trim();
        let has_op = t.chars().skip(1).any(|c| "+-*/×÷·−".contains(c));
        if has_op && t.chars().any(|c| c.is_ascii_digit()) {
            out.push(t.to_string());
        }
        current.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || " +-*/()×÷·−.,".contains(c) {
            current.push(c);
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Single digits separated by single spaces, dots, hyphens, commas or underscores, joined
/// back: `7 2` → `72`, `1-0-5` → `105`.
fn spread_digits(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let alone = |k: usize| {
            chars[k].is_ascii_digit()
                && (k == 0 || !chars[k - 1].is_ascii_alphanumeric())
                && (k + 1 == chars.len() || !chars[k + 1].is_ascii_alphanumeric())
        };
        if alone(i) {
            let mut digits = chars[i].to_string();
            let mut k = i;
            while k + 2 < chars.len() && " .-,_*".contains(chars[k + 1]) && alone(k + 2) {
                digits.push(chars[k + 2]);
                k += 2;
            }
            if digits.len() > 1 {
                out.push(digits);
            }
            i = k + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// `$…$`, `\(…\)`, `\[…\]` and `\boxed{…}` spans.
fn math_spans(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts: Vec<&str> = text.split('$').collect();
    for k in (1..parts.len().saturating_sub(1)).step_by(2) {
        out.push(parts[k].to_string());
    }
    for (open, close) in [("\\(", "\\)"), ("\\[", "\\]")] {
        let mut rest = text;
        while let Some(s) = rest.find(open) {
            let after = &rest[s + 2..];
            let Some(e) = after.find(close) else { break };
            out.push(after[..e].to_string());
            rest = &after[e + 2..];
        }
    }
    if let Some(b) = hypatia_grade::last_boxed(text) {
        out.push(b);
    }
    out.retain(|s| !s.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(answer: &str) -> Reference {
        Reference::from_worked(
            "Half: 48/2 = <<48/2=24>>24\nAll: 48+24 = <<48+24=72>>72\n",
            Some(answer),
        )
        .unwrap()
    }

    #[test]
    fn disguised_answers_are_caught() {
        let r = reference("72");
        let p = Protected::new(&r, "48 clips", &[], true);
        for reply in [
            "It is 72.",
            "It is 72.0 clips",
            "It is seventy two.",
            "Try 70 + 2.",
            "Think of 7-2 as a hint.",
            "It's 7_2!",
            r"Is it $\frac{144}{2}$?",
            r"\boxed{72}",
            "Try 144/2",
        ] {
            assert!(!find_leaks(reply, &p).is_empty(), "{reply}");
        }
    }

    #[test]
    fn safe_replies_pass() {
        let r = reference("72");
        let p = Protected::new(&r, "48 clips in April", &[], true);
        for reply in [
            "What is half of 48?",
            "Look at your second step again. What did you add?",
            "Someone sold 48 clips in April; what about May?",
            "Can you check step 3?",
        ] {
            assert_eq!(find_leaks(reply, &p), [], "{reply}");
        }
    }

    #[test]
    fn reached_intermediates_may_be_said() {
        let r = reference("72");
        let hidden = Protected::new(&r, "48 clips", &[], true);
        assert_eq!(find_leaks("Yes, she sold 24 in May.", &hidden).len(), 1);
        let reached = Protected::new(&r, "48 clips", &[0], true);
        assert!(find_leaks("Yes, she sold 24 in May.", &reached).is_empty());
        let off = Protected::new(&r, "48 clips", &[], false);
        assert!(find_leaks("Yes, she sold 24 in May.", &off).is_empty());
    }

    #[test]
    fn numbers_the_student_wrote_are_not_intermediates_to_hide() {
        let r = reference("72");
        let mut p = Protected::new(&r, "48 clips", &[], true);
        p.student_wrote("May: 24 clips, so 48 + 24 = 82");
        assert!(find_leaks("You wrote 24 for May. Can you redo 48 + 24?", &p).is_empty());
        assert!(!find_leaks("It is 72.", &p).is_empty());
    }

    #[test]
    fn symbolic_answers_are_checked_by_the_checker() {
        let r = Reference::from_worked("", Some(r"\frac{\sqrt{3}}{2}")).unwrap();
        let p = Protected::new(&r, "Find sin 60 degrees", &[], true);
        assert!(!find_leaks(r"It equals $\sqrt{3}/2$.", &p).is_empty());
        assert!(find_leaks(r"What is $\sin 30^\circ$?", &p).is_empty());
    }
}
