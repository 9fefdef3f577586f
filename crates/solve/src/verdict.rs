//! Reading a verifier's verdict out of free text.
//!
//! Small models do not follow an output format reliably: the verdict arrives as
//! `Verdict: CORRECT`, `**Verdict:** Incorrect.`, `\boxed{CORRECT}`, "the solution is not
//! correct", or with the format line echoed back (`Verdict: CORRECT, INCORRECT or
//! UNCLEAR`). [`parse_verdict`] prefers the most explicit signal present and answers
//! [`Verdict::Unclear`] rather than guess when there is none.

use serde::{Deserialize, Serialize};

/// A verifier's judgement of a solver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Correct,
    Incorrect,
    Unclear,
}

/// Longest feedback kept: it goes back into the solver's prompt.
const MAX_FEEDBACK: usize = 800;

const NEGATIVE: &[&str] =
    &["incorrect", "wrong", "false", "invalid", "erroneous", "mistaken", "flawed", "inaccurate"];
const POSITIVE: &[&str] = &["correct", "right", "valid", "true", "accurate", "verified"];
const UNSURE: &[&str] =
    &["unclear", "uncertain", "unsure", "undetermined", "inconclusive", "ambiguous", "unknown"];
const NEGATORS: &[&str] = &["not", "t", "never", "no", "isn", "wasn"];

/// The verdict in `text` and the feedback that goes with it.
///
/// In order of preference: the first judgement word after the last `verdict` marker
/// (skipping an echoed format line that names all three verdicts), then the last
/// upper-case `CORRECT` / `INCORRECT` / `UNCLEAR` word, then the last judgement word in
/// the closing paragraph. Negations count: "not correct" is [`Verdict::Incorrect`].
///
/// The feedback is what follows the last `feedback` marker, else the paragraph before the
/// verdict; "none" means no feedback.
///
/// ```
/// use hypatia_solve::{parse_verdict, Verdict};
/// assert_eq!(parse_verdict("Checked.\n**Verdict:** Incorrect\nFeedback: 3*4 is 12.").0, Verdict::Incorrect);
/// assert_eq!(parse_verdict("Checked.\nVerdict: INCORRECT\nFeedback: 3*4 is 12.").1, "3*4 is 12.");
/// assert_eq!(parse_verdict("I am not sure what to say.").0, Verdict::Unclear);
/// ```
pub fn parse_verdict(text: &str) -> (Verdict, String) {
    // ASCII lowering keeps byte offsets aligned with `text`.
    let lower: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if matches!(c, '*' | '_' | '`' | '#') { ' ' } else { c })
        .collect();
    let verdict = after_marker(&lower)
        .or_else(|| last_capital_verdict(text))
        .or_else(|| last_judgement(closing_paragraph(&lower)))
        .unwrap_or(Verdict::Unclear);
    (verdict, feedback(text, &lower))
}

fn after_marker(lower: &str) -> Option<Verdict> {
    let mut end = lower.len();
    while let Some(pos) = lower[..end].rfind("verdict") {
        end = pos;
        let rest = &lower[pos + "verdict".len()..];
        // The verdict may sit on the line after a bare "Verdict:" heading.
        let mut lines = rest.lines().map(str::trim).filter(|l| !l.trim_matches(':').is_empty());
        let Some(first) = lines.next() else { continue };
        let line = if first.trim_start_matches(':').trim().is_empty() {
            lines.next().unwrap_or("")
        } else {
            first
        };
        let words = words(line);
        // An echo of the format line names every verdict; it says nothing.
        if words.contains(&"incorrect") && words.contains(&"unclear") {
            continue;
        }
        if let Some(v) = first_judgement(&words) {
            return Some(v);
        }
    }
    None
}

fn last_capital_verdict(text: &str) -> Option<Verdict> {
    text.split(|c: char| !c.is_ascii_alphabetic()).rev().find_map(|w| match w {
        "CORRECT" => Some(Verdict::Correct),
        "INCORRECT" | "WRONG" => Some(Verdict::Incorrect),
        "UNCLEAR" => Some(Verdict::Unclear),
        _ => None,
    })
}

fn closing_paragraph(lower: &str) -> &str {
    let trimmed = lower.trim_end();
    match trimmed.rfind("\n\n") {
        Some(p) => &trimmed[p..],
        None => trimmed,
    }
}

fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

/// The judgement a word at `i` expresses, if any, reading the two words before it for a
/// negation.
fn judgement_at(words: &[&str], i: usize) -> Option<Verdict> {
    let w = words[i];
    if NEGATIVE.contains(&w) {
        return Some(Verdict::Incorrect);
    }
    if UNSURE.contains(&w) {
        return Some(Verdict::Unclear);
    }
    if POSITIVE.contains(&w) {
        let negated = words[i.saturating_sub(2)..i].iter().any(|p| NEGATORS.contains(p));
        return Some(if negated { Verdict::Incorrect } else { Verdict::Correct });
    }
    None
}

fn first_judgement(words: &[&str]) -> Option<Verdict> {
    (0..words.len()).find_map(|i| judgement_at(words, i))
}

fn last_judgement(paragraph: &str) -> Option<Verdict> {
    let words = words(paragraph);
    (0..words.len()).rev().find_map(|i| judgement_at(&words, i))
}

fn feedback(text: &str, lower: &str) -> String {
    let raw = match lower.rfind("feedback") {
        Some(pos) => {
            let rest = &text[pos + "feedback".len()..];
            rest.trim_start_matches(|c: char| c == ':' || c == '*' || c.is_whitespace())
        }
        None => {
            // Without a marker, the reasoning just before the verdict is the best feedback.
            let body = match lower.rfind("verdict") {
                Some(pos) => &text[..pos],
                None => text,
            };
            closing_paragraph(body.trim_end())
        }
    };
    let raw = raw.trim().trim_end_matches(['*', '_']).trim();
    let plain = raw.trim_matches(|c: char| c == '"' || c == '.' || c.is_whitespace());
    if plain.eq_ignore_ascii_case("none") || plain.eq_ignore_ascii_case("n/a") {
        return String::new();
    }
    crate::common::clip_middle(raw, MAX_FEEDBACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Verdict {
        parse_verdict(text).0
    }

    #[test]
    fn explicit_markers_in_many_spellings() {
        assert_eq!(v("Verdict: CORRECT\nFeedback: none"), Verdict::Correct);
        assert_eq!(v("**Verdict:** Incorrect."), Verdict::Incorrect);
        assert_eq!(v("### Verdict\n\nINCORRECT"), Verdict::Incorrect);
        assert_eq!(v("VERDICT - unclear"), Verdict::Unclear);
        assert_eq!(v("Verdict: The solution is not correct."), Verdict::Incorrect);
        assert_eq!(v("Verdict: the answer isn't right"), Verdict::Incorrect);
        assert_eq!(v("My verdict: `Correct` — all steps check out."), Verdict::Correct);
        assert_eq!(v("verdict: wrong"), Verdict::Incorrect);
    }

    #[test]
    fn an_echoed_format_line_is_skipped() {
        let text =
            "Verdict: INCORRECT\nFeedback: 2+2 is 4.\n\n(Verdict: CORRECT, INCORRECT or UNCLEAR)";
        assert_eq!(v(text), Verdict::Incorrect);
        assert_eq!(v("Verdict: CORRECT, INCORRECT or UNCLEAR"), Verdict::Unclear);
    }

    #[test]
    fn capital_words_and_boxes_without_a_marker() {
        assert_eq!(v("Step 2 checks out.\n\\boxed{CORRECT}"), Verdict::Correct);
        assert_eq!(v("The sum is off by one. INCORRECT"), Verdict::Incorrect);
    }

    #[test]
    fn closing_judgement_without_markers() {
        let text = "Step 1 is correct.\n\nHowever the final subtraction is wrong.";
        assert_eq!(v(text), Verdict::Incorrect);
        assert_eq!(v("Everything was checked.\n\nThe solution is correct."), Verdict::Correct);
        assert_eq!(v(""), Verdict::Unclear);
        assert_eq!(v("Let me think about it"), Verdict::Unclear);
    }

    #[test]
    fn incorrect_is_not_read_as_correct() {
        assert_eq!(v("Verdict: incorrect"), Verdict::Incorrect);
        assert_eq!(
            v("Verdict: Incorrect (the answer should be 12, which is correct)"),
            Verdict::Incorrect
        );
    }

    #[test]
    fn feedback_follows_its_marker_or_precedes_the_verdict() {
        let (_, f) = parse_verdict("Verdict: INCORRECT\n**Feedback:** The tax was added twice.");
        assert_eq!(f, "The tax was added twice.");
        let (_, f) = parse_verdict("Verdict: CORRECT\nFeedback: \"none\"");
        assert_eq!(f, "");
        let (_, f) = parse_verdict("Intro.\n\nThe price per pen is 3, not 4.\nVerdict: INCORRECT");
        assert_eq!(f, "The price per pen is 3, not 4.");
    }

    #[test]
    fn odd_input_never_panics() {
        for text in ["verdict", "Verdict:", "feedback", "é verdict é: ü", "\n\n\n", "FEEDBACK:"]
        {
            let _ = parse_verdict(text);
        }
        assert_eq!(v("verdict:\n\n"), Verdict::Unclear);
    }
}
