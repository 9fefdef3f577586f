//! `hypatia bench engine`: how fast the embedded engine is, next to a bare llama-cpp-2 loop.
//!
//! Absolute figures on shared machines are noisy, so every figure is a median over
//! repeats and the engine is compared with the baseline in the same process and run.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use hypatia_llm::{Backend, ChatMessage, LlamaEngine, ModelStore, Request, SamplingParams};
use serde::Serialize;

use crate::EngineArgs;

#[derive(Args)]
pub struct EngineBenchArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Repeats of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Tokens each stream decodes.
    #[arg(long, default_value_t = 128)]
    decode_tokens: u32,
    /// Concurrent stream counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    streams: Vec<u32>,
    /// Skip the bare llama-cpp-2 baseline.
    #[arg(long)]
    no_baseline: bool,
    /// JSON output (default: bench/results/engine-MODEL.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct DecodeFigure {
    streams: u32,
    /// All streams together.
    tokens_per_second: f64,
    tokens_per_second_per_stream: f64,
}

#[derive(Serialize)]
struct Baseline {
    prompt_tokens_per_second: f64,
    decode_tokens_per_second: f64,
    /// Engine figure divided by the baseline's, measured in this run.
    prompt_ratio: f64,
    decode_ratio: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    threads: usize,
    n_ctx: u32,
    repeats: usize,
    prompt_tokens: u32,
    prompt_tokens_per_second: f64,
    time_to_first_token_seconds: f64,
    decode: Vec<DecodeFigure>,
    peak_rss_mb: f64,
    baseline: Option<Baseline>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A prompt of about 500 tokens, made of word problems.
fn long_prompt() -> String {
    let paragraph = "A farmer has 17 cows and buys 3 more each month for a year. Each cow gives \
        12 liters of milk a day, and milk sells for 1.25 dollars a liter. The farmer pays 40 \
        dollars a week for feed per 10 cows. ";
    format!("Read these notes and summarise them in one sentence.\n{}", paragraph.repeat(10))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Runs `streams` concurrent greedy generations and returns the aggregate decode rate,
/// counted from the first token of the earliest stream to the last token of the latest.
fn decode_rate(engine: &LlamaEngine, streams: u32, tokens: u32) -> Result<f64> {
    let request = Request::new(
        vec![ChatMessage::user("Count from 1 to 1000, separated by commas. Do not stop early.")],
        SamplingParams::greedy(tokens),
    );
    let marks: Mutex<Vec<(Instant, Instant, u32)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..streams)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut first = None;
                    let mut last = Instant::now();
                    let r = engine.generate_streaming(&request, &mut |_| {
                        let now = Instant::now();
                        first.get_or_insert(now);
                        last = now;
                        ControlFlow::Continue(())
                    })?;
                    let first = first.context("no token was generated")?;
                    marks.lock().unwrap().push((first, last, r.completion_tokens));
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("bench thread panicked")?;
        }
        Ok(())
    })?;
    let marks = marks.into_inner().unwrap();
    let start = marks.iter().map(|m| m.0).min().expect("streams > 0");
    let end = marks.iter().map(|m| m.1).max().expect("streams > 0");
    // The first token of each stream comes from the prompt pass, not from decoding.
    let decoded: u32 = marks.iter().map(|m| m.2.saturating_sub(1)).sum();
    Ok(decoded as f64 / (end - start).as_secs_f64())
}

pub fn engine(args: EngineBenchArgs) -> Result<()> {
    let max_streams = args.streams.iter().copied().max().unwrap_or(1);
    let mut engine_args = args.engine.clone();
    engine_args.parallel = engine_args.parallel.max(max_streams);
    // The bench repeats the same prompt: with the prefix cache on, every repeat after the
    // first would measure the cache instead of prompt processing.
    engine_args.prefix_cache = 0;
    eprintln!("loading {} ...", engine_args.model);
    let engine = engine_args.load()?;
    let info = engine.info();
    eprintln!("threads: {}, n_ctx: {}", info.n_threads, info.n_ctx);
    let repeats = args.repeats.max(1);

    // Warm-up: page the weights in and let the CPU reach its clock.
    engine.generate(&Request::new(vec![ChatMessage::user("Hi")], SamplingParams::greedy(8)))?;

    let prompt_request =
        Request::new(vec![ChatMessage::user(long_prompt())], SamplingParams::greedy(1));
    let mut prompt_rates = Vec::new();
    let mut prompt_tokens = 0;
    for _ in 0..repeats {
        let t = Instant::now();
        let r = engine.generate(&prompt_request)?;
        prompt_tokens = r.prompt_tokens;
        prompt_rates.push(r.prompt_tokens as f64 / t.elapsed().as_secs_f64());
    }
    let prompt_tps = median(prompt_rates);
    eprintln!("prompt: {prompt_tokens} tokens at {prompt_tps:.1} tok/s");

    let ttft_request = Request::new(
        vec![ChatMessage::user("What is 12 times 7? Answer briefly.")],
        SamplingParams::greedy(4),
    );
    let mut ttfts = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let mut first = None;
        engine.generate_streaming(&ttft_request, &mut |_| {
            first.get_or_insert(t.elapsed().as_secs_f64());
            ControlFlow::Continue(())
        })?;
        ttfts.push(first.context("no token")?);
    }
    let ttft = median(ttfts);
    eprintln!("time to first token: {:.3} s", ttft);

    let mut decode = Vec::new();
    for &streams in &args.streams {
        let rates = (0..repeats)
            .map(|_| decode_rate(&engine, streams, args.decode_tokens))
            .collect::<Result<Vec<_>>>()?;
        let tps = median(rates);
        eprintln!(
            "decode, {streams} streams: {tps:.1} tok/s ({:.1} per stream)",
            tps / streams as f64
        );
        decode.push(DecodeFigure {
            streams,
            tokens_per_second: tps,
            tokens_per_second_per_stream: tps / streams as f64,
        });
    }
    let peak = peak_rss_mb();
    let rendered = engine.render_prompt(&prompt_request)?;
    drop(engine);

    let baseline = if args.no_baseline {
        None
    } else {
        eprintln!("baseline: bare llama-cpp-2 loop ...");
        let path = ModelStore::default().ensure(&args.engine.model)?;
        let mut p = Vec::new();
        let mut d = Vec::new();
        for _ in 0..repeats {
            let f = hypatia_llm::raw::raw_baseline(
                &path,
                info.n_threads,
                &rendered,
                args.decode_tokens as usize,
            )?;
            p.push(f.prompt_tokens_per_second);
            d.push(f.decode_tokens_per_second);
        }
        let (p, d) = (median(p), median(d));
        let engine_decode_1 =
            decode.iter().find(|f| f.streams == 1).map(|f| f.tokens_per_second).unwrap_or(f64::NAN);
        eprintln!("baseline: prompt {p:.1} tok/s, decode {d:.1} tok/s");
        Some(Baseline {
            prompt_tokens_per_second: p,
            decode_tokens_per_second: d,
            prompt_ratio: prompt_tps / p,
            decode_ratio: engine_decode_1 / d,
        })
    };

    let report = Report {
        model: args.engine.model.clone(),
        threads: info.n_threads,
        n_ctx: info.n_ctx,
        repeats,
        prompt_tokens,
        prompt_tokens_per_second: prompt_tps,
        time_to_first_token_seconds: ttft,
        decode,
        peak_rss_mb: peak,
        baseline,
    };
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    let out = args.out.unwrap_or_else(|| {
        crate::default_bench_dir().join(format!("engine-{}.json", sanitize(&args.engine.model)))
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(&out, json + "\n").with_context(|| format!("write {}", out.display()))?;
    eprintln!("written to {}", out.display());
    Ok(())
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect()
}
