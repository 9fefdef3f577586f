//! `hypatia data`: training data made from the models' own verified work.
//!
//! `data gen` is a thin layer over [`hypatia_train::datagen`]: it checks the options and
//! the data before spending time loading a model, sizes the engine's batch for the
//! problems in flight, draws a progress bar, and prints the summary as JSON.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hypatia_train::datagen::{
    build_gen_strategy, generate_data, select_problems, GenOptions, GenProgress,
};
use indicatif::ProgressBar;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Verified training data by rejection sampling: sample K solutions of every problem of
    /// the training split, keep those whose answer the checker verifies against the gold
    /// (and whose code ran cleanly), drop near-copies, and write chat-format JSON Lines for
    /// SFT to DIR/train.jsonl. A rerun resumes; DIR/summary.json holds the figures.
    Gen(GenArgs),
}

#[derive(Args)]
pub struct GenArgs {
    /// JSONL data file (GSM8K or MATH development files, or any format `eval` reads).
    #[arg(long)]
    data: PathBuf,
    /// Output directory (train.jsonl, done.jsonl, summary.json, run.json); an existing one
    /// made with the same data, strategy, model and --samples resumes.
    #[arg(long)]
    out: PathBuf,
    /// train (the GSM8K/MATH training lines, minus the exclusion list), or all for files
    /// that have no development split. dev is refused: it is held out for evaluation.
    #[arg(long, default_value = "train")]
    split: String,
    /// Sample a seeded subset of N problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the --limit subset.
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    /// Strategy to sample: cot, pot, code-feedback or tools.
    #[arg(long, default_value = "pot")]
    strategy: String,
    /// Samples per problem (K).
    #[arg(long, default_value_t = 4)]
    samples: u32,
    /// Sampling temperature (greedy samples of one prompt would all be the same).
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Token budget of each model call.
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
    /// Seed of the samplers.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Problems sampled at once, each with its K samples in the engine's batch.
    #[arg(long, default_value_t = 2)]
    in_flight: u32,
    #[command(flatten)]
    engine: crate::EngineArgs,
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Gen(args) => gen(args),
    }
}

fn gen(args: GenArgs) -> Result<()> {
    let split = args.split.parse().map_err(|e| anyhow::anyhow!("--split: {e}"))?;
    let in_flight = args.in_flight.max(1);
    let opts = GenOptions {
        data: args.data.clone(),
        out: args.out.clone(),
        split,
        limit: args.limit,
        selection_seed: args.sample_seed,
        samples: args.samples,
        seed: args.seed,
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        in_flight: in_flight as usize,
    };
    // Everything that can be wrong with the options or the data is found before the
    // minute a model takes to load.
    let strategy = build_gen_strategy(&args.strategy, &opts)?;
    let (_, problems) =
        select_problems(&opts).with_context(|| format!("reading {}", args.data.display()))?;
    if problems.is_empty() {
        anyhow::bail!("{}: the {} split selects no problems", args.data.display(), opts.split);
    }
    let mut engine = args.engine.clone();
    // Every problem in flight holds its K sequences at once.
    engine.parallel = engine.parallel.max(in_flight.saturating_mul(args.samples));
    let backend = engine.backend()?;
    let mut bar = GenBar::default();
    let summary =
        generate_data(backend.as_ref(), strategy.as_ref(), &opts, &mut |p| bar.update(p))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if !summary.errors.is_empty() {
        eprintln!(
            "warning: {} problem(s) failed (first: {}: {}); run the same command again to retry them",
            summary.errors.len(),
            summary.errors[0].id,
            summary.errors[0].error
        );
    }
    Ok(())
}

/// One indicatif bar on stderr: problems done, examples kept out of samples drawn, ETA.
#[derive(Default)]
struct GenBar {
    bar: Option<ProgressBar>,
}

impl GenBar {
    fn update(&mut self, p: &GenProgress<'_>) {
        let bar = self.bar.get_or_insert_with(|| hypatia_eval::problems_bar(p.total, p.done));
        let id = p.last.map(|r| r.id.as_str());
        hypatia_eval::show_problem(bar, p.done, p.total, p.resumed, id, &kept_message(p));
    }
}

fn kept_message(p: &GenProgress<'_>) -> String {
    let mut message = if p.samples == 0 {
        "kept –".to_string()
    } else {
        format!(
            "kept {}/{} samples ({:.0}%)",
            p.kept,
            p.samples,
            100.0 * p.kept as f64 / p.samples as f64
        )
    };
    if p.errors > 0 {
        message.push_str(&format!(", {} failed", p.errors));
    }
    message
}
