//! Answer extraction and equivalence for Hypatia.
//!
//! Every accuracy figure, vote, reward and answer-leak check in Hypatia asks one
//! question: is this predicted answer the gold answer? This crate answers it.
//!
//! * [`extract_answer`] finds the final answer in a model's response (the last
//!   `\boxed{…}`, "the answer is …", `#### N`, optionally the last number), and
//!   [`extract_program_answer`] in a program's output.
//! * [`equivalent`] (or a configured [`Checker`]) decides equivalence.
//!
//! # Design
//!
//! **Exact rational arithmetic.** Integers, decimals and fractions are compared as
//! arbitrary-precision (Gaussian) rationals, so `0.001` and `0.0015` differ, `1/3`
//! and `0.333333333333` differ, and `2^{64}` is exact. Graders that use an absolute
//! tolerance (`1e-3`) call many different answers equal; we never do. Floating point
//! is used only where the value is irrational or symbolic (`\sqrt2`, `\pi`, `2x+2`),
//! with a tolerance *relative* to the magnitude of the terms involved.
//!
//! **Gold first, asymmetric.** `equivalent(gold, pred)` is not symmetric, like
//! math-verify's `verify`. The gold answer licenses readings of the prediction: a gold
//! `50\%` accepts `50` (the gold says it is a percentage), a gold `\approx 0.33` accepts
//! `1/3`; a gold tuple accepts a bare list in its order, but a gold list of solutions
//! does not accept an ordered pair.
//!
//! **Refuse rather than guess: an answer is read completely or not at all.** An answer
//! the parser cannot read completely — a stray symbol such as `?` or `@`, two
//! numbers side by side (`2 4`), words in the middle (`5 apples 3`) — is never equal to
//! anything but the same text, after case folding and dropping whitespace that does not
//! separate two letters or digits. No part of it is guessed at, and nothing it contains
//! turns a comparison into a looser one (before, `-5 €` fell back to comparing letters
//! and digits, lost its sign and equalled `5`). The reason: every accuracy, vote, reward
//! and "you're right!" rests on this function, and a false *match* silently inflates
//! them all, while a false *mismatch* shows up as a wrong answer someone can inspect.
//!
//! What the parser does read, it reads by stated rules:
//! * Commas and single spaces are thousands separators only in the `1,234` / `2 000 000`
//!   shape (one kind of separator, groups of three) and never inside brackets, so `1,0`
//!   is a list and `(1,000)` a pair; a top-level `70,110` is read both ways (MATH's lists),
//!   but never as a list of zero-padded numbers (`1,000` is not `1, 0`).
//! * `4 1/2` is a mixed number (an integer, a space, a proper fraction); other numbers
//!   side by side are refused, not multiplied.
//! * Magnitude words multiply (`2.5 thousand`, `3 dozen`); operation words operate
//!   (`2 squared`, `2 plus 3`, `12 divided by 4`); other trailing words are labels
//!   (`12 apples`). A label that names a unit keeps it: when both sides carry units they
//!   must measure the same thing and agree after exact conversion (`5 km` = `5000 m` ≠
//!   `5 m`); a unit on one side only is dropped.
//! * `x\%` is x/100. A dropped sign is forgiven only where the answer is known to be a
//!   percentage: the gold carries the sign, or the question asks for a percentage
//!   ([`Checker::with_question`]). So `0.5` ≠ `0.5\%`.
//! * A decimal gold is exact: `0.5` ≠ `7/15` and `0.33` ≠ `1/3`, unless the question
//!   licenses rounding ("to the nearest hundredth") or the gold says `\approx`. Floating
//!   point, with a relative tolerance of 1e-9 that covers its own error and never
//!   rounding, is used only where a value cannot be computed exactly (`\sqrt2`, `\pi`).
//! * Symbolic answers are compared at points on both sides of zero, near it and away
//!   from it, so `|x|`, `\sqrt{x^2}` and `x/|x|` differ from `x` and `1`.
//! * Text answers compare as text in order (`no` ≠ `on`); a true chain of constants
//!   (`48/2 = 24`) states its value, a false one (`2+3=6`) is refused; an explanation
//!   after `because`/`since` is not part of the answer.
//!
//! ```
//! use hypatia_grade::equivalent;
//! assert!(equivalent(r"\frac{1}{2}", "0.5"));
//! assert!(equivalent(r"(-\infty, 0] \cup [4, \infty)", r"[4,\infty)\cup(-\infty,0]"));
//! assert!(equivalent("x > 3", r"(3, \infty)"));
//! assert!(!equivalent("1,0", "10"));
//! assert!(!equivalent(r"\{1,2\}", "(1,2)"));
//! ```

mod equiv;
mod eval;
mod extract;
mod lex;
mod pairs;
mod parse;
mod question;
mod units;

pub use equiv::{Checker, PercentPolicy};
pub use extract::{extract_answer, extract_program_answer, last_boxed, ExtractOptions};
pub use pairs::{grade_pairs_jsonl, MAX_LINE_BYTES};

/// Whether `pred` is a correct answer for the gold answer `gold`, with the default
/// [`Checker`]. Gold first: see the crate documentation for why order matters.
///
/// ```
/// use hypatia_grade::equivalent;
/// assert!(equivalent("x=2", "2"));
/// assert!(equivalent("2, 3", "3, 2"));
/// assert!(!equivalent("0.001", "0.0015"));
/// ```
pub fn equivalent(gold: &str, pred: &str) -> bool {
    Checker::default().equivalent(gold, pred)
}

/// Whether `pred` answers `question` correctly when `gold` is its reference answer: the
/// default [`Checker`] with the licences the question's wording grants (rounding "to the
/// nearest tenth", a percentage asked for without its sign). Everything that scores a
/// prediction against a data set's gold (eval, verified data, rewards) calls this one.
///
/// ```
/// use hypatia_grade::correct_for;
/// assert!(correct_for("What percent of 80 is 20?", "25", "25%"));
/// assert!(!correct_for("How many apples are left?", "25", "25%"));
/// ```
pub fn correct_for(question: &str, gold: &str, pred: &str) -> bool {
    Checker::default().with_question(question).equivalent(gold, pred)
}

/// Whether the checker can read `answer` completely (as a number, an expression, a set,
/// an interval, …). An answer it cannot read is compared only as text; for a competition
/// problem that is a sign the answer is prose or broken notation.
///
/// ```
/// assert!(hypatia_grade::readable(r"\frac{\sqrt3}{2}"));
/// assert!(hypatia_grade::readable("(1, 2]"));
/// assert!(!hypatia_grade::readable("the area is 12?"));
/// ```
pub fn readable(answer: &str) -> bool {
    equiv::readable(answer)
}

/// Whether `word` names a unit of measure (`minutes`, `km`, `dollars`, `cups`): after
/// "how many", a unit asks for a measure, anything else for a count.
///
/// ```
/// assert!(hypatia_grade::names_unit("minutes"));
/// assert!(!hypatia_grade::names_unit("apples"));
/// ```
pub fn names_unit(word: &str) -> bool {
    units::is_unit_word(word)
}

/// The exact value of an arithmetic expression (`12*3 + 1/2`, `\frac{3}{4} \cdot 8`,
/// `15%`), or `None` when it is not a real rational number (symbols, irrationals,
/// relations, lists, anything unparsed). Thousands separators follow the same rules as
/// [`equivalent`]. The tutor uses it to recompute a student's arithmetic exactly.
///
/// ```
/// use hypatia_grade::evaluate;
/// use num_rational::BigRational;
/// assert_eq!(evaluate("12*3 + 1/2"), Some(BigRational::new(73.into(), 2.into())));
/// assert_eq!(evaluate("1,200 - 200").map(|v| v.to_string()), Some("1000".to_string()));
/// assert_eq!(evaluate(r"\sqrt{2}"), None);
/// assert_eq!(evaluate("x + 1"), None);
/// ```
pub fn evaluate(expr: &str) -> Option<num_rational::BigRational> {
    let cleaned = lex::clean(expr);
    let tokens = lex::tokenize_with(&cleaned, true)?;
    let node = parse::parse(&tokens)?;
    let value = eval::exact(&node)?;
    num_traits::Zero::is_zero(&value.im).then_some(value.re)
}
