//! Dataset adapters: ten JSON Lines layouts in, one [`EvalItem`] shape out.
//!
//! The format of a file is detected from the fields of its first record and then
//! required of every line, so a stray record of another shape is reported with its line
//! number instead of being silently graded against the wrong field.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hypatia_solve::Style;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The file next to `gsm8k_train.jsonl` listing lines that must never be trained on.
pub const GSM8K_EXCLUDE_FILE: &str = "gsm8k_train_exclude_from_training.json";

/// One problem to evaluate, whatever file it came from.
///
/// Invariants: `id` is unique within its [`Dataset`]; `question` and `gold` are not blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalItem {
    /// The record's own identifier when it has a unique one (`unique_id`, `ID`, `idx`,
    /// `id`), otherwise its 0-based line number, so ids are stable across runs.
    pub id: String,
    /// The text given to the model.
    pub question: String,
    /// The reference answer, reduced to what a grader compares (no `####`, no units).
    pub gold: String,
    /// Topic or category when the record has one (MATH subject, course, problem type).
    pub subject: Option<String>,
    /// MATH difficulty level, 1–5.
    pub level: Option<u32>,
    /// 0-based line number in the file; the development splits are defined on it.
    pub line: usize,
    /// Word problem or competition problem, from the dataset's layout.
    pub style: Style,
}

/// The record layouts `eval` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `question`, `answer` ending in `#### N`.
    Gsm8k,
    /// `problem`, `answer`, with `subject`, `level`, `unique_id`.
    Math,
    /// `Body`, `Question`, `Answer` (a number), `ID`.
    Svamp,
    /// `body`, `question`, `answer` like `9 (apples)`, `idx`.
    Asdiv,
    /// `input`, `target` (a number), `idx`.
    Mawps,
    /// `problem`, `solution` whose last `\boxed{}` is the answer, `idx`.
    Minerva,
    /// AIME / AMC: `problem`, `answer`, `id`.
    Competition,
    /// Gaokao / CollegeMath: `question`, `answer` (LaTeX).
    QuestionAnswer,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Gsm8k => "gsm8k",
            Format::Math => "math",
            Format::Svamp => "svamp",
            Format::Asdiv => "asdiv",
            Format::Mawps => "mawps",
            Format::Minerva => "minerva",
            Format::Competition => "competition",
            Format::QuestionAnswer => "question_answer",
        }
    }

    /// The kind of problem the layout holds: GSM8K, SVAMP, ASDiv and MAWPS are word problems.
    pub fn style(self) -> Style {
        match self {
            Format::Gsm8k | Format::Svamp | Format::Asdiv | Format::Mawps => Style::Word,
            Format::Math | Format::Minerva | Format::Competition | Format::QuestionAnswer => {
                Style::Competition
            }
        }
    }

    /// Whether the development splits of the data README apply to this layout.
    pub fn has_splits(self) -> bool {
        matches!(self, Format::Gsm8k | Format::Math)
    }

    /// Picks the layout from a record's field names. The order matters: AIME records carry
    /// both `problem` and `question`, so `problem` layouts are tried before `question` ones.
    fn detect(record: &Map<String, Value>) -> Option<Format> {
        let has = |k: &str| record.contains_key(k);
        if has("Body") && has("Question") && has("Answer") {
            Some(Format::Svamp)
        } else if has("body") && has("question") && has("answer") {
            Some(Format::Asdiv)
        } else if has("input") && has("target") {
            Some(Format::Mawps)
        } else if has("problem") && has("answer") {
            if has("unique_id") || has("subject") || has("level") {
                Some(Format::Math)
            } else {
                Some(Format::Competition)
            }
        } else if has("problem") && has("solution") {
            Some(Format::Minerva)
        } else if has("question") && has("answer") {
            let gsm =
                record.get("answer").and_then(Value::as_str).is_some_and(|a| a.contains("####"));
            Some(if gsm { Format::Gsm8k } else { Format::QuestionAnswer })
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of a development file to evaluate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Lines `i % 10 == 9`.
    Dev,
    /// The other lines, minus the GSM8K exclusion list.
    Train,
    /// Every line.
    #[default]
    All,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Dev => "dev",
            Split::Train => "train",
            Split::All => "all",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dev" => Ok(Split::Dev),
            "train" => Ok(Split::Train),
            "all" => Ok(Split::All),
            other => Err(DatasetError::UnknownSplit(other.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: line {line}: {message}")]
    Line { path: PathBuf, line: usize, message: String },
    #[error("{0}: no records")]
    Empty(PathBuf),
    #[error("unknown split `{0}`; known: dev, train, all")]
    UnknownSplit(String),
    #[error(
        "{path}: --split {split} is defined only for the GSM8K and MATH development files \
         (this file is {format} format); use --split all"
    )]
    NoSplits { path: PathBuf, split: Split, format: Format },
    #[error("{path}: {message}")]
    Exclusions { path: PathBuf, message: String },
}

/// A loaded data file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub format: Format,
    /// In file order.
    pub items: Vec<EvalItem>,
    /// Well-formed records that cannot be graded, in file order.
    pub skipped: Vec<Skipped>,
}

/// A record left out of a [`Dataset`] because it cannot be graded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// 1-based, as an editor shows it.
    pub line: usize,
    pub reason: String,
}

impl Dataset {
    /// Reads and adapts a JSON Lines file. Blank lines are skipped but still counted, so
    /// line numbers (and therefore splits) match what an editor shows.
    pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
        Self::parse(path, &text)
    }

    /// Adapts JSON Lines text; `path` is used in error messages and to find the GSM8K
    /// exclusion list.
    pub fn parse(path: &Path, text: &str) -> Result<Dataset, DatasetError> {
        let line_error = |line: usize, message: String| DatasetError::Line {
            path: path.to_path_buf(),
            line: line + 1,
            message,
        };
        let mut detected = None;
        let mut skipped = Vec::new();
        let mut items = Vec::new();
        let mut first_line_of_id: HashMap<String, usize> = HashMap::new();
        for (line, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let record: Map<String, Value> = serde_json::from_str(raw)
                .map_err(|e| line_error(line, format!("not a JSON object: {e}")))?;
            let format = match detected {
                Some(f) => f,
                None => {
                    let f = Format::detect(&record).ok_or_else(|| {
                        let keys: Vec<&str> = record.keys().map(String::as_str).collect();
                        line_error(
                            line,
                            format!("unrecognised record with fields [{}]", keys.join(", ")),
                        )
                    })?;
                    detected = Some(f);
                    f
                }
            };
            let item = adapt(format, &record, line)
                .map_err(|m| line_error(line, format!("{format} record: {m}")))?;
            // Well-formed records without a gold answer exist in the published data
            // (two Gaokao rows); they cannot be graded, and one of them must not stop an
            // evaluation of the other hundreds, so they are set aside and counted.
            let blank = [("question", &item.question), ("answer", &item.gold)]
                .into_iter()
                .find(|(_, text)| text.trim().is_empty());
            if let Some((what, _)) = blank {
                skipped.push(Skipped { line: line + 1, reason: format!("empty {what}") });
                continue;
            }
            if let Some(first) = first_line_of_id.insert(item.id.clone(), line) {
                return Err(line_error(
                    line,
                    format!("duplicate id `{}` (first on line {})", item.id, first + 1),
                ));
            }
            items.push(item);
        }
        let format = detected.ok_or_else(|| DatasetError::Empty(path.to_path_buf()))?;
        Ok(Dataset { path: path.to_path_buf(), format, items, skipped })
    }

    /// The items of `split`, then, if `limit` is smaller than that, a sample of `limit`
    /// of them drawn with `seed` and returned in file order.
    ///
    /// The sample is the first `limit` of a seeded shuffle, so for one seed a smaller
    /// limit always picks a subset of a larger one: a run can be extended from 200 to
    /// 400 problems by resuming with a larger `--limit`.
    pub fn select(
        &self,
        split: Split,
        limit: Option<usize>,
        seed: u64,
    ) -> Result<Vec<EvalItem>, DatasetError> {
        if split != Split::All && !self.format.has_splits() {
            return Err(DatasetError::NoSplits {
                path: self.path.clone(),
                split,
                format: self.format,
            });
        }
        let excluded = if split == Split::Train && self.format == Format::Gsm8k {
            self.exclusions()?
        } else {
            Vec::new()
        };
        let mut chosen: Vec<EvalItem> = self
            .items
            .iter()
            .filter(|item| match split {
                Split::All => true,
                Split::Dev => item.line % 10 == 9,
                Split::Train => item.line % 10 != 9 && excluded.binary_search(&item.line).is_err(),
            })
            .cloned()
            .collect();
        if let Some(limit) = limit.filter(|&l| l < chosen.len()) {
            let mut order: Vec<usize> = (0..chosen.len()).collect();
            shuffle(&mut order, seed);
            let mut keep = order[..limit].to_vec();
            keep.sort_unstable();
            chosen = keep.into_iter().map(|i| chosen[i].clone()).collect();
        }
        Ok(chosen)
    }

    /// The sorted GSM8K exclusion list from next to the data file. Its absence is an
    /// error: a training split silently including held-out problems would be worse.
    fn exclusions(&self) -> Result<Vec<usize>, DatasetError> {
        let path = self.path.parent().unwrap_or(Path::new(".")).join(GSM8K_EXCLUDE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| DatasetError::Exclusions {
            path: path.clone(),
            message: format!("needed for --split train of GSM8K data: {e}"),
        })?;
        let mut lines: Vec<usize> =
            serde_json::from_str(&text).map_err(|e| DatasetError::Exclusions {
                path: path.clone(),
                message: format!("expected a JSON list of line numbers: {e}"),
            })?;
        lines.sort_unstable();
        Ok(lines)
    }
}

/// Fisher–Yates with SplitMix64: a few lines of our own instead of a dependency, and the
/// sample for a seed can never change under us with a `rand` upgrade.
pub(crate) fn shuffle(values: &mut [usize], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..values.len()).rev() {
        // The modulo bias is below 2^-40 for any list we could hold; irrelevant here.
        let j = (next() % (i as u64 + 1)) as usize;
        values.swap(i, j);
    }
}

fn adapt(format: Format, r: &Map<String, Value>, line: usize) -> Result<EvalItem, String> {
    let line_id = || line.to_string();
    let (id, question, gold, subject, level) = match format {
        Format::Gsm8k => {
            let answer = text(r, "answer")?;
            let (_, last) =
                answer.rsplit_once("####").ok_or("`answer` does not end with `#### N`")?;
            (line_id(), text(r, "question")?, gsm8k_number(last.trim()), None, None)
        }
        Format::Math => (
            opt_text(r, "unique_id")?.unwrap_or_else(line_id),
            text(r, "problem")?,
            text(r, "answer")?,
            opt_text(r, "subject")?.or(opt_text(r, "type")?),
            math_level(r.get("level"))?,
        ),
        Format::Svamp => (
            opt_text(r, "ID")?.unwrap_or_else(line_id),
            join_sentences(&text(r, "Body")?, &text(r, "Question")?),
            text(r, "Answer")?,
            opt_text(r, "Type")?,
            None,
        ),
        Format::Asdiv => (
            opt_text(r, "idx")?.unwrap_or_else(line_id),
            join_sentences(&text(r, "body")?, &text(r, "question")?),
            strip_unit(&text(r, "answer")?),
            opt_text(r, "solution_type")?,
            None,
        ),
        Format::Mawps => (
            opt_text(r, "idx")?.unwrap_or_else(line_id),
            text(r, "input")?,
            text(r, "target")?,
            opt_text(r, "type")?,
            None,
        ),
        Format::Minerva => {
            let solution = text(r, "solution")?;
            let gold = hypatia_grade::last_boxed(&solution).ok_or("`solution` has no \\boxed{}")?;
            (
                opt_text(r, "idx")?.unwrap_or_else(line_id),
                text(r, "problem")?,
                gold,
                opt_text(r, "type")?,
                None,
            )
        }
        Format::Competition => (
            opt_text(r, "id")?.unwrap_or_else(line_id),
            text(r, "problem")?,
            text(r, "answer")?,
            None,
            None,
        ),
        // Neither Gaokao's `id` (present on some rows only) nor CollegeMath's
        // `question_number` (repeated across textbooks) is unique, so the line is the id.
        Format::QuestionAnswer => (
            line_id(),
            text(r, "question")?,
            strip_math_delimiters(&text(r, "answer")?),
            opt_text(r, "data_topic")?,
            None,
        ),
    };
    Ok(EvalItem { id, question, gold, subject, level, line, style: format.style() })
}

/// A field as text: strings as they are, numbers in their shortest form (`27.0` → `27`).
fn opt_text(r: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match r.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(number_text(n))),
        Some(other) => Err(format!("field `{key}` should be a string or number, not {other}")),
    }
}

fn text(r: &Map<String, Value>, key: &str) -> Result<String, String> {
    opt_text(r, key)?.ok_or_else(|| format!("missing field `{key}`"))
}

fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        // Integral floats such as AMC's `27.0` are integers to a reader and a grader.
        Some(v) if n.is_f64() && v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        _ => n.to_string(),
    }
}

fn math_level(value: Option<&Value>) -> Result<Option<u32>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(|l| Some(l as u32)).ok_or_else(|| format!("bad level {n}"))
        }
        // The original Hendrycks files say "Level 3" (and "Level ?" for a few).
        Some(Value::String(s)) => Ok(s.trim_start_matches("Level").trim().parse().ok()),
        Some(other) => Err(format!("bad level {other}")),
    }
}

/// `1,080` → `1080`: GSM8K golds are plain numbers with thousands separators.
fn gsm8k_number(answer: &str) -> String {
    if answer.contains(',') && answer.chars().all(|c| c.is_ascii_digit() || ",.-".contains(c)) {
        answer.replace(',', "")
    } else {
        answer.to_string()
    }
}

/// `9 (apples)` → `9`; answers without a unit in parentheses are kept whole.
fn strip_unit(answer: &str) -> String {
    let answer = answer.trim();
    match answer.strip_suffix(')').and_then(|a| a.rsplit_once(" (")) {
        Some((value, unit)) if !value.trim().is_empty() && !unit.contains('(') => {
            value.trim().to_string()
        }
        _ => answer.to_string(),
    }
}

/// `$10-4 n$` → `10-4 n`: the dollars are markup, not part of the answer.
fn strip_math_delimiters(answer: &str) -> String {
    let a = answer.trim();
    for d in ["$$", "$"] {
        if let Some(inner) = a.strip_prefix(d).and_then(|x| x.strip_suffix(d)) {
            if !inner.contains('$') && !inner.trim().is_empty() {
                return inner.trim().to_string();
            }
        }
    }
    a.to_string()
}

fn join_sentences(body: &str, question: &str) -> String {
    format!("{} {}", body.trim(), question.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_delimiters_are_stripped() {
        assert_eq!(strip_unit("9 (apples)"), "9");
        assert_eq!(strip_unit("3:30 p.m."), "3:30 p.m.");
        assert_eq!(strip_unit("(1,2)"), "(1,2)");
        assert_eq!(strip_math_delimiters("$10-4 n$"), "10-4 n");
        assert_eq!(strip_math_delimiters("$a$ and $b$"), "$a$ and $b$");
        assert_eq!(gsm8k_number("1,080"), "1080");
        assert_eq!(gsm8k_number("-3"), "-3");
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 8);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
