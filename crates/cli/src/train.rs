//! `hypatia train sft` and `hypatia adapter`: LoRA fine-tuning on this machine and adapter
//! conversion between llama.cpp's GGUF and PEFT.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hypatia_llm::{EngineConfig, LlamaEngine, ModelStore};
use hypatia_train::adapter::{LoraAdapter, Target};
use hypatia_train::sft::{read_examples, CandleTrainer, SftConfig, Trainer};

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning of a LoRA adapter on chat JSON Lines (`hypatia data gen`'s
    /// train.jsonl), on the CPU; writes a GGUF adapter for `--adapter`.
    Sft(SftArgs),
}

#[derive(Args)]
pub struct SftArgs {
    /// JSON Lines with `messages`; the last message (the assistant's) is learned.
    #[arg(long)]
    data: PathBuf,
    /// Base model: registry name or .gguf path (llama or qwen2 architecture).
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    model: String,
    /// The adapter to write (GGUF); a report of the run goes next to it (.json).
    #[arg(long)]
    out: PathBuf,
    /// Also write the adapter as PEFT safetensors into this directory.
    #[arg(long)]
    peft_out: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    rank: usize,
    #[arg(long, default_value_t = 32.0)]
    alpha: f32,
    /// Projections to adapt: q_proj,k_proj,…,down_proj or attention, mlp, all.
    #[arg(long, default_value = "all")]
    targets: String,
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Tokens per example (longer ones are cut).
    #[arg(long, default_value_t = 1024)]
    max_tokens: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use only the first N examples.
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Subcommand)]
pub enum AdapterCommand {
    /// GGUF adapter → PEFT directory (adapter_model.safetensors, adapter_config.json).
    ToPeft {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The base model as PEFT should name it (e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct).
        #[arg(long)]
        base_model: String,
    },
    /// PEFT directory → GGUF adapter for the embedded engine.
    FromPeft {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Architecture of the base model (qwen2, …).
        #[arg(long, default_value = "qwen2")]
        arch: String,
    },
}

pub fn run(command: TrainCommand) -> Result<()> {
    match command {
        TrainCommand::Sft(args) => sft(args),
    }
}

pub fn adapter(command: AdapterCommand) -> Result<()> {
    match command {
        AdapterCommand::ToPeft { input, out, base_model } => {
            LoraAdapter::load_gguf(&input)?.save_peft(&out, &base_model)?;
            eprintln!("wrote {}", out.display());
        }
        AdapterCommand::FromPeft { input, out, arch } => {
            LoraAdapter::load_peft(&input, &arch)?.save_gguf(&out)?;
            eprintln!("wrote {}", out.display());
        }
    }
    Ok(())
}

fn sft(args: SftArgs) -> Result<()> {
    let config = SftConfig {
        rank: args.rank,
        alpha: args.alpha,
        targets: Target::parse_list(&args.targets)?,
        lr: args.lr,
        epochs: args.epochs,
        batch: args.batch,
        max_tokens: args.max_tokens,
        seed: args.seed,
    };
    config.validate()?;
    let mut examples = read_examples(&args.data)?;
    if let Some(limit) = args.limit {
        examples.truncate(limit);
    }
    let base = ModelStore::default().ensure(&args.model)?;
    // The engine here only renders and tokenizes chats, with the model's own template.
    let tokenizer_config =
        EngineConfig { n_ctx: 64, n_seq_max: 1, prefix_cache_seqs: 0, ..EngineConfig::default() };
    let tokenizer = LlamaEngine::load(&args.model, &base, &tokenizer_config)
        .with_context(|| format!("loading {}", args.model))?;
    let trainer = CandleTrainer { base_gguf: base, tokenizer };
    let steps = args.epochs * examples.len().div_ceil(args.batch);
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    eprintln!("{} examples, {steps} steps of {} on {}", examples.len(), args.batch, args.model);
    let (adapter, report) = trainer.sft(&examples, &config, &mut |step| {
        bar.set_position(step.step as u64);
        bar.set_message(format!("epoch {} loss {:.4}", step.epoch + 1, step.loss));
        if bar.is_hidden() {
            eprintln!("step {} epoch {} loss {:.4}", step.step, step.epoch + 1, step.loss);
        }
    })?;
    bar.finish_and_clear();
    adapter.save_gguf(&args.out)?;
    if let Some(dir) = &args.peft_out {
        adapter.save_peft(dir, &args.model)?;
    }
    let summary = serde_json::json!({
        "model": args.model,
        "data": args.data,
        "adapter": args.out,
        "config": config,
        "examples": report.examples,
        "trained_tokens": report.trained_tokens,
        "steps": report.steps,
        "first_loss": report.steps.first().map(|s| s.loss),
        "last_loss": report.steps.last().map(|s| s.loss),
        "seconds": report.seconds,
        "device": "cpu (candle)",
    });
    let report_path = args.out.with_extension("json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
