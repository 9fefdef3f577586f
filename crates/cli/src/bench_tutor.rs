//! `hypatia bench tutor`: how long a student waits for the tutor from turn 2 on.
//!
//! Scripted sessions on perturbed GSM8K training solutions, five student messages each,
//! run twice side by side: once as the turns come, once with [`Tutor::prefill`] between
//! turns (what the interactive CLI does while the student types), so that the prompt of
//! turn n+1 up to the student's new message is already in the engine's prefix cache.
//! The two arms write for different grades, which changes the system prompt near its
//! start, so neither arm finds the other's prompts in the cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use hypatia_eval::percentile;
use hypatia_tutor::perturb::perturb_gsm8k;
use hypatia_tutor::{ErrorKind, Reference, Session, Tutor, TutorConfig};
use serde::Serialize;

use crate::EngineArgs;

#[derive(Args)]
pub struct TutorBenchArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// GSM8K-format JSON Lines the sessions' problems come from (its first lines).
    #[arg(long)]
    data: PathBuf,
    /// Sessions per arm.
    #[arg(long, default_value_t = 6)]
    sessions: usize,
    /// JSON output (default: bench/results/tutor-latency-MODEL.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The student's messages after their first (the perturbed work).
const FOLLOW_UPS: [&str; 4] = [
    "I'm not sure what you mean.",
    "Is it because of the numbers I used?",
    "Just tell me the answer.",
    "Ok, I will try that step again.",
];

#[derive(Serialize, Default)]
struct Arm {
    prefill: bool,
    /// Turns measured (turn 2 onward).
    turns: usize,
    first_token_median: f64,
    first_token_p95: f64,
    reply_seconds_median: f64,
    reply_seconds_p95: f64,
    /// Tokens the model generated per turn (the guiding question is the ladder's).
    completion_tokens_median: f64,
    /// Prompt tokens computed per turn (prompt minus cached).
    computed_prompt_tokens_median: f64,
    cached_share: f64,
    /// First token plus 59 more at the turn's own decode speed: what a 60-token
    /// generated reply would take.
    sixty_token_reply_median: f64,
    sixty_token_reply_p95: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    sessions: usize,
    without_prefill: Arm,
    with_prefill: Arm,
}

/// A statistic of a sample that may be empty: NaN (null in the JSON) rather than a 0 that
/// would read as a measurement.
fn or_nan(values: &[f64], statistic: impl Fn(&[f64]) -> f64) -> f64 {
    if values.is_empty() {
        f64::NAN
    } else {
        statistic(values)
    }
}

fn p95(values: &[f64]) -> f64 {
    or_nan(values, |v| percentile(v, 0.95))
}

fn median(values: &[f64]) -> f64 {
    or_nan(values, hypatia_eval::median)
}

pub fn run(args: TutorBenchArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.data)
        .with_context(|| format!("cannot read {}", args.data.display()))?;
    let kinds = [ErrorKind::ArithmeticSlip, ErrorKind::MisreadQuantity, ErrorKind::WrongOperation];
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if cases.len() == args.sessions {
            break;
        }
        let record: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}", n + 1))?;
        let (Some(q), Some(a)) = (record["question"].as_str(), record["answer"].as_str()) else {
            continue;
        };
        let kind = kinds[cases.len() % kinds.len()];
        if let (Some(work), Some(reference)) =
            (perturb_gsm8k(q, a, kind, n as u64), Reference::from_worked(a, None))
        {
            cases.push((work, reference));
        }
    }
    anyhow::ensure!(!cases.is_empty(), "no usable GSM8K problems in {}", args.data.display());
    let backend = args.engine.backend()?;
    let mut arms = Vec::new();
    for (prefill, grade) in [(false, 5u8), (true, 6u8)] {
        let tutor = Tutor::new(backend.as_ref(), TutorConfig { grade, ..TutorConfig::default() })?;
        let mut first = Vec::new();
        let mut seconds = Vec::new();
        let mut completion = Vec::new();
        let mut computed = Vec::new();
        let mut sixty = Vec::new();
        let (mut prompt_total, mut cached_total) = (0u64, 0u64);
        for (i, (work, reference)) in cases.iter().enumerate() {
            eprintln!("[{} {}/{}]", if prefill { "prefill" } else { "plain" }, i + 1, cases.len());
            let mut session = Session::new(
                format!("bench-{i}"),
                "bench",
                work.problem.clone(),
                reference.clone(),
                grade,
            );
            let messages = std::iter::once(work.steps.join("\n"))
                .chain(FOLLOW_UPS.iter().map(|s| s.to_string()));
            for (turn, message) in messages.enumerate() {
                if prefill && turn > 0 {
                    tutor.prefill(&session)?;
                }
                let t = tutor.respond(&mut session, &message)?;
                if turn == 0 {
                    continue;
                }
                let s = &t.stats;
                let ttft = s.first_token.unwrap_or(t.seconds);
                first.push(ttft);
                seconds.push(t.seconds);
                completion.push(f64::from(s.completion_tokens));
                computed.push(f64::from(s.prompt_tokens - s.cached_tokens));
                prompt_total += u64::from(s.prompt_tokens);
                cached_total += u64::from(s.cached_tokens);
                if t.drafts == 1 && s.completion_tokens > 1 {
                    let per_token = (t.seconds - ttft) / f64::from(s.completion_tokens - 1);
                    sixty.push(ttft + 59.0 * per_token);
                }
            }
        }
        arms.push(Arm {
            prefill,
            turns: first.len(),
            first_token_median: median(&first),
            first_token_p95: p95(&first),
            reply_seconds_median: median(&seconds),
            reply_seconds_p95: p95(&seconds),
            completion_tokens_median: median(&completion),
            computed_prompt_tokens_median: median(&computed),
            cached_share: cached_total as f64 / prompt_total.max(1) as f64,
            sixty_token_reply_median: median(&sixty),
            sixty_token_reply_p95: p95(&sixty),
        });
    }
    let with_prefill = arms.pop().expect("two arms");
    let without_prefill = arms.pop().expect("two arms");
    let report = Report {
        model: args.engine.model.clone(),
        sessions: cases.len(),
        without_prefill,
        with_prefill,
    };
    let json = serde_json::to_string_pretty(&report)?;
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from(format!("bench/results/tutor-latency-{}.json", args.engine.model))
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &json).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{json}");
    Ok(())
}
