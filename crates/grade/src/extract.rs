//! Pulling the final answer out of free text or program output.
//!
//! Models announce answers in many ways; we prefer the most explicit marker present
//! (a box), then an announcing phrase, then GSM8K's `####`, and only then — if the
//! caller allows it — the last number in the text, which is a guess.

/// How [`extract_answer`] behaves when the text has no explicit answer marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Fall back to the last number in the text when nothing marks the answer.
    /// Graders of GSM8K-style output usually want this; leak checks and reward
    /// functions that must not credit a stray number do not.
    pub last_number_fallback: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { last_number_fallback: true }
    }
}

/// Longest answer we return: a model that rambles inside a box is still bounded.
const MAX_ANSWER_LEN: usize = 4096;

/// Extracts the final answer from a model's response.
///
/// In order of preference: the last `\boxed{…}` / `\fbox{…}` (nested braces,
/// and the brace-less `\boxed 5`), the last "the answer is …" / "Final Answer: …",
/// GSM8K's `#### N`, and finally the last number when
/// [`ExtractOptions::last_number_fallback`] is on.
///
/// ```
/// use hypatia_grade::{extract_answer, ExtractOptions};
/// let o = ExtractOptions::default();
/// assert_eq!(extract_answer(r"so $x=\boxed{\frac{1}{2}}$.", &o).as_deref(), Some(r"\frac{1}{2}"));
/// assert_eq!(extract_answer("Total: 3 + 4 = 7 apples", &o).as_deref(), Some("7"));
/// let strict = ExtractOptions { last_number_fallback: false };
/// assert_eq!(extract_answer("Total: 3 + 4 = 7 apples", &strict), None);
/// ```
pub fn extract_answer(text: &str, opts: &ExtractOptions) -> Option<String> {
    if let Some(b) = last_boxed(text) {
        return Some(b);
    }
    if let Some(a) = answer_phrase(text) {
        return Some(a);
    }
    if let Some(a) = hashes(text) {
        return Some(a);
    }
    if opts.last_number_fallback {
        return last_number(text);
    }
    None
}

/// The content of the last `\boxed{…}` or `\fbox{…}` in `text`, braces balanced.
///
/// ```
/// use hypatia_grade::last_boxed;
/// assert_eq!(last_boxed(r"\boxed{1} then \boxed{\frac{a}{b}}").as_deref(), Some(r"\frac{a}{b}"));
/// assert_eq!(last_boxed(r"$\boxed 5$").as_deref(), Some("5"));
/// assert_eq!(last_boxed(r"\boxed{unclosed"), None);
/// ```
pub fn last_boxed(text: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for marker in ["\\boxed", "\\fbox"] {
        // Search from the right, skipping malformed boxes so that a truncated final
        // box does not hide an earlier complete one.
        let mut end = text.len();
        while let Some(pos) = text[..end].rfind(marker) {
            if best.as_ref().is_some_and(|(p, _)| *p > pos) {
                break;
            }
            if let Some(content) = box_content(&text[pos + marker.len()..]) {
                best = Some((pos, content));
                break;
            }
            end = pos;
        }
    }
    best.map(|(_, s)| s)
}

fn box_content(rest: &str) -> Option<String> {
    // `\boxedfoo` is another command, not a box.
    if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let trimmed = rest.trim_start();
    if let Some(inner) = trimmed.strip_prefix('{') {
        let mut depth = 1usize;
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        let content = inner[..i].trim();
                        return if content.is_empty() { None } else { clip(content) };
                    }
                }
                _ => {}
            }
        }
        return None;
    }
    if rest.len() == trimmed.len() {
        // `\boxed5` is not valid LaTeX for a box with argument 5 ... but `\boxed 5` is.
        return None;
    }
    let end =
        trimmed.find(|c: char| c == '$' || c.is_whitespace() || c == '\\').unwrap_or(trimmed.len());
    let s = trimmed[..end].trim_end_matches(['.', ',']);
    if s.is_empty() {
        None
    } else {
        clip(s)
    }
}

fn clip(s: &str) -> Option<String> {
    if s.len() > MAX_ANSWER_LEN {
        None
    } else {
        Some(s.to_string())
    }
}

/// "The answer is …", "Final Answer: …" and friends; the last one in the text wins.
fn answer_phrase(text: &str) -> Option<String> {
    const PHRASES: [&str; 5] =
        ["the final answer is", "final answer:", "the answer is", "answer is:", "answer:"];
    let lower = text.to_ascii_lowercase();
    let mut best: Option<(usize, usize)> = None;
    for p in PHRASES {
        if let Some(pos) = lower.rfind(p) {
            let end = pos + p.len();
            // Prefer the latest start; among phrases starting at the same place the
            // longest (listed first) already won.
            if best.is_none_or(|(b, _)| pos > b) {
                best = Some((pos, end));
            }
        }
    }
    let (_, end) = best?;
    let rest = text[end..].trim_start_matches([':', ' ', '\t']);
    // "The final answer is $5$. I hope it is correct." — take the math span if one
    // opens the remainder.
    let candidate = if let Some(after) = rest.strip_prefix("$$") {
        after.split("$$").next().unwrap_or("")
    } else if let Some(after) = rest.strip_prefix('$') {
        after.split('$').next().unwrap_or("")
    } else if let Some(after) = rest.strip_prefix("\\(") {
        after.split("\\)").next().unwrap_or("")
    } else if let Some(after) = rest.strip_prefix("\\[") {
        after.split("\\]").next().unwrap_or("")
    } else {
        let line = rest.lines().next().unwrap_or("");
        sentence(line)
    };
    let s = candidate.trim().trim_end_matches(['.', ',', ';', '!']).trim();
    if s.is_empty() {
        None
    } else {
        clip(s)
    }
}

/// The first sentence of `line`: a full stop ends it only when followed by a space or
/// the end, so decimals like `3.5` survive.
fn sentence(line: &str) -> &str {
    let b = line.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'.' && (i + 1 == b.len() || b[i + 1] == b' ') {
            return &line[..i];
        }
    }
    line
}

fn hashes(text: &str) -> Option<String> {
    let pos = text.rfind("####")?;
    let rest = text[pos + 4..].lines().next().unwrap_or("").trim();
    let s = rest.trim_end_matches('.').trim();
    if s.is_empty() {
        None
    } else {
        clip(&s.replace(',', ""))
    }
}

/// The last number in `text` (integer, decimal, or simple fraction `a/b`), with
/// thousands separators removed.
fn last_number(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = b.len();
    // Find the last digit, then grow the number leftwards.
    while i > 0 && !b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == 0 {
        return None;
    }
    let end = i;
    let mut start = end;
    while start > 0 {
        let c = b[start - 1];
        let digit_before = start >= 2 && b[start - 2].is_ascii_digit();
        if c.is_ascii_digit() || ((c == b'.' || c == b',' || c == b'/') && digit_before) {
            start -= 1;
        } else {
            break;
        }
    }
    if start > 0 && b[start - 1] == b'-' {
        start -= 1;
    }
    let raw = &text[start..end];
    // Commas are thousands separators only in the `1,234,567` shape; otherwise the
    // number is the part after the last comma ("1,2" is two numbers).
    let raw = match raw.split_once(',') {
        Some(_) if is_grouped(raw) => raw.replace(',', ""),
        Some(_) => raw.rsplit(',').next().unwrap_or(raw).to_string(),
        None => raw.to_string(),
    };
    clip(&raw)
}

fn is_grouped(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let int_part = s.split(['.', '/']).next().unwrap_or("");
    let mut groups = int_part.split(',');
    let first = groups.next().unwrap_or("");
    (1..=3).contains(&first.len())
        && groups.all(|g| g.len() == 3 && g.bytes().all(|c| c.is_ascii_digit()))
}

/// The answer a program printed: its last non-empty line of output.
///
/// Programs written by a model often print a label or a box; both are peeled off.
///
/// ```
/// use hypatia_grade::extract_program_answer;
/// assert_eq!(extract_program_answer("step 1\n42\n\n").as_deref(), Some("42"));
/// assert_eq!(extract_program_answer("Answer: 3/4\n").as_deref(), Some("3/4"));
/// assert_eq!(extract_program_answer("  \n"), None);
/// ```
pub fn extract_program_answer(stdout: &str) -> Option<String> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    if let Some(b) = last_boxed(line) {
        return Some(b);
    }
    if let Some(a) = answer_phrase(line) {
        return Some(a);
    }
    clip(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_box() {
        assert_eq!(
            last_boxed(r"\boxed{\begin{pmatrix}1\\2\end{pmatrix}}").as_deref(),
            Some(r"\begin{pmatrix}1\\2\end{pmatrix}")
        );
        assert_eq!(last_boxed(r"\fbox{7}").as_deref(), Some("7"));
        assert_eq!(last_boxed(r"\boxed{1} \boxed{2").as_deref(), Some("1"));
    }

    #[test]
    fn phrases() {
        let o = ExtractOptions::default();
        assert_eq!(
            extract_answer(
                "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.",
                &o
            )
            .as_deref(),
            Some("\\frac{3}{4}")
        );
        assert_eq!(extract_answer("so the answer is 3.5.", &o).as_deref(), Some("3.5"));
        assert_eq!(extract_answer("blah\n#### 1,234", &o).as_deref(), Some("1234"));
    }

    #[test]
    fn fallback_number() {
        assert_eq!(last_number("we get 1,234,567 total").as_deref(), Some("1234567"));
        assert_eq!(last_number("pair 1,2").as_deref(), Some("2"));
        assert_eq!(last_number("it is -3/4.").as_deref(), Some("-3/4"));
        assert_eq!(last_number("none"), None);
    }
}
