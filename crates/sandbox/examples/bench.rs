//! Warm-pool latency and throughput.
//!
//! `cargo run --release -p hypatia-sandbox --example bench [-- N]`
//!
//! Times what a caller sees: `Sandbox::run` from call to return, host round trip included.
//! Results and the machine they came from go in bench/sandbox/README.md.

use std::time::{Duration, Instant};

use hypatia_sandbox::{Limits, Sandbox, SandboxConfig};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn latency(sb: &Sandbox, code: &str, n: usize) -> Vec<Duration> {
    let limits = Limits::default();
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let s = Instant::now();
            let out = sb.run(code, &limits).expect("run");
            assert_eq!(out.status, hypatia_sandbox::Status::Ok, "{out:?}");
            s.elapsed()
        })
        .collect();
    t.sort();
    t
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(400);
    let cpus = std::thread::available_parallelism().map_or(2, |c| c.get());
    let t0 = Instant::now();
    let sb =
        Sandbox::new(SandboxConfig { workers: cpus, ..SandboxConfig::default() }).expect("sandbox");
    let setup = t0.elapsed();
    let t0 = Instant::now();
    sb.warm(cpus).expect("warm");
    let warm = t0.elapsed();
    println!("cpus: {cpus}, workers: {cpus}");
    println!("isolation: {}", serde_json::to_string(&sb.isolation()).unwrap());
    println!(
        "venv check: {:.1} ms; starting {cpus} workers (import sympy): {:.2} s",
        setup.as_secs_f64() * 1e3,
        warm.as_secs_f64()
    );

    for (name, code) in [
        ("print(1+1)", "print(1+1)"),
        ("sympy solve", "from sympy import *\nx = symbols('x')\nprint(solve(x**2 - 5*x + 6, x))"),
    ] {
        latency(&sb, code, 20); // settle
        let t = latency(&sb, code, n);
        println!(
            "latency {name:12} n={n}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&t, 0.5),
            percentile(&t, 0.9),
            percentile(&t, 0.99),
            percentile(&t, 1.0)
        );
    }

    for threads in [cpus, 2 * cpus] {
        let per = n;
        let t0 = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| latency(&sb, "print(1+1)", per));
            }
        });
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "throughput print(1+1), {threads} caller threads: {} programs in {secs:.2} s = {:.0} programs/s",
            threads * per,
            (threads * per) as f64 / secs
        );
    }
}
