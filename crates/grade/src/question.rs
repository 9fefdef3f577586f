//! What a question's wording licenses the checker to accept: rounding ("to the nearest
//! tenth") and a percentage written without its sign ("what percent …?").
//!
//! The checker compares a gold answer with a prediction and cannot know on its own
//! whether a gold `0.33` was rounded or is exact, or whether a gold `25` is a count or a
//! percentage. The question says so; reading it here keeps the checker strict where
//! the question is silent.

/// The licences one question grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Licences {
    /// Decimal places the answer is rounded to (negative: tens, hundreds).
    pub rounded_to: Option<i32>,
    /// The asking sentence wants a percentage.
    pub asks_percent: bool,
}

/// Rounding targets after "nearest", longest first so "hundredth" is not "hundred".
const NEAREST: &[(&str, i32)] = &[
    ("hundred-thousandth", 5),
    ("hundred thousandth", 5),
    ("ten-thousandth", 4),
    ("ten thousandth", 4),
    ("thousandth", 3),
    ("hundredth", 2),
    ("tenth", 1),
    ("cent", 2),
    ("whole", 0),
    ("integer", 0),
    ("thousand", -3),
    ("hundred", -2),
    ("ten", -1),
];

const SMALL_NUMBERS: [&str; 10] =
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

pub(crate) fn licences(question: &str) -> Licences {
    let lower = question.to_lowercase();
    Licences { rounded_to: rounding(&lower), asks_percent: asks_percent(&lower) }
}

/// Whole units after "to the nearest" ("nearest dollar", "nearest degree").
const WHOLE_UNITS: &[&str] = &[
    "dollar",
    "percent",
    "degree",
    "unit",
    "minute",
    "hour",
    "second",
    "day",
    "inch",
    "foot",
    "meter",
    "metre",
    "centimeter",
    "mile",
    "pound",
    "gram",
    "person",
    "square",
];

fn rounding(q: &str) -> Option<i32> {
    // "to the nearest tenth", "rounded to the nearest whole number".
    for (pos, _) in q.match_indices("nearest") {
        let before = q[..pos].trim_end();
        if !(before.ends_with("to the") || before.ends_with("to")) {
            continue;
        }
        let rest = q[pos + "nearest".len()..].trim_start();
        let is_word = |w: &str| {
            rest.starts_with(w)
                && !rest[w.len()..].starts_with(|c: char| c.is_ascii_alphabetic() && c != 's')
        };
        if let Some((_, k)) = NEAREST.iter().find(|(w, _)| is_word(w)) {
            return Some(*k);
        }
        if WHOLE_UNITS.iter().any(|w| is_word(w)) {
            return Some(0);
        }
    }
    // "to 2 decimal places", "two decimal places", "one decimal place".
    for (pos, _) in q.match_indices("decimal place") {
        let before = q[..pos].trim_end();
        let word = before.rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
        if let Ok(k) = word.parse::<i32>() {
            return Some(k);
        }
        if let Some(k) = SMALL_NUMBERS.iter().position(|w| *w == word) {
            return Some(k as i32);
        }
    }
    None
}

/// Whether the sentence that asks (the last one with a question mark, else the last
/// one) mentions a percentage.
fn asks_percent(q: &str) -> bool {
    let sentences: Vec<&str> =
        q.split_inclusive(['.', '?', '!', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect();
    let asking = sentences
        .iter()
        .rev()
        .find(|s| s.ends_with('?'))
        .or_else(|| sentences.last())
        .copied()
        .unwrap_or("");
    asking.contains("percent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_phrases() {
        let r = |q: &str| licences(q).rounded_to;
        assert_eq!(r("Express your answer as a decimal to the nearest tenth."), Some(1));
        assert_eq!(r("Round to the nearest hundredth."), Some(2));
        assert_eq!(r("to the nearest hundred"), Some(-2));
        assert_eq!(r("to the nearest whole number"), Some(0));
        assert_eq!(r("to the nearest cent"), Some(2));
        assert_eq!(r("to the nearest dollar"), Some(0));
        assert_eq!(r("Give your answer to 3 decimal places."), Some(3));
        assert_eq!(r("rounded to two decimal places"), Some(2));
        assert_eq!(r("Express your answer as a decimal."), None);
        assert_eq!(r("How many apples are left?"), None);
        assert_eq!(r("The nearest town is 5 km away. How far did he drive?"), None);
    }

    #[test]
    fn percent_is_read_from_the_asking_sentence() {
        let p = |q: &str| licences(q).asks_percent;
        assert!(p("Tom had 80 apples and ate 20. What percent did he eat?"));
        assert!(p("What percentage of the class passed?"));
        assert!(!p("A 20 percent discount applies. How much does he pay?"));
        assert!(!p("He pays 20% tax. How much does he pay?"));
    }
}
