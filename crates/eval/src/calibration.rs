//! Whether a strategy's confidence means what it says: a reliability table (confidence
//! bins against accuracy), the expected calibration error, and selective accuracy (how
//! often the answers it is sure of are right, and how many answers those are).

use std::collections::BTreeMap;

use hypatia_solve::confidence::{Bucket, Calibration as Table, Cell, ModelTable};
use hypatia_solve::Style;
use serde::{Deserialize, Serialize};

use crate::results::ResultRecord;
use crate::stats::Proportion;

/// Confidence bins of the reliability table: ten of equal width.
const BINS: usize = 10;
/// The confidence above which an answer counts as "sure" for selective accuracy.
pub const SURE: f64 = 0.9;

/// One bin of the reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// `[lo, hi)`; the last bin includes 1.
    pub lo: f64,
    pub hi: f64,
    pub n: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub mean_confidence: f64,
}

/// The calibration of a run's confidences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Problems with a confidence (errors count, with confidence 0).
    pub n: u64,
    /// Expected calibration error: the bins' `|accuracy - mean confidence|`, weighted by
    /// their share of problems. 0 is perfect.
    pub ece: f64,
    pub bins: Vec<ReliabilityBin>,
    /// The answers with confidence at least [`SURE`]: how many are right.
    pub sure: Proportion,
    /// Their share of all problems with a confidence.
    pub sure_coverage: f64,
}

impl Calibration {
    /// The calibration of `records`, or `None` when no record carries a confidence.
    ///
    /// ```
    /// use hypatia_eval::calibration::Calibration;
    /// # use hypatia_eval::ResultRecord;
    /// # fn rec(correct: bool, confidence: f64) -> ResultRecord {
    /// #     let line = format!(r#"{{"id":"1","question":"q","gold":"1","prediction":"1","correct":{correct},
    /// #         "strategy":"auto","model":"m","data":"d","tokens":1,"seconds":1,"confidence":{confidence}}}"#);
    /// #     serde_json::from_str(&line).unwrap()
    /// # }
    /// let records = [rec(true, 0.95), rec(true, 0.95), rec(false, 0.3), rec(true, 0.3)];
    /// let refs: Vec<&ResultRecord> = records.iter().collect();
    /// let c = Calibration::of(&refs).unwrap();
    /// assert_eq!((c.sure.correct, c.sure.n), (2, 2));
    /// assert!((c.sure_coverage - 0.5).abs() < 1e-12);
    /// // Bins: 0.95 → 100 % (off by 0.05), 0.3 → 50 % (off by 0.2): ECE 0.125.
    /// assert!((c.ece - 0.125).abs() < 1e-12);
    /// ```
    pub fn of(records: &[&ResultRecord]) -> Option<Calibration> {
        let scored: Vec<(f64, bool)> = records
            .iter()
            .filter_map(|r| {
                let c = r.confidence.or(r.error.as_ref().map(|_| 0.0))?;
                Some((c, r.correct))
            })
            .collect();
        Calibration::from_scored(&scored)
    }

    /// The calibration of `(confidence, correct)` pairs; `None` when there are none.
    pub fn from_scored(scored: &[(f64, bool)]) -> Option<Calibration> {
        let scored: Vec<(f64, bool)> =
            scored.iter().map(|&(c, ok)| (c.clamp(0.0, 1.0), ok)).collect();
        if scored.is_empty() {
            return None;
        }
        let n = scored.len() as u64;
        let mut bins: Vec<ReliabilityBin> = (0..BINS)
            .map(|i| ReliabilityBin {
                lo: i as f64 / BINS as f64,
                hi: (i + 1) as f64 / BINS as f64,
                n: 0,
                correct: 0,
                accuracy: 0.0,
                mean_confidence: 0.0,
            })
            .collect();
        for &(c, correct) in &scored {
            let i = ((c * BINS as f64) as usize).min(BINS - 1);
            bins[i].n += 1;
            bins[i].correct += u64::from(correct);
            bins[i].mean_confidence += c;
        }
        let mut ece = 0.0;
        for b in bins.iter_mut().filter(|b| b.n > 0) {
            b.mean_confidence /= b.n as f64;
            b.accuracy = b.correct as f64 / b.n as f64;
            ece += b.n as f64 / n as f64 * (b.accuracy - b.mean_confidence).abs();
        }
        let sure: Vec<&(f64, bool)> = scored.iter().filter(|(c, _)| *c >= SURE).collect();
        let sure_right = sure.iter().filter(|(_, ok)| *ok).count() as u64;
        Some(Calibration {
            n,
            ece,
            bins,
            sure: Proportion::new(sure_right, sure.len() as u64),
            sure_coverage: sure.len() as f64 / n as f64,
        })
    }
}

/// The evidence behind one graded answer of `auto`: its bucket, read from the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub id: String,
    pub model: String,
    pub style: Style,
    pub bucket: Bucket,
    pub correct: bool,
}

/// The evidence of every record whose trace carries a confidence step (`auto` runs).
pub fn evidence(records: &[ResultRecord]) -> Vec<Evidence> {
    records
        .iter()
        .filter_map(|r| {
            let steps = r.trace.get("steps")?.as_array()?;
            let step = steps
                .iter()
                .find(|s| s.get("kind").and_then(|k| k.as_str()) == Some("confidence"))?;
            let bucket = Bucket::parse(step.get("bucket")?.as_str()?)?;
            // Steps written before the style was recorded: the style the question suggests.
            let style: Style = step
                .get("style")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_else(|| Style::guess(&r.question));
            Some(Evidence {
                id: r.id.clone(),
                model: r.model.clone(),
                style,
                bucket,
                correct: r.correct,
            })
        })
        .collect()
}

/// Counts per model, style and bucket: the table `auto` reads.
pub fn fit<'a>(evidence: impl IntoIterator<Item = &'a Evidence>, source: &str) -> Table {
    let mut table = Table::default();
    for e in evidence {
        let model = table
            .models
            .entry(e.model.clone())
            .or_insert_with(|| ModelTable { source: source.to_string(), ..ModelTable::default() });
        let cells = match e.style {
            Style::Word => &mut model.word,
            Style::Competition => &mut model.competition,
        };
        let cell = cells.entry(e.bucket).or_insert(Cell::default());
        cell.n += 1;
        cell.correct += u32::from(e.correct);
    }
    table
}

/// Which of two folds a problem falls in: a fixed hash of its id, so that the split does
/// not depend on the order of the records.
fn fold(id: &str) -> usize {
    // FNV-1a, then SplitMix64's finalizer: FNV alone leaves the high bits of ids that
    // share a prefix ("1000", "1001", …) nearly equal.
    let mut z = id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) & 1) as usize
}

/// Calibration measured honestly: each answer's confidence comes from the table fitted
/// on the *other* half of the problems (two folds), so no answer is scored by counts it
/// contributed to.
pub fn cross_fitted(evidence: &[Evidence]) -> Option<Calibration> {
    let tables: Vec<Table> =
        (0..2).map(|k| fit(evidence.iter().filter(|e| fold(&e.id) != k), "cross-fit")).collect();
    let scored: Vec<(f64, bool)> = evidence
        .iter()
        .map(|e| (tables[fold(&e.id)].confidence(&e.model, e.style, e.bucket), e.correct))
        .collect();
    Calibration::from_scored(&scored)
}

/// Per bucket, the answers and how many were right (all models and styles pooled), for a
/// readable report.
pub fn by_bucket(evidence: &[Evidence]) -> BTreeMap<Bucket, Proportion> {
    let mut counts: BTreeMap<Bucket, (u64, u64)> = BTreeMap::new();
    for e in evidence {
        let c = counts.entry(e.bucket).or_default();
        c.0 += u64::from(e.correct);
        c.1 += 1;
    }
    counts.into_iter().map(|(b, (k, n))| (b, Proportion::new(k, n))).collect()
}

/// What `hypatia eval calibrate` found: the fitted table, its buckets and the honest
/// (cross-fitted) calibration of the runs.
#[derive(Debug, Clone)]
pub struct CalibrationReport {
    pub table: Table,
    pub buckets: BTreeMap<Bucket, Proportion>,
    pub cross_fitted: Option<Calibration>,
    pub answers: usize,
}

/// Fits `auto`'s confidence table from finished eval runs (their `results.jsonl`), and,
/// when `out` is given, merges it into that JSON file (other models' tables are kept;
/// this model's are replaced).
pub fn calibrate(
    runs: &[std::path::PathBuf],
    out: Option<&std::path::Path>,
) -> anyhow::Result<CalibrationReport> {
    use anyhow::Context;
    let mut all = Vec::new();
    let mut sources = Vec::new();
    for run in runs {
        let records = crate::results::read_results(&run.join(crate::results::RESULTS_FILE), false)
            .with_context(|| format!("reading the results of {}", run.display()))?;
        let found = evidence(&records);
        if found.is_empty() {
            anyhow::bail!(
                "{} has no answers with an evidence bucket (is it an `auto` run?)",
                run.display()
            );
        }
        sources.push(format!("{} ({} answers)", run.display(), found.len()));
        all.extend(found);
    }
    let table = fit(&all, &sources.join("; "));
    if let Some(out) = out {
        let mut merged: Table = match std::fs::read_to_string(out) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is not a calibration table", out.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
        };
        merged.models.extend(table.models.clone());
        std::fs::write(out, serde_json::to_string_pretty(&merged)? + "\n")
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(CalibrationReport {
        buckets: by_bucket(&all),
        cross_fitted: cross_fitted(&all),
        answers: all.len(),
        table,
    })
}

impl std::fmt::Display for CalibrationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} answers with an evidence bucket", self.answers)?;
        writeln!(f, "| bucket | n | right | accuracy (95 % CI) |\n|---|---|---|---|")?;
        for (bucket, p) in &self.buckets {
            writeln!(
                f,
                "| {} | {} | {} | {:.1} % [{:.1}, {:.1}] |",
                bucket.as_str(),
                p.n,
                p.correct,
                100.0 * p.accuracy,
                100.0 * p.low,
                100.0 * p.high
            )?;
        }
        if let Some(c) = &self.cross_fitted {
            writeln!(
                f,
                "cross-fitted (each half scored by the table of the other): ECE {:.3}; \
                 confidence >= {SURE}: {}/{} right = {:.1} % [{:.1}, {:.1}], coverage {:.1} %",
                c.ece,
                c.sure.correct,
                c.sure.n,
                100.0 * c.sure.accuracy,
                100.0 * c.sure.low,
                100.0 * c.sure.high,
                100.0 * c.sure_coverage
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: usize, bucket: Bucket, correct: bool) -> Evidence {
        Evidence { id: id.to_string(), model: "m".into(), style: Style::Word, bucket, correct }
    }

    #[test]
    fn fitting_counts_and_cross_fitting_scores_each_half_by_the_other() {
        let mut all = Vec::new();
        for i in 0..2000 {
            all.push(e(i, Bucket::Agree, i % 20 != 0)); // 95 % right
            all.push(e(10_000 + i, Bucket::Split, i % 2 == 0)); // 50 % right
        }
        let table = fit(&all, "test");
        assert_eq!(table.models["m"].word[&Bucket::Agree], Cell { correct: 1900, n: 2000 });
        let c = cross_fitted(&all).unwrap();
        assert_eq!(c.n, 4000);
        // Each half scored by the other: only sampling noise (about 0.01 here) remains.
        assert!(c.ece < 0.03, "{}", c.ece);
        assert_eq!(c.sure.n, 2000);
        // Folds split the ids roughly in half.
        for base in [0, 1000] {
            let ones = (base..base + 1000).filter(|i| fold(&i.to_string()) == 1).count();
            assert!((400..600).contains(&ones), "{ones}");
        }
    }
}
