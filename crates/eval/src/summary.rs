//! `summary.json`: the figures of a run, computed from its result records.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::datasets::Skipped;
use crate::results::ResultRecord;
use crate::stats::{mean, median, Proportion};

pub const SUMMARY_FILE: &str = "summary.json";

/// Accuracy of a group of problems, with its 95 % Wilson interval.
///
/// Invariant: `correct <= n` and `ci95_low <= accuracy <= ci95_high`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub n: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

impl From<Proportion> for Bucket {
    fn from(p: Proportion) -> Bucket {
        Bucket {
            n: p.n,
            correct: p.correct,
            accuracy: p.accuracy,
            ci95_low: p.low,
            ci95_high: p.high,
        }
    }
}

/// The run's figures. Field names are part of the command-line contract (DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The data file as given on the command line.
    pub data: String,
    pub format: String,
    pub split: String,
    pub limit: Option<usize>,
    pub seed: u64,
    pub strategy: String,
    pub model: String,
    /// Problems selected for this run.
    pub selected: u64,
    /// Records of the data file left out because they cannot be graded (no gold answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Problems graded so far (`n == selected` once the run is complete).
    pub n: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// Problems whose solve failed (counted as wrong).
    pub errors: u64,
    /// Problems with no extractable answer, failures included.
    pub no_answer: u64,
    pub tokens_generated: u64,
    pub prompt_tokens: u64,
    pub tokens_per_problem: f64,
    pub seconds_per_problem: f64,
    pub median_seconds_per_problem: f64,
    /// Wall-clock time of the run, summed over resumed sessions.
    pub wall_seconds: f64,
    pub problems_per_hour: f64,
    /// Correctly solved problems per wall-clock hour: the throughput that matters.
    pub solved_per_hour: f64,
    pub parallel: usize,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_subject: BTreeMap<String, Bucket>,
    /// Keyed by the level as text ("1" … "5") so the JSON object keys are natural.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_level: BTreeMap<String, Bucket>,
    /// How well the strategy's confidence predicts correctness (reliability bins,
    /// expected calibration error, selective accuracy); absent when no answer carries a
    /// confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::Calibration>,
}

/// What a summary needs besides the records.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub data: String,
    pub format: String,
    pub split: String,
    pub limit: Option<usize>,
    pub seed: u64,
    pub strategy: String,
    pub model: String,
    pub selected: u64,
    pub skipped: Vec<Skipped>,
    pub wall_seconds: f64,
    pub parallel: usize,
}

impl Summary {
    /// Figures over `records` (those of the selected problems).
    pub fn compute(info: &RunInfo, records: &[&ResultRecord]) -> Summary {
        let n = records.len() as u64;
        let correct = records.iter().filter(|r| r.correct).count() as u64;
        let overall = Proportion::new(correct, n);
        let tokens: Vec<f64> = records.iter().map(|r| r.tokens as f64).collect();
        let seconds: Vec<f64> = records.iter().map(|r| r.seconds).collect();
        let per_hour = |count: u64| {
            if info.wall_seconds > 0.0 {
                count as f64 * 3600.0 / info.wall_seconds
            } else {
                0.0
            }
        };
        Summary {
            data: info.data.clone(),
            format: info.format.clone(),
            split: info.split.clone(),
            limit: info.limit,
            seed: info.seed,
            strategy: info.strategy.clone(),
            model: info.model.clone(),
            selected: info.selected,
            skipped: info.skipped.clone(),
            n,
            correct,
            accuracy: overall.accuracy,
            ci95_low: overall.low,
            ci95_high: overall.high,
            errors: records.iter().filter(|r| r.error.is_some()).count() as u64,
            no_answer: records.iter().filter(|r| r.prediction.is_none()).count() as u64,
            tokens_generated: records.iter().map(|r| r.tokens).sum(),
            prompt_tokens: records.iter().map(|r| r.prompt_tokens).sum(),
            tokens_per_problem: mean(&tokens),
            seconds_per_problem: mean(&seconds),
            median_seconds_per_problem: median(&seconds),
            wall_seconds: info.wall_seconds,
            problems_per_hour: per_hour(n),
            solved_per_hour: per_hour(correct),
            parallel: info.parallel,
            by_subject: breakdown(records, |r| r.subject.clone()),
            by_level: breakdown(records, |r| r.level.map(|l| l.to_string())),
            calibration: crate::calibration::Calibration::of(records),
        }
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(SUMMARY_FILE);
        let json = serde_json::to_string_pretty(self)?;
        // Write then rename, so a reader (or a crash) never sees half a summary.
        let tmp = dir.join(format!(".{SUMMARY_FILE}.tmp"));
        std::fs::write(&tmp, json + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The summary in `dir`, if there is a readable one.
    pub fn read(dir: &Path) -> Option<Summary> {
        let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The runs as a Markdown table, one row per summary: what ran, accuracy with its 95 %
/// Wilson interval and n, and the cost per problem. Used for the results tables of
/// notes and bench/README.md (`hypatia eval table DIR...`).
pub fn markdown_table(summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| model | data | strategy | n | accuracy (95 % CI) | tokens/problem | s/problem | solved/hour |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for s in summaries {
        let data = Path::new(&s.data)
            .file_name()
            .map_or_else(|| s.data.clone(), |name| name.to_string_lossy().into_owned());
        let complete = if s.n < s.selected { format!(" of {}", s.selected) } else { String::new() };
        out.push_str(&format!(
            "| {} | {} {} | {} | {}{} | {:.1} % [{:.1}, {:.1}] | {:.0} | {:.1} | {:.1} |\n",
            s.model,
            data,
            s.split,
            s.strategy,
            s.n,
            complete,
            100.0 * s.accuracy,
            100.0 * s.ci95_low,
            100.0 * s.ci95_high,
            s.tokens_per_problem,
            s.seconds_per_problem,
            s.solved_per_hour,
        ));
    }
    out
}

/// Accuracy per key; empty when no record has a key, so data without subjects or levels
/// gets no breakdown at all.
fn breakdown(
    records: &[&ResultRecord],
    key: impl Fn(&ResultRecord) -> Option<String>,
) -> BTreeMap<String, Bucket> {
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in records {
        if let Some(k) = key(r) {
            let entry = counts.entry(k).or_default();
            entry.0 += u64::from(r.correct);
            entry.1 += 1;
        }
    }
    counts.into_iter().map(|(k, (c, n))| (k, Proportion::new(c, n).into())).collect()
}
