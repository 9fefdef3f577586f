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
//! math-verify's `verify`. The gold answer licenses readings of the prediction: a
//! gold decimal `0.33` was rounded by its author, so `1/3` matches it, but a gold
//! `1/3` is not matched by `0.33`; a gold tuple accepts a bare list in its order, but a
//! gold list of solutions does not accept an ordered pair.
//!
//! **Refuse rather than guess.** Commas are thousands separators only in the
//! `1,234` shape and never inside brackets (so `1,0` is not 10 and `(1,000)` is a
//! pair), `\{1,2\}` is a set and never equals the tuple `(1,2)`, and an answer the
//! parser does not understand is compared as text.
//!
//! **Bounded.** Parsing is limited in depth and length, exact powers and factorials
//! in result size; nothing here panics or blows up on hostile input.
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

pub use equiv::{Checker, PercentPolicy};
pub use extract::{extract_answer, extract_program_answer, last_boxed, ExtractOptions};
pub use pairs::grade_pairs_jsonl;

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
