//! `hypatia eval compare A B`: which problems changed between two runs on the same data,
//! and whether the difference is more than chance.
//!
//! The runs are compared pairwise, problem by problem, on the problems both graded. On
//! paired data the exact McNemar test is far more sensitive than comparing two
//! accuracies with their separate intervals: problems both runs get right (or wrong)
//! carry no information about which run is better, and it ignores them.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::results::{read_results, ResultRecord, RESULTS_FILE};
use crate::stats::{mcnemar_exact, Proportion};

/// One run, as seen on the problems both runs graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSide {
    pub dir: String,
    pub data: String,
    pub strategy: String,
    pub model: String,
    /// Correct among the shared problems.
    pub correct: u64,
    pub accuracy: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

/// A problem one run got right and the other wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub question: String,
    pub gold: String,
    pub a_prediction: Option<String>,
    pub b_prediction: Option<String>,
}

/// The pairwise comparison of run A with run B.
///
/// Invariant: `shared == both_right + both_wrong + right_to_wrong.len() + wrong_to_right.len()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: RunSide,
    pub b: RunSide,
    /// Problems graded in both runs; everything below is about these.
    pub shared: u64,
    pub both_right: u64,
    pub both_wrong: u64,
    /// Right in A, wrong in B, in A's order.
    pub right_to_wrong: Vec<Change>,
    /// Wrong in A, right in B, in A's order.
    pub wrong_to_right: Vec<Change>,
    pub only_in_a: u64,
    pub only_in_b: u64,
    /// Exact two-sided McNemar p-value on the discordant problems.
    pub p_value: f64,
}

/// Compares the runs in directories `a_dir` and `b_dir` (each with a `results.jsonl`).
/// Their files are only read, never repaired.
pub fn compare(a_dir: &Path, b_dir: &Path) -> anyhow::Result<Comparison> {
    let a = load(a_dir)?;
    let b = load(b_dir)?;
    let (a0, b0) = (&a[0], &b[0]);
    if a0.data != b0.data {
        bail!(
            "{} is a run on `{}` but {} is on `{}`; compare runs on the same data",
            a_dir.display(),
            a0.data,
            b_dir.display(),
            b0.data
        );
    }
    let in_b: HashMap<&str, &ResultRecord> = b.iter().map(|r| (r.id.as_str(), r)).collect();
    let (mut both_right, mut both_wrong, mut shared) = (0, 0, 0);
    let (mut right_to_wrong, mut wrong_to_right) = (Vec::new(), Vec::new());
    for ra in &a {
        let Some(rb) = in_b.get(ra.id.as_str()) else { continue };
        if ra.gold != rb.gold {
            bail!(
                "problem `{}` has gold `{}` in {} but `{}` in {}; the data changed between the runs",
                ra.id,
                ra.gold,
                a_dir.display(),
                rb.gold,
                b_dir.display()
            );
        }
        shared += 1;
        let change = || Change {
            id: ra.id.clone(),
            question: ra.question.clone(),
            gold: ra.gold.clone(),
            a_prediction: ra.prediction.clone(),
            b_prediction: rb.prediction.clone(),
        };
        match (ra.correct, rb.correct) {
            (true, true) => both_right += 1,
            (false, false) => both_wrong += 1,
            (true, false) => right_to_wrong.push(change()),
            (false, true) => wrong_to_right.push(change()),
        }
    }
    if shared == 0 {
        bail!("{} and {} have no graded problems in common", a_dir.display(), b_dir.display());
    }
    let side = |dir: &Path, first: &ResultRecord, correct: u64| {
        let p = Proportion::new(correct, shared);
        RunSide {
            dir: dir.display().to_string(),
            data: first.data.clone(),
            strategy: first.strategy.clone(),
            model: first.model.clone(),
            correct,
            accuracy: p.accuracy,
            ci95_low: p.low,
            ci95_high: p.high,
        }
    };
    let (r2w, w2r) = (right_to_wrong.len() as u64, wrong_to_right.len() as u64);
    Ok(Comparison {
        a: side(a_dir, a0, both_right + r2w),
        b: side(b_dir, b0, both_right + w2r),
        shared,
        both_right,
        both_wrong,
        only_in_a: a.len() as u64 - shared,
        only_in_b: b.len() as u64 - shared,
        p_value: mcnemar_exact(r2w, w2r),
        right_to_wrong,
        wrong_to_right,
    })
}

/// The records of a run, last record per id winning, in file order; never empty.
fn load(dir: &Path) -> anyhow::Result<Vec<ResultRecord>> {
    let path = dir.join(RESULTS_FILE);
    if !path.exists() {
        bail!("{} does not exist; is {} an eval output directory?", path.display(), dir.display());
    }
    let records = read_results(&path, false)?;
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<ResultRecord> = Vec::new();
    for r in records {
        match position.get(&r.id) {
            Some(&i) => unique[i] = r,
            None => {
                position.insert(r.id.clone(), unique.len());
                unique.push(r);
            }
        }
    }
    if unique.is_empty() {
        bail!("{} holds no results", path.display());
    }
    Ok(unique)
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, side) in [("A", &self.a), ("B", &self.b)] {
            writeln!(
                f,
                "{name}: {} ({} / {}): {}/{} = {:.1}% [{:.1}, {:.1}]",
                side.dir,
                side.strategy,
                side.model,
                side.correct,
                self.shared,
                100.0 * side.accuracy,
                100.0 * side.ci95_low,
                100.0 * side.ci95_high
            )?;
        }
        writeln!(
            f,
            "shared problems: {} (both right {}, both wrong {}); only in A: {}, only in B: {}",
            self.shared, self.both_right, self.both_wrong, self.only_in_a, self.only_in_b
        )?;
        let show = |p: &Option<String>| p.clone().unwrap_or_else(|| "(none)".into());
        for (title, changes) in [
            ("right in A, wrong in B", &self.right_to_wrong),
            ("wrong in A, right in B", &self.wrong_to_right),
        ] {
            writeln!(f, "{title}: {}", changes.len())?;
            for c in changes {
                writeln!(
                    f,
                    "  {}: gold {}; A {}; B {}",
                    c.id,
                    c.gold,
                    show(&c.a_prediction),
                    show(&c.b_prediction)
                )?;
            }
        }
        write!(
            f,
            "McNemar exact test: {} vs {} discordant, p = {:.4}",
            self.right_to_wrong.len(),
            self.wrong_to_right.len(),
            self.p_value
        )
    }
}
