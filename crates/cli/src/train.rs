//! `hypatia train sft` and `hypatia adapter`: LoRA fine-tuning on this machine and adapter
//! conversion between llama.cpp's GGUF and PEFT.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hypatia_llm::{EngineConfig, LlamaEngine, ModelStore};
use hypatia_train::adapter::{base_shapes, Heads, LoraAdapter, Target};
use hypatia_train::grpo::{GrpoConfig, GrpoTrainer, Task};
use hypatia_train::sft::{read_examples, CandleTrainer, ChatExample, SftConfig, Trainer};

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning of a LoRA adapter on chat JSON Lines (`hypatia data gen`'s
    /// train.jsonl), on the CPU; writes a GGUF adapter for `--adapter`.
    Sft(SftArgs),
    /// GRPO with verifiable rewards: groups of rollouts from the engine running the
    /// adapter, rewarded by the checker and the sandbox; writes a GGUF adapter.
    Grpo(GrpoArgs),
    /// The loss of chat examples' replies (mean nats per token, as training measures it)
    /// under the base model, with or without an adapter: held-out loss after a run, or a
    /// check that another trainer's adapter behaves the same here.
    Score(ScoreArgs),
}

/// The chat examples and base model that `train sft` trains on and `train score` scores.
#[derive(Args)]
pub struct ChatData {
    /// JSON Lines with `messages`; the last message (the assistant's) is learned or scored.
    #[arg(long)]
    data: PathBuf,
    /// Base model: registry name or .gguf path (llama or qwen2 architecture).
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    model: String,
    /// Tokens per example (longer ones are cut).
    #[arg(long, default_value_t = 1024)]
    max_tokens: usize,
    /// Use only the first N examples.
    #[arg(long)]
    limit: Option<usize>,
}

impl ChatData {
    fn examples(&self) -> Result<Vec<ChatExample>> {
        let mut examples = read_examples(&self.data)?;
        if let Some(limit) = self.limit {
            examples.truncate(limit);
        }
        Ok(examples)
    }
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    chat: ChatData,
    /// A GGUF adapter to apply (default: the bare base model).
    #[arg(long)]
    adapter: Option<PathBuf>,
}

#[derive(Args)]
pub struct GrpoArgs {
    /// Problems with gold answers (any format `eval` reads); only the training split is used.
    #[arg(long)]
    data: PathBuf,
    /// `train` (GSM8K and MATH files) or `all` (files without splits).
    #[arg(long, default_value = "train")]
    split: String,
    /// Use a seeded sample of N problems.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    model: String,
    /// Start from this adapter (e.g. the SFT one); default: a fresh adapter.
    #[arg(long)]
    start: Option<PathBuf>,
    /// The adapter to write (GGUF); the per-step history goes next to it (.json).
    #[arg(long)]
    out: PathBuf,
    /// Strategy whose rollouts are rewarded (cot, pot, code-feedback, tools).
    #[arg(long, default_value = "cot")]
    strategy: String,
    /// Rollouts per problem (K >= 4).
    #[arg(long, default_value_t = 4)]
    group: usize,
    #[arg(long, default_value_t = 2)]
    prompts_per_step: usize,
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, default_value_t = 2)]
    inner_epochs: usize,
    /// Learning rate. Lower than SFT's: Adam's first steps move every adapter weight by
    /// about the rate in the direction that changes the rollouts' tokens, and at 1e-4 one
    /// step on qwen2.5-coder-0.5b moved them by ~8 nats of KL.
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    #[arg(long, default_value_t = 0.2)]
    clip: f64,
    #[arg(long, default_value_t = 0.04)]
    kl_beta: f64,
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Tokens per rollout.
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// Rank, alpha and targets of a fresh adapter (ignored with --start).
    #[arg(long, default_value_t = 16)]
    rank: usize,
    #[arg(long, default_value_t = 32.0)]
    alpha: f32,
    #[arg(long, default_value = "all")]
    targets: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
pub struct SftArgs {
    #[command(flatten)]
    chat: ChatData,
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
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
        /// The GGUF base model (registry name or path): needed for llama-architecture
        /// adapters of q_proj/k_proj, whose rows GGUF orders differently.
        #[arg(long)]
        model: Option<String>,
    },
    /// PEFT directory → GGUF adapter for the embedded engine.
    FromPeft {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The GGUF base model (registry name or path): gives the architecture and, for
        /// llama-architecture q_proj/k_proj adapters, the head counts their rows need.
        #[arg(long, conflicts_with = "arch")]
        model: Option<String>,
        /// Architecture of the base model, where --model is not given (qwen2, …).
        #[arg(long, default_value = "qwen2")]
        arch: String,
    },
}

/// The head counts of a base model given by name or path, for PEFT conversions.
fn heads_of(model: Option<&str>) -> Result<Option<Heads>> {
    model.map(|m| Heads::of_base(&ModelStore::default().ensure(m)?)).transpose()
}

pub fn run(command: TrainCommand) -> Result<()> {
    match command {
        TrainCommand::Sft(args) => sft(args),
        TrainCommand::Grpo(args) => grpo(args),
        TrainCommand::Score(args) => score(args),
    }
}

pub fn adapter(command: AdapterCommand) -> Result<()> {
    match command {
        AdapterCommand::ToPeft { input, out, base_model, model } => {
            LoraAdapter::load_gguf(&input)?.save_peft(
                &out,
                &base_model,
                heads_of(model.as_deref())?,
            )?;
            eprintln!("wrote {}", out.display());
        }
        AdapterCommand::FromPeft { input, out, model, arch } => {
            let arch = match &model {
                Some(m) => base_shapes(&ModelStore::default().ensure(m)?)?.0,
                None => arch,
            };
            LoraAdapter::load_peft(&input, &arch, heads_of(model.as_deref())?)?.save_gguf(&out)?;
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
        max_tokens: args.chat.max_tokens,
        seed: args.seed,
    };
    config.validate()?;
    let examples = args.chat.examples()?;
    let trainer = candle_trainer(&args.chat.model)?;
    let steps = args.epochs * examples.len().div_ceil(args.batch);
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    eprintln!(
        "{} examples, {steps} steps of {} on {}",
        examples.len(),
        args.batch,
        args.chat.model
    );
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
        adapter.save_peft(dir, &args.chat.model, Some(Heads::of_base(&trainer.base_gguf)?))?;
    }
    let summary = serde_json::json!({
        "model": args.chat.model,
        "data": args.chat.data,
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
    write_report(&args.out, &summary)
}

/// The CPU trainer for a model; its engine only renders and tokenizes chats, with the
/// model's own template.
fn candle_trainer(model: &str) -> Result<CandleTrainer> {
    let base = ModelStore::default().ensure(model)?;
    let tokenizer_config =
        EngineConfig { n_ctx: 64, n_seq_max: 1, prefix_cache_seqs: 0, ..EngineConfig::default() };
    let tokenizer = LlamaEngine::load(model, &base, &tokenizer_config)
        .with_context(|| format!("loading {model}"))?;
    Ok(CandleTrainer { base_gguf: base, tokenizer })
}

fn score(args: ScoreArgs) -> Result<()> {
    let examples = args.chat.examples()?;
    let adapter = args.adapter.as_deref().map(LoraAdapter::load_gguf).transpose()?;
    let trainer = candle_trainer(&args.chat.model)?;
    let bar = indicatif::ProgressBar::new(examples.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} examples  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let losses =
        trainer.score(&examples, adapter.as_ref(), args.chat.max_tokens, &mut |i, _| {
            bar.set_position(i as u64 + 1);
        })?;
    bar.finish_and_clear();
    let scored: Vec<f64> = losses.iter().flatten().copied().collect();
    if scored.is_empty() {
        anyhow::bail!("no example has a reply within {} tokens", args.chat.max_tokens);
    }
    let summary = serde_json::json!({
        "model": args.chat.model,
        "adapter": args.adapter,
        "data": args.chat.data,
        "examples": scored.len(),
        "mean_loss": scored.iter().sum::<f64>() / scored.len() as f64,
        "losses": losses,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn grpo(args: GrpoArgs) -> Result<()> {
    let split: hypatia_eval::Split =
        args.split.parse().map_err(|e| anyhow::anyhow!("--split: {e}"))?;
    if split == hypatia_eval::Split::Dev {
        anyhow::bail!(
            "training on the dev split is not allowed: it is what the gain is measured on"
        );
    }
    let dataset = hypatia_eval::Dataset::load(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    if split == hypatia_eval::Split::All && dataset.format.has_splits() {
        anyhow::bail!("{} has a dev split: use --split train", args.data.display());
    }
    let tasks: Vec<Task> = dataset
        .select(split, args.limit, args.seed)?
        .into_iter()
        .map(|item| Task { question: item.question, gold: item.gold })
        .collect();
    let targets = Target::parse_list(&args.targets)?;
    let config = GrpoConfig {
        strategy: args.strategy.clone(),
        group: args.group,
        prompts_per_step: args.prompts_per_step,
        steps: args.steps,
        inner_epochs: args.inner_epochs,
        clip: args.clip,
        kl_beta: args.kl_beta,
        lr: args.lr,
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        rank: args.rank,
        alpha: args.alpha,
        targets: targets.clone(),
        seed: args.seed,
        ..GrpoConfig::default()
    };
    config.validate()?;
    let base = ModelStore::default().ensure(&args.model)?;
    let start = match &args.start {
        Some(file) => LoraAdapter::load_gguf(file)?,
        None => LoraAdapter::init(&base, &targets, args.rank, args.alpha, args.seed)?,
    };
    let work = std::env::temp_dir().join(format!("hypatia-grpo-{}", std::process::id()));
    let trainer = GrpoTrainer {
        base_gguf: base,
        model_name: args.model.clone(),
        work_dir: work.clone(),
        engine: EngineConfig { n_ctx: 8192, prefix_cache_seqs: 0, ..EngineConfig::default() },
    };
    eprintln!(
        "{} problems, {} steps of {} × {} rollouts",
        tasks.len(),
        args.steps,
        args.prompts_per_step,
        args.group
    );
    let result = trainer.run(&tasks, start, &config, &mut |s| {
        eprintln!(
            "step {:>3}  reward {:.3}  accuracy {:.2}  groups used {}  loss {}  kl {}  ({:.0} s)",
            s.step,
            s.reward,
            s.accuracy,
            s.groups_used,
            s.loss.map_or("-".into(), |l| format!("{l:.4}")),
            s.kl.map_or("-".into(), |k| format!("{k:.5}")),
            s.seconds
        );
    });
    let _ = std::fs::remove_dir_all(&work);
    let (adapter, history) = result?;
    adapter.save_gguf(&args.out)?;
    let summary = serde_json::json!({
        "model": args.model,
        "data": args.data,
        "adapter": args.out,
        "start": args.start,
        "config": config,
        "problems": tasks.len(),
        "steps": history,
        "device": "cpu (candle; rollouts by the llama.cpp engine)",
    });
    write_report(&args.out, &summary)
}

/// Writes a run's report next to its adapter (`ADAPTER.json`) and prints it.
fn write_report(adapter: &std::path::Path, summary: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    let path = adapter.with_extension("json");
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{text}");
    Ok(())
}
