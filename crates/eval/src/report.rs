//! `report.html`: one self-contained page with the run's figures and plots.
//!
//! The plots are SVG written by hand. A plotting crate would bring font loading and
//! system libraries for a few rectangles and lines; inline SVG needs nothing, renders in
//! any browser offline and lives inside the one file a user can mail around.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::results::ResultRecord;
use crate::summary::{Bucket, Summary};

pub const REPORT_FILE: &str = "report.html";

/// How many wrong answers the report lists; the rest are in `results.jsonl`.
const MAX_WRONG_LISTED: usize = 200;

const WIDTH: f64 = 640.0;

/// Writes `dir/report.html` for `summary` and its records (in data order).
pub fn write_report(
    dir: &Path,
    summary: &Summary,
    records: &[&ResultRecord],
) -> anyhow::Result<()> {
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, render(summary, records))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The page as a string.
pub fn render(s: &Summary, records: &[&ResultRecord]) -> String {
    let mut html = String::new();
    let title = format!("{} on {} — {}", s.strategy, s.data, s.model);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n",
        title = escape(&title)
    );
    let rows = [
        ("data", format!("{} (format {}, split {})", s.data, s.format, s.split)),
        (
            "sample",
            match s.limit {
                Some(l) => format!("{l} problems, seed {}", s.seed),
                None => "all problems of the split".to_string(),
            },
        ),
        ("strategy", s.strategy.clone()),
        ("model", s.model.clone()),
        ("graded", format!("{} of {}", s.n, s.selected)),
        (
            "left out",
            if s.skipped.is_empty() {
                "none".to_string()
            } else {
                let lines: Vec<String> =
                    s.skipped.iter().map(|k| format!("line {} ({})", k.line, k.reason)).collect();
                format!("{} ungradable records: {}", s.skipped.len(), lines.join(", "))
            },
        ),
        (
            "accuracy",
            format!(
                "{:.1}% ({}/{}), 95% Wilson interval {:.1}–{:.1}%",
                100.0 * s.accuracy,
                s.correct,
                s.n,
                100.0 * s.ci95_low,
                100.0 * s.ci95_high
            ),
        ),
        ("failed solves", s.errors.to_string()),
        ("no answer", s.no_answer.to_string()),
        (
            "tokens",
            format!("{} generated, {:.0} per problem", s.tokens_generated, s.tokens_per_problem),
        ),
        (
            "time",
            format!(
                "{:.2} s per problem (median {:.2} s), {:.0} s wall with {} in flight",
                s.seconds_per_problem, s.median_seconds_per_problem, s.wall_seconds, s.parallel
            ),
        ),
        (
            "throughput",
            format!(
                "{:.1} problems/hour, {:.1} solved/hour",
                s.problems_per_hour, s.solved_per_hour
            ),
        ),
    ];
    html.push_str("<table class=\"facts\">\n");
    for (k, v) in rows {
        let _ = writeln!(html, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v));
    }
    html.push_str("</table>\n");

    html.push_str("<h2>Accuracy</h2>\n");
    let overall = Bucket {
        n: s.n,
        correct: s.correct,
        accuracy: s.accuracy,
        ci95_low: s.ci95_low,
        ci95_high: s.ci95_high,
    };
    html.push_str(&accuracy_bars(&[("all".to_string(), &overall)]));
    if !s.by_subject.is_empty() {
        html.push_str("<h2>Accuracy by subject</h2>\n");
        let rows: Vec<_> = s.by_subject.iter().map(|(k, b)| (k.clone(), b)).collect();
        html.push_str(&accuracy_bars(&rows));
    }
    if !s.by_level.is_empty() {
        html.push_str("<h2>Accuracy by level</h2>\n");
        let mut rows: Vec<_> = s.by_level.iter().map(|(k, b)| (format!("level {k}"), b)).collect();
        rows.sort_by_key(|(k, _)| (k.len(), k.clone()));
        html.push_str(&accuracy_bars(&rows));
    }

    if let Some(c) = &s.calibration {
        html.push_str("<h2>Calibration</h2>\n");
        let _ = writeln!(
            html,
            "<p>Expected calibration error {:.3} over {} answers. Answers with confidence ≥ {}: \
             {:.1}% right ({}/{}, 95% Wilson interval {:.1}–{:.1}%), covering {:.1}% of problems.</p>",
            c.ece,
            c.n,
            crate::calibration::SURE,
            100.0 * c.sure.accuracy,
            c.sure.correct,
            c.sure.n,
            100.0 * c.sure.low,
            100.0 * c.sure.high,
            100.0 * c.sure_coverage
        );
        html.push_str(&reliability_diagram(&c.bins));
    }

    html.push_str("<h2>Tokens generated per problem</h2>\n");
    let tokens: Vec<f64> = records.iter().map(|r| r.tokens as f64).collect();
    html.push_str(&histogram(&tokens, "tokens"));
    html.push_str("<h2>Seconds per problem</h2>\n");
    let seconds: Vec<f64> = records.iter().map(|r| r.seconds).collect();
    html.push_str(&histogram(&seconds, "seconds"));

    let wrong: Vec<&&ResultRecord> = records.iter().filter(|r| !r.correct).collect();
    let _ = writeln!(html, "<h2>Wrong answers ({})</h2>", wrong.len());
    if wrong.len() > MAX_WRONG_LISTED {
        let _ = writeln!(
            html,
            "<p>The first {MAX_WRONG_LISTED}; all are in <code>results.jsonl</code>.</p>"
        );
    }
    html.push_str("<table class=\"wrong\"><tr><th>id</th><th>gold</th><th>prediction</th></tr>\n");
    for r in wrong.iter().take(MAX_WRONG_LISTED) {
        let prediction = match (&r.prediction, &r.error) {
            (_, Some(e)) => format!("error: {e}"),
            (Some(p), None) => p.clone(),
            (None, None) => "(no answer)".to_string(),
        };
        let _ = writeln!(
            html,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&truncate(&r.question, 400)),
            escape(&r.id),
            escape(&r.gold),
            escape(&truncate(&prediction, 200))
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:720px;margin:2em auto;\
color:#222}table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px 2px 0;\
vertical-align:top}table.wrong td{font-family:monospace;font-size:90%}\
svg text{font-family:system-ui,sans-serif;font-size:12px}";

/// Horizontal accuracy bars on a 0–100 % axis, each with its Wilson interval drawn as a
/// whisker: the interval is the point, a bare percentage on 40 problems misleads.
fn accuracy_bars(rows: &[(String, &Bucket)]) -> String {
    let label_w = 190.0;
    let plot_w = WIDTH - label_w - 110.0;
    let row_h = 22.0;
    let height = row_h * rows.len() as f64 + 30.0;
    let x = |v: f64| label_w + plot_w * v.clamp(0.0, 1.0);
    let mut svg = svg_open(height);
    for tick in 0..=5 {
        let v = tick as f64 / 5.0;
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{p}%</text>",
            x = x(v),
            y = height - 22.0,
            ty = height - 8.0,
            p = tick * 20
        );
    }
    for (i, (label, b)) in rows.iter().enumerate() {
        let top = i as f64 * row_h + 3.0;
        let mid = top + (row_h - 6.0) / 2.0;
        let _ = write!(
            svg,
            "<text x=\"{lx:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#6a9fd8\"/>\
             <line x1=\"{lo:.1}\" y1=\"{mid:.1}\" x2=\"{hi:.1}\" y2=\"{mid:.1}\" stroke=\"#222\" stroke-width=\"1.5\"/>\
             <line x1=\"{lo:.1}\" y1=\"{t1:.1}\" x2=\"{lo:.1}\" y2=\"{t2:.1}\" stroke=\"#222\"/>\
             <line x1=\"{hi:.1}\" y1=\"{t1:.1}\" x2=\"{hi:.1}\" y2=\"{t2:.1}\" stroke=\"#222\"/>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\">{acc:.1}% (n={n})</text>",
            lx = label_w - 6.0,
            ty = mid + 4.0,
            label = escape(&truncate(label, 28)),
            x0 = x(0.0),
            w = x(b.accuracy) - x(0.0),
            h = row_h - 6.0,
            lo = x(b.ci95_low),
            hi = x(b.ci95_high),
            t1 = mid - 5.0,
            t2 = mid + 5.0,
            vx = x(1.0) + 6.0,
            acc = 100.0 * b.accuracy,
            n = b.n
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A histogram of `values` over equal-width bins from 0 to the maximum.
fn histogram(values: &[f64], unit: &str) -> String {
    const BINS: usize = 20;
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let mut counts = [0usize; BINS];
    if max > 0.0 {
        for &v in values {
            let bin = ((v / max) * BINS as f64) as usize;
            counts[bin.min(BINS - 1)] += 1;
        }
    } else {
        counts[0] = values.len();
    }
    let tallest = counts.iter().copied().max().unwrap_or(0).max(1);
    let (left, bottom, height) = (40.0, 36.0, 180.0);
    let plot_w = WIDTH - left - 10.0;
    let plot_h = height - bottom - 10.0;
    let bar_w = plot_w / BINS as f64;
    let mut svg = svg_open(height);
    for (i, &c) in counts.iter().enumerate() {
        let h = plot_h * c as f64 / tallest as f64;
        let lo = max * i as f64 / BINS as f64;
        let hi = max * (i + 1) as f64 / BINS as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#8cc084\">\
             <title>{lo:.1}–{hi:.1} {unit}: {c}</title></rect>",
            x = left + i as f64 * bar_w + 1.0,
            y = 10.0 + plot_h - h,
            w = bar_w - 2.0,
            unit = escape(unit),
        );
    }
    let axis_y = 10.0 + plot_h;
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{axis_y:.1}\" x2=\"{right:.1}\" y2=\"{axis_y:.1}\" stroke=\"#222\"/>\
         <text x=\"{left}\" y=\"{ty:.1}\">0</text>\
         <text x=\"{right:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{max:.1}</text>\
         <text x=\"{centre:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\">{unit} per problem (n={n})</text>\
         <text x=\"{tx:.1}\" y=\"18\" text-anchor=\"end\">{tallest}</text>",
        right = left + plot_w,
        ty = axis_y + 14.0,
        ly = axis_y + 28.0,
        centre = left + plot_w / 2.0,
        unit = escape(unit),
        n = values.len(),
        tx = left - 4.0,
    );
    svg.push_str("</svg>\n");
    svg
}

/// Accuracy against mean confidence per confidence bin, on the unit square with the
/// diagonal a perfectly calibrated strategy would follow; each dot's area shows how many
/// answers the bin holds.
fn reliability_diagram(bins: &[crate::calibration::ReliabilityBin]) -> String {
    let side = 320.0;
    let pad = 40.0;
    let height = side + 2.0 * pad;
    let x = |v: f64| pad + side * v.clamp(0.0, 1.0);
    let y = |v: f64| pad + side * (1.0 - v.clamp(0.0, 1.0));
    let mut svg = svg_open(height);
    let _ = write!(
        svg,
        "<rect x=\"{p}\" y=\"{p}\" width=\"{side}\" height=\"{side}\" fill=\"none\" stroke=\"#bbb\"/>\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\
         <text x=\"{cx}\" y=\"{by}\" text-anchor=\"middle\">confidence</text>\
         <text x=\"12\" y=\"{cy}\" transform=\"rotate(-90 12 {cy})\" text-anchor=\"middle\">accuracy</text>",
        p = pad,
        x0 = x(0.0),
        y0 = y(0.0),
        x1 = x(1.0),
        y1 = y(1.0),
        cx = pad + side / 2.0,
        by = height - 6.0,
        cy = pad + side / 2.0,
    );
    for tick in 0..=5 {
        let v = tick as f64 / 5.0;
        let _ = write!(
            svg,
            "<text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{v:.1}</text>\
             <text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"end\">{v:.1}</text>",
            tx = x(v),
            ty = pad + side + 16.0,
            lx = pad - 4.0,
            ly = y(v) + 4.0,
        );
    }
    let total: u64 = bins.iter().map(|b| b.n).sum::<u64>().max(1);
    for b in bins.iter().filter(|b| b.n > 0) {
        let r = 3.0 + 12.0 * (b.n as f64 / total as f64).sqrt();
        let _ = write!(
            svg,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r:.1}\" fill=\"#6a9fd8\" fill-opacity=\"0.8\">\
             <title>confidence {lo:.1}–{hi:.1}: {c}/{n} right</title></circle>",
            cx = x(b.mean_confidence),
            cy = y(b.accuracy),
            lo = b.lo,
            hi = b.hi,
            c = b.correct,
            n = b.n,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn svg_open(height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\">"
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_truncation() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(truncate("αβγδ", 2), "αβ…");
        assert_eq!(truncate("ab", 2), "ab");
    }

    #[test]
    fn histogram_counts_every_value() {
        let svg = histogram(&[0.0, 1.0, 2.0, 2.0, 10.0], "tokens");
        assert_eq!(svg.matches("<rect").count(), 20);
        assert!(svg.contains("tokens per problem (n=5)"));
        // The maximum lands in the last bin, not past the end.
        assert!(svg.contains("9.5–10.0 tokens: 1"), "{svg}");
        assert!(svg.contains("0.0–0.5 tokens: 1"));
        let empty = histogram(&[], "seconds");
        assert!(empty.contains("(n=0)"));
    }
}
