//! Plausibility gates: what an answer must look like, read from the question itself and
//! from the run that produced it, checked before any answer is trusted.
//!
//! A small model's wrong answers often look wrong before anyone checks them: `183/4`
//! people, `-60` dollars of profit from a misread cost, `0.01999999999998181` from float
//! arithmetic, `35` printed by a program that copied a worked example's numbers. Gates
//! catch these cheaply, so the adaptive solver ([`crate::strategies::auto`]) spends
//! more samples exactly where an answer is in doubt, and never reports a doubtful answer
//! with high confidence. A gate raises a doubt; it never changes what counts as right.

use hypatia_grade::evaluate;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};
use serde::{Deserialize, Serialize};

use crate::{Problem, Step, Style};

/// What the question says its answer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// A count of people or things ("how many apples"): a whole number.
    pub whole: bool,
    /// Money: at most cents.
    pub money: bool,
    /// Nothing in the question allows a negative answer (a loss, a debt, a temperature).
    pub non_negative: bool,
    /// A probability: between 0 and 1.
    pub probability: bool,
}

/// Why an answer is in doubt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Doubt {
    /// A word problem's answer that is not a number at all.
    NotANumber,
    /// A count that is not a whole number.
    NotWhole,
    /// Money with fractions of a cent.
    NotCents,
    /// Negative where the question allows no loss or debt.
    Negative,
    /// A probability outside `[0, 1]`.
    NotAProbability,
    /// The program used the numbers of a worked example instead of the problem's.
    CopiedExample,
    /// A competition answer the checker cannot read (prose, broken notation).
    Unreadable,
    /// The explanation written for the answer boxes a different one.
    ExplanationDisagrees,
}

/// Words after "how many" that are not the counted noun.
const SKIPPED: &[&str] = &[
    "more",
    "fewer",
    "less",
    "total",
    "extra",
    "additional",
    "of",
    "the",
    "her",
    "his",
    "their",
    "in",
    "whole",
    "full",
    "different",
    "new",
    "remaining",
    "left",
    "are",
    "were",
    "does",
];
/// Cues that the answer is an amount of money.
const MONEY: &[&str] = &[
    "money", "dollar", "dollars", "cost", "costs", "pay", "paid", "spend", "spent", "earn",
    "earns", "earned", "save", "saved", "profit", "price", "charge", "charged", "worth", "cents",
    "budget", "revenue", "income", "salary", "wage", "tip", "fee", "change",
];
/// Cues that a negative answer is possible.
const SIGNED: &[&str] = &[
    "loss",
    "lose",
    "lost",
    "owe",
    "owes",
    "owed",
    "debt",
    "deficit",
    "negative",
    "below",
    "temperature",
    "degrees",
    "difference between",
    "change in",
    "net",
];

/// The sentence that asks: the last one ending in a question mark, else the last one.
fn asking_sentence(text: &str) -> String {
    let lower = text.to_lowercase();
    let sentences: Vec<&str> = lower
        .split_inclusive(['.', '?', '!', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    sentences
        .iter()
        .rev()
        .find(|s| s.ends_with('?'))
        .or_else(|| sentences.last())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '$')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl Expectation {
    /// Reads a word problem's question. Competition problems expect nothing in
    /// particular (their answers are expressions).
    ///
    /// ```
    /// use hypatia_solve::{gates::Expectation, Problem};
    /// let e = Expectation::of(&Problem::new("Tom has 3 bags of 5 apples. How many apples does he have?"));
    /// assert!(e.whole && e.non_negative && !e.money);
    /// let e = Expectation::of(&Problem::new("A pen costs $3. How much do 4 pens cost?"));
    /// assert!(e.money && e.non_negative && !e.whole);
    /// let e = Expectation::of(&Problem::new("How many hours did she work?"));
    /// assert!(!e.whole && e.non_negative);
    /// ```
    pub fn of(problem: &Problem) -> Expectation {
        if problem.style != Style::Word {
            return Expectation::default();
        }
        let asking = asking_sentence(&problem.text);
        let all = problem.text.to_lowercase();
        let ask_words = words(&asking);
        let mut e = Expectation {
            non_negative: !SIGNED.iter().any(|w| {
                if w.contains(' ') {
                    all.contains(w)
                } else {
                    words(&all).iter().any(|x| x == w)
                }
            }),
            probability: asking.contains("probability"),
            ..Expectation::default()
        };
        if let Some(pos) = ask_words.windows(2).position(|w| w[0] == "how" && w[1] == "many") {
            let noun = ask_words[pos + 2..].iter().find(|w| !SKIPPED.contains(&w.as_str()));
            match noun {
                Some(n) if MONEY.contains(&n.as_str()) => e.money = true,
                Some(n) if hypatia_grade::names_unit(n) => {}
                Some(n) if n.chars().all(|c| c.is_alphabetic()) => e.whole = true,
                _ => {}
            }
        } else {
            // "How much … cost?", "How much money …?", or a money word asked about in a
            // problem about dollars.
            let how_much = ask_words.windows(2).any(|w| w[0] == "how" && w[1] == "much");
            let money_word = ask_words.iter().any(|w| MONEY.contains(&w.as_str()));
            let dollars = all.contains('$');
            e.money = (how_much && (money_word || dollars)) || (dollars && money_word);
        }
        e
    }

    /// The doubts `answer` raises against this expectation.
    pub fn check(&self, style: Style, answer: &str) -> Vec<Doubt> {
        let mut doubts = Vec::new();
        if style != Style::Word {
            if !hypatia_grade::readable(answer) {
                doubts.push(Doubt::Unreadable);
            }
            return doubts;
        }
        let Some(v) = evaluate(answer) else {
            doubts.push(Doubt::NotANumber);
            return doubts;
        };
        if self.whole && !v.is_integer() {
            doubts.push(Doubt::NotWhole);
        }
        if self.money && !(v.clone() * BigRational::from_integer(BigInt::from(100))).is_integer() {
            doubts.push(Doubt::NotCents);
        }
        if self.non_negative && v.is_negative() {
            doubts.push(Doubt::Negative);
        }
        if self.probability && (v.is_negative() || v > BigRational::from_integer(1.into())) {
            doubts.push(Doubt::NotAProbability);
        }
        doubts
    }
}

/// The doubts about one solution: the question's expectations, and whether its last
/// program copied a worked example's numbers (`example_problems`: the worked examples'
/// problem texts the prompt showed).
pub fn doubts(
    problem: &Problem,
    answer: &str,
    steps: &[Step],
    example_problems: &[&str],
) -> Vec<Doubt> {
    let mut doubts = Expectation::of(problem).check(problem.style, answer);
    let code = steps.iter().rev().find_map(|s| match s {
        Step::Execution { code, .. } => Some(code.as_str()),
        _ => None,
    });
    if let Some(code) = code {
        if copies_an_example(&problem.text, code, example_problems) {
            doubts.push(Doubt::CopiedExample);
        }
    }
    doubts
}

/// Numbers of at least two digits (or with a decimal point) in `text`.
fn distinctive_numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !current.is_empty()) {
            current.push(c);
        } else {
            let n = current.trim_end_matches('.').to_string();
            if n.len() >= 2 && !out.contains(&n) {
                out.push(n);
            }
            current.clear();
        }
    }
    out
}

/// Whether the program uses two or more distinctive numbers of one worked example that
/// the problem itself does not contain.
fn copies_an_example(problem: &str, code: &str, example_problems: &[&str]) -> bool {
    let own = distinctive_numbers(problem);
    let used = distinctive_numbers(code);
    example_problems.iter().any(|example| {
        distinctive_numbers(example).iter().filter(|n| !own.contains(n) && used.contains(n)).count()
            >= 2
    })
}

/// A program's float artifact as the short decimal it stands for: `0.01999999999998181`
/// is `0.02`, `2.0000000000000004` is `2`, `72.0` is `72`. `None` when `answer` is not
/// such a float (or is already short).
///
/// ```
/// use hypatia_solve::gates::repair_float;
/// assert_eq!(repair_float("0.01999999999998181").as_deref(), Some("0.02"));
/// assert_eq!(repair_float("2.0000000000000004").as_deref(), Some("2"));
/// assert_eq!(repair_float("72.0").as_deref(), Some("72"));
/// assert_eq!(repair_float("0.125"), None);
/// assert_eq!(repair_float("1/3"), None);
/// ```
pub fn repair_float(answer: &str) -> Option<String> {
    let t = answer.trim();
    let (int_part, frac) = t.split_once('.')?;
    let digits_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits_ok(frac) || !(digits_ok(int_part.trim_start_matches('-')) || int_part == "-") {
        return None;
    }
    if frac.chars().all(|c| c == '0') {
        return Some(if int_part == "-0" { "0".into() } else { int_part.to_string() });
    }
    if frac.len() < 10 {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    let exact = evaluate(t)?;
    for places in 0..=6u32 {
        let scale = 10f64.powi(places as i32);
        let rounded = (v * scale).round() / scale;
        if (rounded - v).abs() <= 1e-9 * v.abs().max(1.0) {
            let text = format!("{rounded:.*}", places as usize);
            let short = evaluate(&text)?;
            // Only a nearby short decimal, never a different number.
            let gap = (short - exact.clone()).abs();
            if gap.to_f64().is_some_and(|g| g <= 1e-9 * v.abs().max(1.0)) && !gap.is_zero() {
                return Some(text);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubts_of(question: &str, answer: &str) -> Vec<Doubt> {
        let p = Problem::new(question);
        Expectation::of(&p).check(p.style, answer)
    }

    #[test]
    fn counts_money_signs_and_probabilities() {
        let q = "There are 45 people on a bus. 12 get off. How many people are left on the bus?";
        assert_eq!(doubts_of(q, "183/4"), [Doubt::NotWhole]);
        assert_eq!(doubts_of(q, "33"), []);
        let q = "A shirt costs $12 and she sold it for $18. What was her profit in dollars?";
        assert_eq!(doubts_of(q, "-6"), [Doubt::Negative]);
        assert_eq!(doubts_of(q, "6.125"), [Doubt::NotCents]);
        assert_eq!(doubts_of(q, "6.5"), []);
        let q = "He had a loss of $5 a week for 3 weeks. What is his total change in money?";
        assert_eq!(doubts_of(q, "-15"), []);
        let q = "A bag has 3 red and 2 blue marbles. What is the probability of red?";
        assert_eq!(doubts_of(q, "3/2"), [Doubt::NotAProbability]);
        assert_eq!(doubts_of(q, "'night_sleep'"), [Doubt::NotANumber]);
        // Competition answers are expressions: only that the checker can read them.
        assert_eq!(doubts_of(r"Find $x$ if $x^2 = 2$.", r"\sqrt{2}"), []);
        assert_eq!(doubts_of(r"Find $x$ if $x^2 = 2$.", "x is about 1.4?"), [Doubt::Unreadable]);
    }

    #[test]
    fn a_program_built_on_a_worked_examples_numbers_is_doubted() {
        let example = "Mark has a garden with flowers. Ten of them are yellow, and there are 80% \
                       more of those in purple. There are only 25% as many green flowers.";
        let code =
            "yellow = 10\npurple = yellow * 180 / 100\ngreen = (yellow + purple) * 25 / 100\n\
                    print(yellow + purple + green + 80)";
        assert!(!copies_an_example("What is 15% of 80?", code, &[example]));
        let copied = "a = 80\nb = 25\nprint(a * 25 / 100 + 15)";
        assert!(copies_an_example("What is 15% of 60?", copied, &[example]));
        assert!(!copies_an_example("What is 25% of 80?", copied, &[example]));
    }
}
