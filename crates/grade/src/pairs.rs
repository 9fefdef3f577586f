//! Batch grading of `{"gold": …, "pred": …}` JSON Lines, for `hypatia grade --pairs`.
//!
//! The input is untrusted and may be endless (`/dev/zero`): lines are read one at a time
//! up to [`MAX_LINE_BYTES`], so memory stays bounded whatever arrives. JSON numbers are
//! taken as written (`2.00000000000000001` is not 2, a 23-digit integer equals itself):
//! they never pass through a float.

use std::io::{BufRead, Read, Write};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Checker;

/// Longest input line accepted, in bytes. No real pair is near it.
pub const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
struct Pair<'a> {
    #[serde(borrow)]
    gold: &'a RawValue,
    #[serde(borrow)]
    pred: &'a RawValue,
    /// The question, when known: it licenses rounding and percentages
    /// ([`Checker::with_question`]).
    #[serde(default)]
    question: Option<String>,
}

/// A JSON answer as text: strings as they are, numbers exactly as written (`27.0`),
/// `null` as no answer (which matches nothing).
fn answer_text(v: &RawValue, field: &str) -> anyhow::Result<String> {
    let raw = v.get().trim();
    match raw.as_bytes().first() {
        Some(b'"') => Ok(serde_json::from_str::<String>(raw)?),
        Some(b'-' | b'0'..=b'9') => Ok(raw.to_string()),
        _ if raw == "null" => Ok(String::new()),
        _ => bail!("field \"{field}\" must be a string or a number, got {raw:.80}"),
    }
}

/// Reads one line (without its `\n`, and a `\r` before it) into `buf`, reading at most
/// `MAX_LINE_BYTES + 1` bytes. `Ok(false)` at the end of the input.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, lineno: usize) -> anyhow::Result<bool> {
    buf.clear();
    let n = input
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buf)
        .with_context(|| format!("line {lineno}: cannot read input"))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > MAX_LINE_BYTES {
        bail!("line {lineno}: longer than {MAX_LINE_BYTES} bytes; each line must be one pair");
    }
    Ok(true)
}

impl Checker {
    /// Reads one `{"gold":…,"pred":…}` object per line (optionally with `"question"`)
    /// and writes one `{"equal":bool}` line per input line, in the same order. Returns
    /// the number of pairs graded.
    ///
    /// A line that is not such an object (a blank line included), is not UTF-8 or is
    /// longer than [`MAX_LINE_BYTES`] stops the run with an error naming its 1-based line
    /// number; the lines before it have been written.
    pub fn grade_pairs_jsonl(
        &self,
        mut input: impl BufRead,
        mut output: impl Write,
    ) -> anyhow::Result<usize> {
        let mut n = 0;
        let mut buf = Vec::new();
        loop {
            let lineno = n + 1;
            if !read_line(&mut input, &mut buf, lineno)? {
                break;
            }
            let line = std::str::from_utf8(&buf)
                .map_err(|e| anyhow::anyhow!("line {lineno}: not UTF-8 ({e})"))?;
            let pair: Pair = serde_json::from_str(line).with_context(|| {
                format!("line {lineno}: expected a JSON object {{\"gold\": ..., \"pred\": ...}}")
            })?;
            let gold = answer_text(pair.gold, "gold").with_context(|| format!("line {lineno}"))?;
            let pred = answer_text(pair.pred, "pred").with_context(|| format!("line {lineno}"))?;
            let equal = match &pair.question {
                Some(q) => self.clone().with_question(q).equivalent(&gold, &pred),
                None => self.equivalent(&gold, &pred),
            };
            writeln!(output, "{{\"equal\":{equal}}}").context("cannot write output")?;
            n += 1;
        }
        output.flush().context("cannot write output")?;
        Ok(n)
    }
}

/// [`Checker::grade_pairs_jsonl`] with the default checker.
///
/// ```
/// let input = "{\"gold\":\"1/2\",\"pred\":\"0.5\"}\n{\"gold\":\"1,0\",\"pred\":\"10\"}\n";
/// let mut out = Vec::new();
/// let n = hypatia_grade::grade_pairs_jsonl(input.as_bytes(), &mut out).unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(String::from_utf8(out).unwrap(), "{\"equal\":true}\n{\"equal\":false}\n");
/// let err = hypatia_grade::grade_pairs_jsonl("{}\n".as_bytes(), Vec::new()).unwrap_err();
/// assert!(format!("{err:#}").contains("line 1"));
/// ```
pub fn grade_pairs_jsonl(input: impl BufRead, output: impl Write) -> anyhow::Result<usize> {
    Checker::default().grade_pairs_jsonl(input, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade(input: &str) -> anyhow::Result<String> {
        let mut out = Vec::new();
        grade_pairs_jsonl(input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn json_numbers_are_exact() {
        let big = "12345678901234567890123";
        let out = grade(&format!(
            "{{\"gold\":2,\"pred\":2.00000000000000001}}\n{{\"gold\":{big},\"pred\":{big}}}\n\
             {{\"gold\":{big},\"pred\":\"{big}\"}}\n{{\"gold\":1e3,\"pred\":\"1000\"}}\n"
        ))
        .unwrap();
        assert_eq!(
            out,
            "{\"equal\":false}\n{\"equal\":true}\n{\"equal\":true}\n{\"equal\":true}\n"
        );
    }

    #[test]
    fn question_field_grants_licences() {
        let out = grade(
            "{\"gold\":\"25\",\"pred\":\"25%\",\"question\":\"What percent is left?\"}\n\
             {\"gold\":\"25\",\"pred\":\"25%\"}\n",
        )
        .unwrap();
        assert_eq!(out, "{\"equal\":true}\n{\"equal\":false}\n");
    }

    #[test]
    fn endless_line_is_refused_with_bounded_memory() {
        // An endless stream of zeros, as `/dev/zero` gives: refused after the cap.
        let zeros = std::io::BufReader::new(std::io::repeat(0));
        let err = grade_pairs_jsonl(zeros, Vec::new()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("line 1") && msg.contains("longer than"), "{msg}");
    }

    #[test]
    fn bad_lines_name_their_number() {
        let err =
            grade("{\"gold\":\"1\",\"pred\":\"1\"}\n{\"gold\":[1],\"pred\":\"1\"}\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        let mut bytes = b"{\"gold\":\"1\",\"pred\":\"1\"}\r\n".to_vec();
        bytes.extend_from_slice(b"\xff\xfe\n");
        let err = grade_pairs_jsonl(bytes.as_slice(), Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("line 2: not UTF-8"), "{err:#}");
    }
}
