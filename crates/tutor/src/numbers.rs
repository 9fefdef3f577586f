//! Numbers in free text: where they are, what exact value they have, and the arithmetic
//! claims (`12 × 4 = 48`) a student writes down.
//!
//! The checker parses answers; this module finds them in running prose first. It is
//! deliberately generous — digits with thousands separators, decimals, fractions,
//! percentages, money, number words ("forty-two") — because the leak guard built on it
//! must see every way a reply can state a number.

use hypatia_grade::evaluate;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Signed;

/// A number found in text. Invariant: `text` is `source[start..end]` of the text it was
/// found in.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub value: BigRational,
}

/// An arithmetic claim `expr = stated`, e.g. `48/2 = 24`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The left side, normalised for the checker (`×` → `*`, `$` and `%` kept as meaning).
    pub expr: String,
    pub stated: BigRational,
    /// The exact value of `expr`, when it is plain arithmetic.
    pub computed: Option<BigRational>,
    /// The numbers the expression combines, in order.
    pub operands: Vec<BigRational>,
}

impl Claim {
    /// Whether the stated result is what the expression computes (unknown counts as yes).
    pub fn is_right(&self) -> bool {
        self.computed.as_ref().is_none_or(|c| *c == self.stated)
    }
}

/// `24`, `-3/4`, `2.5`: integers as integers, terminating decimals of up to six places as
/// decimals, everything else as a fraction.
pub fn format_rational(v: &BigRational) -> String {
    if v.is_integer() {
        return v.to_integer().to_string();
    }
    let ten = BigInt::from(10);
    let mut scaled = v.clone();
    for places in 1..=6 {
        scaled *= BigRational::from_integer(ten.clone());
        if scaled.is_integer() {
            let digits = scaled.to_integer().abs().to_string();
            let digits = format!("{digits:0>width$}", width = places + 1);
            let (int, frac) = digits.split_at(digits.len() - places);
            let sign = if v.is_negative() { "-" } else { "" };
            return format!("{sign}{int}.{frac}");
        }
    }
    format!("{}/{}", v.numer(), v.denom())
}

/// Every number in `text`, left to right, non-overlapping.
///
/// ```
/// use hypatia_tutor::numbers::mentions;
/// let found: Vec<String> = mentions("She had $1,200.50, gave 3/4 and forty-two apples (15%).")
///     .into_iter().map(|m| hypatia_tutor::numbers::format_rational(&m.value)).collect();
/// assert_eq!(found, ["1200.5", "0.75", "42", "0.15"]);
/// ```
pub fn mentions(text: &str) -> Vec<Mention> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let prev_alnum = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if c.is_ascii_digit() && !prev_alnum {
            let (end, value) = digits_at(text, i);
            if let Some(value) = value {
                let start = if i > 0
                    && bytes[i - 1] == b'-'
                    && (i < 2 || !bytes[i - 2].is_ascii_alphanumeric())
                {
                    i - 1
                } else {
                    i
                };
                let value = if start < i { -value } else { value };
                out.push(Mention { start, end, text: text[start..end].to_string(), value });
            }
            i = end.max(i + 1);
            continue;
        }
        if c.is_ascii_alphabetic() && !prev_alnum {
            if let Some((end, value)) = number_words_at(text, i) {
                out.push(Mention { start: i, end, text: text[i..end].to_string(), value });
                i = end;
                continue;
            }
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    out
}

/// A numeral starting at `i`: `1,234.5`, `3/4`, `15%`. Returns where it ends and its value.
fn digits_at(text: &str, i: usize) -> (usize, Option<BigRational>) {
    let b = text.as_bytes();
    let mut j = i;
    let run = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    j = run(j);
    // Thousands groups: exactly three digits after each comma.
    while j + 4 <= b.len()
        && b[j] == b','
        && b[j + 1..j + 4].iter().all(u8::is_ascii_digit)
        && (j + 4 == b.len() || !b[j + 4].is_ascii_digit())
    {
        j += 4;
    }
    if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
        j = run(j + 1);
    }
    // A fraction written with a slash, but not a date-like chain `1/2/3`.
    if j + 1 < b.len() && b[j] == b'/' && b[j + 1].is_ascii_digit() {
        let k = run(j + 1);
        if !(k < b.len() && b[k] == b'/') {
            j = k;
        }
    }
    let mut end = j;
    if end < b.len() && b[end] == b'%' {
        end += 1;
    }
    let value = evaluate(&text[i..end].replace(',', ""));
    (end, value)
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] =
    ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

fn word_value(w: &str) -> Option<u64> {
    let w = w.to_ascii_lowercase();
    if let Some(i) = UNITS.iter().position(|u| *u == w) {
        return Some(i as u64);
    }
    TENS.iter().position(|t| *t == w).map(|i| 20 + 10 * i as u64)
}

/// Number words starting at `i`: `forty-two`, `one hundred and five`, `three thousand`.
fn number_words_at(text: &str, i: usize) -> Option<(usize, BigRational)> {
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut end = None;
    let mut pos = i;
    let b = text.as_bytes();
    loop {
        let word_end = (pos..b.len()).find(|&k| !b[k].is_ascii_alphabetic()).unwrap_or(b.len());
        if word_end == pos {
            break;
        }
        let word = &text[pos..word_end];
        let lower = word.to_ascii_lowercase();
        let ok = if let Some(v) = word_value(word) {
            current += v;
            true
        } else if lower == "hundred" {
            current = current.max(1) * 100;
            true
        } else if lower == "thousand" || lower == "million" {
            let scale = if lower == "thousand" { 1_000 } else { 1_000_000 };
            total += current.max(1) * scale;
            current = 0;
            true
        } else if lower == "and" && end.is_some() {
            // "one hundred and five": only part of the number if a number word follows.
            false
        } else {
            false
        };
        if ok {
            end = Some(word_end);
        } else if lower != "and" || end.is_none() {
            break;
        }
        // Continue over one separator: space or hyphen.
        if word_end < b.len() && (b[word_end] == b' ' || b[word_end] == b'-') {
            pos = word_end + 1;
        } else {
            break;
        }
        if total + current > 1_000_000_000 {
            break;
        }
    }
    let end = end?;
    Some((end, BigRational::from_integer(BigInt::from(total + current))))
}

/// Writes the checker's operators for the ones people type: `×`, `x` between numbers,
/// `÷`, `·`, `−`, and drops currency signs.
pub fn normalize_expr(expr: &str) -> String {
    let mut s =
        expr.replace(['×', '∗', '·'], "*").replace('÷', "/").replace('−', "-").replace('$', "");
    // `12 x 4`: an x between two numbers is a times sign.
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (k, &c) in chars.iter().enumerate() {
        if c == 'x' || c == 'X' {
            let before = chars[..k].iter().rev().find(|c| !c.is_whitespace());
            let after = chars[k + 1..].iter().find(|c| !c.is_whitespace());
            if before.is_some_and(|c| c.is_ascii_digit() || *c == ')')
                && after.is_some_and(|c| c.is_ascii_digit() || *c == '(')
            {
                out.push('*');
                continue;
            }
        }
        out.push(c);
    }
    s = out;
    s.trim().to_string()
}

/// Characters an arithmetic expression is made of, as students type them.
fn is_expr_char(c: char) -> bool {
    c.is_ascii_digit() || " +-*/().,%$×÷·−xX^".contains(c)
}

/// Every `expression = value` in `text` whose expression has an operator. Unit words
/// between numbers are skipped (`31 inches - 2 * 4 inches = 23 inches`), and in a chain
/// `a = b = c` each link is a claim whose value may itself be an expression.
///
/// ```
/// use hypatia_tutor::numbers::claims;
/// let c = claims("She sold 48 / 2 = 24 clips, then 48 + 24 = 70 in total.");
/// assert_eq!(c.len(), 2);
/// assert!(c[0].is_right());
/// assert!(!c[1].is_right());
/// let c = claims("31 inches - 2 * 4 inches = 23 inches, and 3 hours * 15 points/hour = 3 + 15 = 18 points");
/// assert_eq!(c.len(), 3);
/// assert!(c[0].is_right() && !c[1].is_right() && c[2].is_right());
/// assert!(claims("50 × 3 equals 150.")[0].is_right());
/// ```
pub fn claims(text: &str) -> Vec<Claim> {
    let text = drop_units(&text.replace(" equals ", " = ").replace(" is equal to ", " = "));
    let mut out = Vec::new();
    for (eq, _) in text.match_indices('=') {
        let left: String = text[..eq].chars().rev().take_while(|c| is_expr_char(*c)).collect();
        let left: String = left.chars().rev().collect();
        let Some(expr) = expression(&left) else { continue };
        if !has_operator(&expr) {
            continue;
        }
        let right: String = text[eq + 1..].chars().take_while(|c| is_expr_char(*c)).collect();
        let stated = match expression(&right) {
            Some(e) if has_operator(&e) => evaluate(&e),
            _ => mentions(&right)
                .into_iter()
                .next()
                .filter(|m| right[..m.start].trim().trim_start_matches('$').is_empty())
                .map(|m| m.value),
        };
        let Some(stated) = stated else { continue };
        let computed = evaluate(&expr);
        let operands = mentions(&expr).into_iter().map(|m| m.value.abs()).collect();
        out.push(Claim { expr, stated, computed, operands });
    }
    out
}

/// The arithmetic in a run of expression characters, trimmed to start at a number or
/// bracket and end at a number, bracket or percent sign.
fn expression(run: &str) -> Option<String> {
    let start = run.trim_start_matches(|c: char| !(c.is_ascii_digit() || c == '(' || c == '$'));
    let expr = normalize_expr(start);
    let expr =
        expr.trim_end_matches(|c: char| !(c.is_ascii_digit() || c == ')' || c == '%')).trim();
    (!expr.is_empty()).then(|| expr.to_string())
}

fn has_operator(expr: &str) -> bool {
    expr.chars().skip(1).any(|c| "+-*/^".contains(c))
}

/// Removes unit words that stand between a number and an operator: `4 inches (width) +`
/// becomes `4 +`, `15 points/hour =` becomes `15 =`.
fn drop_units(text: &str) -> String {
    let tokens: Vec<&str> = text.split(' ').collect();
    let is_word = |t: &str| {
        let t = t.trim_matches(|c| c == '(' || c == ')');
        !t.is_empty() && t.chars().all(|c| c.is_alphabetic() || c == '/' || c == '\'')
    };
    let ends_number = |t: &str| t.ends_with(|c: char| c.is_ascii_digit() || c == '%' || c == ')');
    let starts_operator =
        |t: &str| t.starts_with(|c: char| "+-*/×÷=x".contains(c)) && !is_word(t) || t == "x";
    let mut keep = vec![true; tokens.len()];
    let mut i = 0;
    while i < tokens.len() {
        if ends_number(tokens[i]) {
            let mut j = i + 1;
            while j < tokens.len() && is_word(tokens[j]) && tokens[j] != "x" {
                j += 1;
            }
            if j > i + 1 && j < tokens.len() && j - i <= 4 && starts_operator(tokens[j]) {
                keep[i + 1..j].iter_mut().for_each(|k| *k = false);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    tokens.iter().zip(keep).filter(|(_, k)| *k).map(|(t, _)| *t).collect::<Vec<_>>().join(" ")
}

/// Whether two values are the same number: exact, or equal after rounding the one with
/// the fewest decimals (a student who writes 33.33 for 100/3 made no mistake).
pub fn same_number(truth: &BigRational, written: &BigRational) -> bool {
    if truth == written {
        return true;
    }
    let places = decimals(written);
    if places == 0 || places > 6 {
        return false;
    }
    let scale = BigRational::from_integer(BigInt::from(10).pow(places));
    let rounded = (truth * &scale).round() / scale;
    &rounded == written
}

/// Decimal places of a terminating decimal, or 0 (integers, or not terminating).
fn decimals(v: &BigRational) -> u32 {
    let mut s = v.clone();
    for places in 0..=6u32 {
        if s.is_integer() {
            return places;
        }
        s *= BigRational::from_integer(BigInt::from(10));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> BigRational {
        evaluate(s).unwrap()
    }

    #[test]
    fn formats_rationals() {
        assert_eq!(format_rational(&r("24")), "24");
        assert_eq!(format_rational(&r("-5/2")), "-2.5");
        assert_eq!(format_rational(&r("1/3")), "1/3");
        assert_eq!(format_rational(&r("1/20")), "0.05");
    }

    #[test]
    fn finds_numbers_not_parts_of_words() {
        let m = mentions("Room B12 has 3 chairs; -4 degrees; version2 one hundred and five");
        let v: Vec<String> = m.iter().map(|m| format_rational(&m.value)).collect();
        assert_eq!(v, ["3", "-4", "105"]);
        assert!(mentions("someone, nobody, often, tone, hundreds").is_empty());
        let bare: Vec<String> = mentions("a hundred and a thousand")
            .iter()
            .map(|m| format_rational(&m.value))
            .collect();
        assert_eq!(bare, ["100", "1000"]);
    }

    #[test]
    fn times_signs() {
        assert_eq!(normalize_expr("12 x 4"), "12 * 4");
        assert_eq!(normalize_expr("$3 × 2 ÷ 6"), "3 * 2 / 6");
        let c = claims("12 x 4 = 46");
        assert_eq!(c[0].computed, Some(r("48")));
        assert_eq!(c[0].operands, [r("12"), r("4")]);
    }

    #[test]
    fn rounded_decimals_are_the_same_number() {
        assert!(same_number(&r("100/3"), &r("33.33")));
        assert!(!same_number(&r("100/3"), &r("33.4")));
        assert!(!same_number(&r("48"), &r("46")));
    }

    #[test]
    fn a_lone_equals_or_words_is_not_a_claim() {
        assert!(claims("x = 5 and total = 7").is_empty());
        assert!(claims("= 5").is_empty());
    }
}
