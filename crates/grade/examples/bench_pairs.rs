//! Throughput of the checker on typical answers, on one thread.
//!
//!     cargo run --release -p hypatia-grade --example bench_pairs [SECONDS]
//!
//! The pairs are the committed MATH answer cases (rewrites and near-misses of real
//! gold answers) plus GSM8K-style integer pairs, cycled for the given time (default
//! 3 s) after a warm-up. Prints the median pairs/s over five rounds.

use std::time::{Duration, Instant};

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let mut pairs: Vec<(String, String)> = include_str!("../tests/data/math_answer_cases.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["gold"].as_str().unwrap_or("").to_string(),
                v["pred"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // GSM8K-style: integer gold, integer or decimal prediction.
    for k in 0..200u32 {
        pairs.push(((k * 37).to_string(), (k * 37 + k % 2).to_string()));
        pairs.push(((k * 13).to_string(), format!("{}.00", k * 13)));
    }
    let symbolic = pairs.iter().filter(|(g, _)| g.chars().any(|c| c.is_ascii_alphabetic())).count();
    println!("{} pairs ({} with letters or commands)", pairs.len(), symbolic);
    // Warm-up.
    let mut sink = 0usize;
    for (g, p) in &pairs {
        sink += hypatia_grade::equivalent(g, p) as usize;
    }
    let mut rates = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < Duration::from_secs_f64(secs / 5.0) {
            for (g, p) in &pairs {
                sink += hypatia_grade::equivalent(g, p) as usize;
            }
            n += pairs.len();
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "median {:.0} pairs/s (min {:.0}, max {:.0}) on one thread [{}]",
        rates[2], rates[0], rates[4], sink
    );
}
