//! `results.jsonl`: one graded problem per line, appended as each one finishes.
//!
//! The file is the run's only state. Appending a line per problem (flushed at once)
//! means a killed run loses at most the line being written, and resuming is reading the
//! file back: there is no separate checkpoint that could disagree with it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub const RESULTS_FILE: &str = "results.jsonl";

/// One graded problem.
///
/// Invariant: `correct` implies `prediction.is_some()` and `error.is_none()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub id: String,
    pub question: String,
    pub gold: String,
    /// The strategy's final answer; `None` when it gave none or failed.
    pub prediction: Option<String>,
    pub correct: bool,
    /// The strategy label of the run (see `EvalOptions::strategy_label`).
    pub strategy: String,
    pub model: String,
    /// File name of the data set, without its directory, so that a run can be resumed
    /// from another working directory.
    pub data: String,
    /// Completion tokens generated for this problem.
    pub tokens: u64,
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Wall-clock seconds from the start of the solve to its end.
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// Why the strategy failed, when it did; the problem then counts as wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The text a reader would see (reasoning or explanation).
    #[serde(default)]
    pub text: String,
    /// The strategy's serialized `Solution.trace` (null after an error).
    #[serde(default)]
    pub trace: serde_json::Value,
    /// How much the strategy trusts its answer, in `[0, 1]` (`auto`'s calibrated
    /// confidence, `vote`'s agreement); absent where the strategy has no measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// Reads `DIR/results.jsonl`, tolerating a torn last line.
///
/// A last line that does not parse is what a killed writer leaves behind; it is dropped
/// and, when `repair` is set, cut off the file so that the next append starts on a line
/// of its own. A bad line anywhere else means the file is not ours: that is an error.
pub fn read_results(path: &Path, repair: bool) -> anyhow::Result<Vec<ResultRecord>> {
    read_jsonl(path, repair, "a result record")
}

/// The records of an append-only JSON Lines file, with [`read_results`]'s handling of a
/// torn last line; `what` names a record in errors.
pub fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
    repair: bool,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    let (records, whole_len) = read_whole_lines(path, what)?;
    if repair {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if whole_len < len {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot repair {}", path.display()))?;
            file.set_len(whole_len)
                .with_context(|| format!("cannot truncate {}", path.display()))?;
        }
    }
    Ok(records)
}

/// The records of the whole lines of a JSON Lines file, and the byte length those lines
/// (and blank ones) take: a torn last line is left out of both, a bad line elsewhere is an
/// error (see [`read_results`]). A missing file has no records.
pub fn read_whole_lines<T: DeserializeOwned>(
    path: &Path,
    what: &str,
) -> anyhow::Result<(Vec<T>, u64)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut records = Vec::new();
    let mut good_end = 0;
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        line_no += 1;
        let end = bytes[start..].iter().position(|&b| b == b'\n').map(|p| start + p);
        let line = &bytes[start..end.unwrap_or(bytes.len())];
        let is_last = end.is_none_or(|e| e + 1 >= bytes.len());
        let next = end.map_or(bytes.len(), |e| e + 1);
        if line.iter().all(u8::is_ascii_whitespace) {
            start = next;
            good_end = next;
            continue;
        }
        match (serde_json::from_slice::<T>(line), end) {
            // A complete line needs its newline; without one the writer may have died
            // just before writing it, and the next append would run the lines together.
            (Ok(record), Some(_)) => {
                records.push(record);
                good_end = next;
            }
            _ if is_last => break,
            (Err(e), _) => {
                bail!("{}: line {line_no} is not {what}: {e}", path.display())
            }
            // Only the last line can lack its newline, and that case is handled above.
            (Ok(_), None) => break,
        }
        start = next;
    }
    Ok((records, good_end as u64))
}

/// Appends records, one flushed line each (written whole, so a kill tears at most the
/// last line).
/// Appends one JSON object a line, flushed after each, so a killed run loses at most the
/// line being written.
pub struct JsonlWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonlWriter {
    pub fn append_to(path: &Path) -> anyhow::Result<JsonlWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        Ok(JsonlWriter { path: path.to_path_buf(), out: BufWriter::new(file) })
    }

    pub fn write<T: Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ResultRecord {
        ResultRecord {
            id: id.into(),
            question: "q".into(),
            gold: "1".into(),
            prediction: Some("1".into()),
            correct: true,
            strategy: "cot".into(),
            model: "m".into(),
            data: "d.jsonl".into(),
            tokens: 3,
            prompt_tokens: 5,
            seconds: 0.5,
            subject: None,
            level: None,
            error: None,
            text: String::new(),
            trace: serde_json::Value::Null,
            confidence: None,
        }
    }

    #[test]
    fn torn_last_line_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        let mut w = JsonlWriter::append_to(&path).unwrap();
        w.write(&record("a")).unwrap();
        w.write(&record("b")).unwrap();
        drop(w);
        let full = std::fs::read(&path).unwrap();
        // Cut inside the second line, and also exactly before its newline.
        for cut in [full.len() - 10, full.len() - 1] {
            std::fs::write(&path, &full[..cut]).unwrap();
            let got = read_results(&path, true).unwrap();
            assert_eq!(got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a"]);
            let repaired = std::fs::read(&path).unwrap();
            assert!(repaired.ends_with(b"\n") && repaired.len() < cut, "{}", repaired.len());
        }
    }

    #[test]
    fn bad_middle_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        let good = serde_json::to_string(&record("a")).unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
        let err = read_results(&path, false).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
