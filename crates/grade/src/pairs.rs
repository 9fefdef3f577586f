//! Batch grading of `{"gold": …, "pred": …}` JSON Lines, for `hypatia grade --pairs`.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

use crate::Checker;

#[derive(Deserialize)]
struct Pair {
    gold: Value,
    pred: Value,
}

/// A JSON answer as text: strings as they are, numbers as written (`27.0`), `null` as
/// no answer (which matches nothing).
fn answer_text(v: &Value, field: &str) -> anyhow::Result<String> {
    Ok(match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => bail!("field \"{field}\" must be a string or a number, got {other}"),
    })
}

impl Checker {
    /// Reads one `{"gold":…,"pred":…}` object per line and writes one `{"equal":bool}`
    /// line per input line, in the same order. Returns the number of pairs graded.
    ///
    /// A line that is not such an object (a blank line included) stops the run with an
    /// error naming its 1-based line number; the lines before it have been written.
    pub fn grade_pairs_jsonl(
        &self,
        input: impl BufRead,
        mut output: impl Write,
    ) -> anyhow::Result<usize> {
        let mut n = 0;
        for (i, line) in input.lines().enumerate() {
            let lineno = i + 1;
            let line = line.with_context(|| format!("line {lineno}: cannot read input"))?;
            let pair: Pair = serde_json::from_str(&line).with_context(|| {
                format!("line {lineno}: expected a JSON object {{\"gold\": ..., \"pred\": ...}}")
            })?;
            let gold = answer_text(&pair.gold, "gold").with_context(|| format!("line {lineno}"))?;
            let pred = answer_text(&pair.pred, "pred").with_context(|| format!("line {lineno}"))?;
            let equal = self.equivalent(&gold, &pred);
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
