//! The statistics a benchmark report needs, written out rather than pulled from a
//! statistics crate: two small formulas whose exact behaviour at the edges (n = 0,
//! all right, thousands of discordant pairs) the tests pin down.

/// The two-sided 95 % standard normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95 % Wilson score interval.
///
/// Invariant: `0 <= low <= accuracy <= high <= 1` and `correct <= n`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Proportion {
    pub correct: u64,
    pub n: u64,
    pub accuracy: f64,
    pub low: f64,
    pub high: f64,
}

impl Proportion {
    /// `correct` out of `n`. With no observations the accuracy is 0 and the interval
    /// the whole of [0, 1], which is what nothing tells us.
    pub fn new(correct: u64, n: u64) -> Proportion {
        assert!(correct <= n, "{correct} correct out of {n}");
        let (low, high) = wilson(correct, n);
        let accuracy = if n == 0 { 0.0 } else { correct as f64 / n as f64 };
        Proportion { correct, n, accuracy, low, high }
    }
}

/// The 95 % Wilson score interval for `k` successes in `n` trials.
///
/// Wilson rather than the normal approximation because it stays inside [0, 1] and is
/// honest at the small n and extreme accuracies a 30-problem AIME run produces.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n_f;
    let centre = p + z2 / (2.0 * n_f);
    let half = Z95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    let low = ((centre - half) / denominator).max(0.0);
    let high = ((centre + half) / denominator).min(1.0);
    // At k = 0 or k = n the formula gives the bound exactly up to rounding; pin it so the
    // invariant low <= p <= high holds bit for bit.
    (low.min(p), high.max(p))
}

/// The exact (binomial) two-sided McNemar test: the probability, if both runs were
/// equally good, of a split of the `b + c` discordant problems at least as lopsided as
/// `b` against `c`.
///
/// Exact rather than the chi-squared approximation because two strategies on a few
/// hundred problems often differ on only a handful of them.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Terms in log space: 0.5^n underflows for n > 1074.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// The median of `values` (NaN-free); 0 for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// The `q`-quantile of `values` by rank: the smallest value with at least a share `q`
/// of the sample at or below it (`q = 0.95` is the p95); 0 for an empty slice.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The mean of `values`; 0 for an empty slice.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn wilson_matches_known_values() {
        // Reference values computed independently from the closed form.
        let (l, h) = wilson(8, 10);
        assert!(close(l, 0.490_162_471_536_641_8) && close(h, 0.943_317_848_524_624_7), "{l} {h}");
        let (l, h) = wilson(150, 200);
        assert!(close(l, 0.685_659_016_879_541_7) && close(h, 0.804_918_319_931_825), "{l} {h}");
        let (l, h) = wilson(0, 10);
        assert!(l == 0.0 && close(h, 0.277_532_799_862_889_2), "{l} {h}");
        let (l, h) = wilson(10, 10);
        assert!(close(l, 0.722_467_200_137_110_6) && h == 1.0, "{l} {h}");
        let (l, h) = wilson(1, 1);
        assert!(close(l, 0.206_549_314_377_237_42) && h == 1.0, "{l} {h}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn proportion_keeps_its_invariant() {
        for n in 0..40 {
            for k in 0..=n {
                let p = Proportion::new(k, n);
                assert!(0.0 <= p.low && p.low <= p.accuracy, "{k}/{n}: {p:?}");
                assert!(p.accuracy <= p.high && p.high <= 1.0, "{k}/{n}: {p:?}");
            }
        }
    }

    #[test]
    fn mcnemar_matches_known_values() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(1, 0), 1.0);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert!(close(mcnemar_exact(0, 5), 0.0625));
        assert!(close(mcnemar_exact(5, 0), 0.0625));
        assert!(close(mcnemar_exact(2, 8), 0.109_375));
        assert!(close(mcnemar_exact(10, 25), 0.016_673_847_800_120_71));
        assert!(close(mcnemar_exact(100, 130), 0.055_613_577_781_392_386));
        // Far beyond where 0.5^n underflows: still a probability, and tiny.
        let p = mcnemar_exact(900, 1300);
        assert!(p > 0.0 && p < 1e-15, "{p}");
    }

    #[test]
    fn median_and_mean() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    }

    #[test]
    fn p95_is_a_rank_statistic() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
