//! Confidence that means what it says: the evidence behind an answer, sorted into a few
//! buckets, and each bucket's accuracy measured on the development splits.
//!
//! A raw vote share is not a probability: on held-out grade-school problems, three
//! agreeing samples were right 16 times in 16, a bare majority 6 in 11, a plurality 3 in
//! 13. So `auto` reports the measured accuracy of the kind of evidence it has — two
//! independent methods agreeing at once, a strong majority across methods, a doubtful
//! answer — per model and problem style, smoothed towards a stated prior where the
//! development data is thin. `hypatia eval calibrate` refits the table from eval runs.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::Style;

/// The kind of evidence behind an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Two independent methods (a program and a chain of thought, both greedy) gave the
    /// same answer at once, and no gate doubts it.
    Agree,
    /// After more samples: at least three votes from both methods, three quarters of the
    /// answers, no doubt.
    Strong,
    /// More than half of the answers, no doubt.
    Majority,
    /// A plurality only.
    Split,
    /// A gate doubts the winning answer (not a whole count, a negative price, …).
    Doubtful,
    /// No answer at all.
    None,
}

impl Bucket {
    pub const ALL: [Bucket; 6] = [
        Bucket::Agree,
        Bucket::Strong,
        Bucket::Majority,
        Bucket::Split,
        Bucket::Doubtful,
        Bucket::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Agree => "agree",
            Bucket::Strong => "strong",
            Bucket::Majority => "majority",
            Bucket::Split => "split",
            Bucket::Doubtful => "doubtful",
            Bucket::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// The accuracy assumed before any development data: what the seeds' measurements
    /// suggest, kept deliberately below 0.9 so that no bucket is called certain unmeasured.
    fn prior(self) -> f64 {
        match self {
            Bucket::Agree => 0.85,
            Bucket::Strong => 0.85,
            Bucket::Majority => 0.6,
            Bucket::Split => 0.3,
            Bucket::Doubtful => 0.2,
            Bucket::None => 0.0,
        }
    }
}

/// Problems solved right, of those measured, in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub correct: u32,
    pub n: u32,
}

/// One model's measured buckets, per problem style.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelTable {
    /// Where the counts come from (runs, split, date).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub word: BTreeMap<Bucket, Cell>,
    #[serde(default)]
    pub competition: BTreeMap<Bucket, Cell>,
}

/// The table `auto` reads: per model name, the measured buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub models: BTreeMap<String, ModelTable>,
}

/// Weight of the prior, in problems: a bucket measured on 4 problems is half prior.
const PRIOR_WEIGHT: f64 = 4.0;

impl Calibration {
    /// The table shipped with Hypatia (`crates/solve/calibration.json`).
    pub fn builtin() -> &'static Calibration {
        static TABLE: OnceLock<Calibration> = OnceLock::new();
        TABLE.get_or_init(|| {
            serde_json::from_str(include_str!("../calibration.json"))
                .expect("calibration.json is valid (a unit test checks it)")
        })
    }

    /// The confidence of an answer with this evidence: the bucket's measured accuracy,
    /// smoothed towards its prior; the prior alone for a model or bucket never measured.
    ///
    /// ```
    /// use hypatia_solve::confidence::{Bucket, Calibration, Cell, ModelTable};
    /// use hypatia_solve::Style;
    /// let mut table = ModelTable::default();
    /// table.word.insert(Bucket::Agree, Cell { correct: 96, n: 100 });
    /// let mut c = Calibration::default();
    /// c.models.insert("m".into(), table);
    /// let measured = c.confidence("m", Style::Word, Bucket::Agree);
    /// assert!((measured - (96.0 + 4.0 * 0.85) / 104.0).abs() < 1e-12);
    /// assert_eq!(c.confidence("other", Style::Word, Bucket::Agree), 0.85);
    /// assert_eq!(c.confidence("m", Style::Word, Bucket::None), 0.0);
    /// ```
    pub fn confidence(&self, model: &str, style: Style, bucket: Bucket) -> f64 {
        if bucket == Bucket::None {
            return 0.0;
        }
        let cell = self.models.get(model).and_then(|t| {
            let by_style = match style {
                Style::Word => &t.word,
                Style::Competition => &t.competition,
            };
            by_style.get(&bucket).copied()
        });
        let Cell { correct, n } = cell.unwrap_or_default();
        (f64::from(correct) + PRIOR_WEIGHT * bucket.prior()) / (f64::from(n) + PRIOR_WEIGHT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_stays_within_bounds() {
        let c = Calibration::builtin();
        for (model, table) in &c.models {
            for cells in [&table.word, &table.competition] {
                for (bucket, cell) in cells {
                    assert!(cell.correct <= cell.n, "{model} {bucket:?}");
                    let v = c.confidence(model, Style::Word, *bucket);
                    assert!((0.0..=1.0).contains(&v));
                }
            }
        }
    }

    #[test]
    fn bucket_names_round_trip() {
        for b in Bucket::ALL {
            assert_eq!(Bucket::parse(b.as_str()), Some(b));
            assert_eq!(serde_json::to_string(&b).unwrap(), format!("\"{}\"", b.as_str()));
        }
    }
}
