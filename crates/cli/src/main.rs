//! `hypatia`: the command line of the Hypatia math reasoning and tutoring engine.
//!
//! Each verb is a thin layer over a library crate; this crate only parses arguments,
//! loads the model a verb needs (pulling it on first use) and prints results in the shapes
//! that DESIGN.md fixes, since scripts outside the repository rely on them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::sync::Arc;

use hypatia_llm::{
    models, Backend, EngineConfig, LlamaEngine, ModelStore, RemoteBackend, DEFAULT_MODEL,
};
use hypatia_solve::{Event, Problem};

mod bench;
mod bench_serve;
mod bench_tutor;
mod data;
mod serve;
mod train;
mod tutor;

#[derive(Parser)]
#[command(
    name = "hypatia",
    version,
    about = "Local-first math reasoning and tutoring for small language models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch and list models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Solve a problem with a strategy.
    Solve(SolveArgs),
    /// Run a strategy over a data set and write results, summary and report.
    Eval(Box<EvalArgs>),
    /// Compare answers with the checker, or extract one from a model response.
    Grade(GradeArgs),
    /// Run a Python file in the sandbox; prints one JSON object.
    Exec {
        /// Wall-clock limit in seconds (default 10).
        #[arg(long)]
        timeout: Option<f64>,
        file: PathBuf,
    },
    /// Socratic tutoring: a session in the terminal, `tutor reply` for one turn per JSON
    /// line, `tutor progress` for a student's record.
    Tutor(tutor::TutorArgs),
    /// The HTTP API (OpenAI-compatible, tutoring, solve) and the web page.
    Serve(serve::ServeArgs),
    /// Train LoRA adapters: `train sft` on chat examples (CPU).
    Train {
        #[command(subcommand)]
        command: train::TrainCommand,
    },
    /// Convert LoRA adapters between GGUF (for --adapter) and PEFT safetensors.
    Adapter {
        #[command(subcommand)]
        command: train::AdapterCommand,
    },
    /// Training data: `data gen` samples verified solutions of the training split as
    /// chat-format JSON Lines for SFT.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Benchmarks (results also written as JSON).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Download and verify a model (default: the default model).
    Pull { name: Option<String> },
    /// List known models, their sizes and whether they are present.
    List,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Prompt and decode speed, time to first token and peak memory of the engine.
    Engine(bench::EngineBenchArgs),
    /// Tutor latency from turn 2 on, with and without prefilling while the student types.
    Tutor(bench_tutor::TutorBenchArgs),
    /// Concurrent tutoring sessions against `hypatia serve`: lost or duplicated turns,
    /// 429s, latency and the server's peak memory.
    Serve(bench_serve::ServeBenchArgs),
}

/// Engine settings shared by every verb that runs a model.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Registry name or path to a .gguf file.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Threads for llama.cpp (default: the cores that are free now).
    #[arg(long)]
    pub threads: Option<usize>,
    /// KV cells shared by all sequences.
    #[arg(long, default_value_t = 8192)]
    pub ctx: u32,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 8)]
    pub parallel: u32,
    /// Finished prompts kept in the KV cache so that a later prompt with the same start
    /// (few-shot examples, an earlier turn) reuses them; 0 turns the prefix cache off.
    #[arg(long, default_value_t = 4)]
    pub prefix_cache: u32,
    /// A LoRA adapter in GGUF (from `hypatia train` or llama.cpp's converter) applied to
    /// the model; results name the model `MODEL+ADAPTER`.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// How strongly the adapter applies (1 = as trained).
    #[arg(long, default_value_t = 1.0)]
    pub adapter_scale: f32,
    /// Use an OpenAI-compatible server (vLLM, SGLang, another `hypatia serve`) instead of
    /// the embedded engine, e.g. http://gpu-box:8000. `eval` shards its problems over
    /// several (repeat the flag or separate with commas).
    #[arg(long = "backend", value_delimiter = ',')]
    pub backends: Vec<String>,
    /// The model to ask the --backend server for (default: the first it lists).
    #[arg(long)]
    pub remote_model: Option<String>,
    /// API key sent to the --backend server as a bearer token.
    #[arg(long, env = "HYPATIA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl EngineArgs {
    pub fn load(&self) -> Result<LlamaEngine> {
        let store = ModelStore::default();
        let path = store.ensure(&self.model)?;
        let config = EngineConfig {
            n_ctx: self.ctx,
            n_seq_max: self.parallel,
            n_threads: self.threads,
            prefix_cache_seqs: self.prefix_cache,
            adapter: self.adapter.clone(),
            adapter_scale: self.adapter_scale,
            ..EngineConfig::default()
        };
        // A run with an adapter is a different model: its results must not mix with the
        // base model's (eval refuses to resume into another model's results).
        let name = match &self.adapter {
            Some(file) => format!(
                "{}+{}",
                self.model,
                file.file_stem().map_or("adapter".into(), |s| s.to_string_lossy())
            ),
            None => self.model.clone(),
        };
        LlamaEngine::load(&name, &path, &config)
            .with_context(|| format!("loading model {}", self.model))
    }

    /// The embedded engine, or the remote server(s) named by `--backend`.
    pub fn backends(&self) -> Result<Vec<Arc<dyn Backend>>> {
        if self.backends.is_empty() {
            return Ok(vec![Arc::new(self.load()?)]);
        }
        if self.adapter.is_some() {
            anyhow::bail!(
                "--adapter applies to the embedded engine; load it on the --backend server"
            );
        }
        self.backends
            .iter()
            .map(|url| {
                let remote =
                    RemoteBackend::new(url, self.remote_model.clone(), self.api_key.clone())
                        .with_context(|| format!("connecting to {url}"))?;
                Ok(Arc::new(remote) as Arc<dyn Backend>)
            })
            .collect()
    }

    /// The one backend of a verb that does not shard.
    pub fn backend(&self) -> Result<Arc<dyn Backend>> {
        let mut all = self.backends()?;
        if all.len() > 1 {
            anyhow::bail!("only `eval` spreads its work over several --backend servers");
        }
        Ok(all.remove(0))
    }
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct EvalArgs {
    #[command(subcommand)]
    command: Option<EvalCommand>,
    /// JSONL data file (GSM8K, MATH, SVAMP, ASDiv, MAWPS, Minerva, AIME/AMC, Gaokao, CollegeMath).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory (results.jsonl, summary.json, report.html); an existing run resumes.
    #[arg(long)]
    out: Option<PathBuf>,
    /// dev, train or all (dev/train exist for the GSM8K and MATH files).
    #[arg(long, default_value = "all")]
    split: String,
    /// Evaluate a seeded sample of N problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the --limit sample.
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    /// Problems solved at once. On a few CPU cores decode is compute-bound, so more in
    /// flight only delays every result; raise it for a GPU or a remote server.
    #[arg(long, default_value_t = 2)]
    in_flight: u32,
    /// Strategy: auto (adaptive, with a calibrated confidence), cot, pot, code-feedback,
    /// tools, solver-verifier, vote.
    #[arg(long, default_value = hypatia_solve::DEFAULT_STRATEGY)]
    strategy: String,
    #[command(flatten)]
    options: StrategyArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Problems whose verdict changed between two runs, and an exact McNemar test.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fit `auto`'s confidence table from finished `auto` runs (development splits only):
    /// prints each evidence bucket's accuracy and the cross-fitted calibration; with --out
    /// merges the table into that file (crates/solve/calibration.json ships with Hypatia).
    Calibrate {
        /// Eval output directories of `auto` runs.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the summaries of finished runs as one Markdown table.
    Table {
        /// Eval output directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Tutor metrics on perturbed GSM8K training solutions: mistake location, answer
    /// leaks and question rate under pressure, simulated-student success@k. Writes
    /// tutor_turns.jsonl, tutor_dialogues.jsonl and tutor_summary.json; a rerun resumes.
    Tutor {
        /// GSM8K-format JSON Lines; its train split is used.
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Perturbed problems; each gives one diagnosis turn and three pressure turns.
        #[arg(long, default_value_t = 250)]
        limit: usize,
        /// Simulated-student dialogues.
        #[arg(long, default_value_t = 20)]
        dialogues: usize,
        /// Student turns per dialogue (k of success@k).
        #[arg(long, default_value_t = 5)]
        student_turns: u32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// School grade the replies are written for.
        #[arg(long, default_value_t = 6)]
        grade: u8,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Tutor false rejection: on problems given without a worked solution (the tutor
    /// solves them silently), the student gives the right answer, bare and with worked
    /// steps; how often does the tutor call it wrong? Writes tutor_false_rejection.jsonl
    /// (resumable) and false_rejection_summary.json.
    FalseRejection {
        /// GSM8K-format JSON Lines.
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// dev, train or all.
        #[arg(long, default_value = "dev")]
        split: String,
        /// Problems; each gives two right answers.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// An `auto` eval run over the same problems: its solutions are the tutor's
        /// references (the silent solve, already computed).
        #[arg(long)]
        references: Option<PathBuf>,
        /// School grade the replies are written for.
        #[arg(long, default_value_t = 6)]
        grade: u8,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Score a run's explanations with a judge model (answer correctness, reasoning,
    /// clarity, student-friendliness, 1-5; pass/fail; reason). Writes judge.jsonl and
    /// judge_summary.json into the run directory; a rerun resumes.
    Judge {
        /// An eval output directory.
        run: PathBuf,
        /// Judge at most N explanations.
        #[arg(long)]
        limit: Option<usize>,
        /// Explanations judged at once.
        #[arg(long, default_value_t = 2)]
        in_flight: u32,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["gold", "pairs", "extract"])))]
struct GradeArgs {
    /// The reference answer (with --pred): prints `equal` or `different`.
    #[arg(long, requires = "pred", allow_hyphen_values = true)]
    gold: Option<String>,
    /// The answer to check against --gold.
    #[arg(long, requires = "gold", allow_hyphen_values = true)]
    pred: Option<String>,
    /// The question (with --gold): its wording may license rounding ("to the nearest
    /// tenth") or a percentage written without its sign ("what percent …?").
    #[arg(long, requires = "gold")]
    question: Option<String>,
    /// JSONL file of {"gold":..,"pred":..} lines: prints one {"equal":bool} line per input line.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Read a model response on stdin and print the extracted answer.
    #[arg(long)]
    extract: bool,
}

#[derive(Args)]
struct SolveArgs {
    /// Strategy: auto (adaptive, with a calibrated confidence), cot, pot, code-feedback,
    /// tools, solver-verifier, vote.
    #[arg(long, default_value = hypatia_solve::DEFAULT_STRATEGY)]
    strategy: String,
    #[command(flatten)]
    options: StrategyArgs,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
    /// The problem, in words.
    problem: String,
}

/// Knobs of the strategies, shared by `solve` and `eval`.
#[derive(Args, Clone, Debug)]
pub struct StrategyArgs {
    /// Samples voted over (vote).
    #[arg(long, default_value_t = 5)]
    pub samples: u32,
    /// Strategy voted over (vote) or used as the solver (solver-verifier).
    #[arg(long, default_value = "pot")]
    pub base: String,
    /// Token budget of each model call.
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy; vote samples at 0.7 when this is 0).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Seed of the samplers.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Skip pot's student-facing explanation (about half of its tokens); the answer is
    /// the same, so accuracy runs can use it.
    #[arg(long)]
    pub no_explain: bool,
}

impl StrategyArgs {
    pub fn build(&self, name: &str) -> Result<Box<dyn hypatia_solve::Strategy>> {
        let opts = hypatia_solve::StrategyOptions {
            samples: self.samples,
            base: self.base.clone(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            seed: self.seed,
            explain: !self.no_explain,
            ..hypatia_solve::StrategyOptions::default()
        };
        Ok(hypatia_solve::build_strategy(name, &opts)?)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server logs its requests by default; other verbs only their errors.
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "error" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HYPATIA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // HYPATIA_LOG_FORMAT=json: one JSON object per event, for log collectors.
    if std::env::var("HYPATIA_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Model { command: ModelCommand::Pull { name } } => model_pull(name),
        Command::Model { command: ModelCommand::List } => model_list(),
        Command::Solve(args) => solve(args),
        Command::Bench { command: BenchCommand::Engine(args) } => bench::engine(args),
        Command::Bench { command: BenchCommand::Tutor(args) } => bench_tutor::run(args),
        Command::Bench { command: BenchCommand::Serve(args) } => bench_serve::run(args),
        Command::Exec { timeout, file } => exec(timeout, &file),
        Command::Grade(args) => grade(args),
        Command::Eval(args) => eval(*args),
        Command::Tutor(args) => tutor::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Data { command } => data::run(command),
        Command::Train { command } => train::run(command),
        Command::Adapter { command } => train::adapter(command),
    }
}

fn eval(args: EvalArgs) -> Result<()> {
    if let Some(EvalCommand::Compare { a, b, json }) = &args.command {
        let comparison = hypatia_eval::compare(a, b)?;
        if *json {
            println!("{}", serde_json::to_string_pretty(&comparison)?);
        } else {
            print!("{comparison}");
        }
        return Ok(());
    }
    if let Some(EvalCommand::Calibrate { runs, out }) = &args.command {
        print!("{}", hypatia_eval::calibration::calibrate(runs, out.as_deref())?);
        return Ok(());
    }
    if let Some(EvalCommand::Table { runs }) = &args.command {
        let mut summaries = Vec::new();
        for run in runs {
            let summary = hypatia_eval::Summary::read(run).with_context(|| {
                format!("{} has no readable {}", run.display(), hypatia_eval::SUMMARY_FILE)
            })?;
            summaries.push(summary);
        }
        print!("{}", hypatia_eval::markdown_table(&summaries));
        return Ok(());
    }
    if let Some(EvalCommand::Tutor {
        data,
        out,
        limit,
        dialogues,
        student_turns,
        seed,
        grade,
        engine,
    }) = &args.command
    {
        let options = hypatia_eval::TutorEvalOptions {
            data: data.clone(),
            out: out.clone(),
            limit: *limit,
            dialogues: *dialogues,
            student_turns: *student_turns,
            seed: *seed,
            config: hypatia_tutor::TutorConfig { grade: *grade, ..Default::default() },
        };
        let backend = engine.backend()?;
        let bar = indicatif::ProgressBar::new(0);
        let summary =
            hypatia_eval::run_tutor_eval(backend, &options, &mut |phase, done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(phase.to_string());
                if bar.is_hidden() {
                    eprintln!("[{phase} {done}/{total}]");
                }
            })?;
        bar.finish_and_clear();
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if let Some(EvalCommand::FalseRejection {
        data,
        out,
        split,
        limit,
        seed,
        references,
        grade,
        engine,
    }) = &args.command
    {
        let options = hypatia_eval::false_rejection::FalseRejectionOptions {
            data: data.clone(),
            out: out.clone(),
            split: split.parse().map_err(|e| anyhow::anyhow!("--split: {e}"))?,
            limit: *limit,
            seed: *seed,
            references: references.clone(),
            config: hypatia_tutor::TutorConfig { grade: *grade, ..Default::default() },
        };
        let backend = engine.backend()?;
        let executor: Arc<dyn hypatia_solve::Executor> =
            Arc::new(hypatia_solve::SandboxExecutor::global(hypatia_sandbox::Limits::default()));
        let bar = hypatia_eval::problems_bar(*limit, 0);
        let summary = hypatia_eval::false_rejection::run_false_rejection(
            backend,
            executor,
            &options,
            &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                if bar.is_hidden() {
                    eprintln!("[{done}/{total}]");
                }
            },
        )?;
        bar.finish_and_clear();
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if let Some(EvalCommand::Judge { run, limit, in_flight, engine }) = &args.command {
        return judge(run, *limit, *in_flight, engine);
    }
    let (Some(data), Some(out)) = (&args.data, &args.out) else {
        anyhow::bail!("eval needs --data FILE.jsonl and --out DIR (or: eval compare A B)");
    };
    let strategy = args.options.build(&args.strategy)?;
    // A label that names the settings, so resuming cannot mix two configurations.
    let mut label = match args.strategy.as_str() {
        "vote" => format!("vote-{}-k{}", args.options.base, args.options.samples),
        "solver-verifier" => format!("solver-verifier-{}", args.options.base),
        other => other.to_string(),
    };
    if args.options.no_explain {
        label.push_str("-noexplain");
    }
    let samples_per_problem = if args.strategy == "vote" { args.options.samples.max(1) } else { 1 };
    let mut opts = hypatia_eval::EvalOptions::new(data, out);
    opts.split = args.split.parse().map_err(|e| anyhow::anyhow!("--split: {e}"))?;
    opts.limit = args.limit;
    opts.seed = args.sample_seed;
    let in_flight = args.in_flight.max(1);
    opts.parallel = in_flight as usize;
    opts.strategy_label = Some(label);
    // Check the data before spending a minute loading a model.
    hypatia_eval::Dataset::load(data).with_context(|| format!("reading {}", data.display()))?;
    let mut engine_args = args.engine.clone();
    // Every problem in flight may hold all its samples' sequences at once.
    engine_args.parallel = engine_args.parallel.max(in_flight * samples_per_problem);
    let backends = engine_args.backends()?;
    let shards: Vec<&dyn Backend> = backends.iter().map(|b| b.as_ref() as &dyn Backend).collect();
    let mut bar = hypatia_eval::TerminalProgress::new();
    let summary =
        hypatia_eval::run_eval_sharded(&shards, strategy.as_ref(), &opts, &mut |p| bar.update(p))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn judge(run: &Path, limit: Option<usize>, in_flight: u32, engine: &EngineArgs) -> Result<()> {
    let results = run.join(hypatia_eval::RESULTS_FILE);
    if !results.is_file() {
        anyhow::bail!(
            "{} does not exist: judge needs the directory of an eval run",
            results.display()
        );
    }
    let mut engine = engine.clone();
    engine.parallel = engine.parallel.max(in_flight);
    let backend = engine.backend()?;
    let mut opts = hypatia_eval::JudgeOptions::new(run);
    opts.limit = limit;
    opts.parallel = in_flight.max(1) as usize;
    let bar = indicatif::ProgressBar::new(0);
    let summary = hypatia_eval::run_judge(&backend, &opts, &mut |done, total, agreeing| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("agrees with the checker on {agreeing}/{done}"));
        if bar.is_hidden() && done > 0 {
            eprintln!("[{done}/{total}] agrees with the checker on {agreeing}/{done}");
        }
    })?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn grade(args: GradeArgs) -> Result<()> {
    if let (Some(gold), Some(pred)) = (&args.gold, &args.pred) {
        let checker = match &args.question {
            Some(q) => hypatia_grade::Checker::default().with_question(q),
            None => hypatia_grade::Checker::default(),
        };
        let verdict = if checker.equivalent(gold, pred) { "equal" } else { "different" };
        println!("{verdict}");
        return Ok(());
    }
    if let Some(path) = &args.pairs {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let stdout = std::io::stdout().lock();
        hypatia_grade::grade_pairs_jsonl(
            std::io::BufReader::new(file),
            std::io::BufWriter::new(stdout),
        )
        .with_context(|| format!("grading {}", path.display()))?;
        return Ok(());
    }
    // A response is at most a few thousand tokens; a bounded read keeps an endless stdin
    // from growing memory.
    const MAX_RESPONSE_BYTES: u64 = 16 << 20;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::io::stdin(), MAX_RESPONSE_BYTES + 1),
        &mut text,
    )
    .context("reading stdin")?;
    if text.len() as u64 > MAX_RESPONSE_BYTES {
        anyhow::bail!("the response on stdin is longer than {MAX_RESPONSE_BYTES} bytes");
    }
    match hypatia_grade::extract_answer(&text, &hypatia_grade::ExtractOptions::default()) {
        Some(answer) => {
            println!("{answer}");
            Ok(())
        }
        None => anyhow::bail!("no answer found in the response"),
    }
}

fn exec(timeout: Option<f64>, file: &std::path::Path) -> Result<()> {
    let timeout = match timeout {
        Some(t) if !(t.is_finite() && t > 0.0 && t <= 3600.0) => {
            anyhow::bail!("--timeout must be a number of seconds in (0, 3600], got {t}")
        }
        t => t.map(std::time::Duration::from_secs_f64),
    };
    if !file.is_file() {
        anyhow::bail!("{} is not a readable file", file.display());
    }
    // An error here is the sandbox failing, never the program: the program's own failures
    // are statuses inside the JSON.
    let outcome = hypatia_sandbox::exec_file(file, timeout)
        .with_context(|| format!("running {} in the sandbox", file.display()))?;
    println!("{}", outcome.to_json());
    Ok(())
}

fn model_pull(name: Option<String>) -> Result<()> {
    let name = name.unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let spec = models::find(&name)?;
    let store = ModelStore::default();
    let was_present = store.is_present(&spec);
    let path = store.pull(&spec)?;
    let verb = if was_present { "already present" } else { "pulled and verified" };
    println!("{name}: {verb} at {}", path.display());
    Ok(())
}

fn model_list() -> Result<()> {
    let store = ModelStore::default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<20} {:>9}  {:<8} description", "name", "size", "status")?;
    for spec in models::registry() {
        let status = if store.is_present(&spec) { "present" } else { "absent" };
        let size = format!("{:.0} MB", spec.bytes as f64 / 1e6);
        writeln!(out, "{:<20} {:>9}  {:<8} {}", spec.name, size, status, spec.description)?;
    }
    writeln!(out, "models directory: {}", store.dir().display())?;
    Ok(())
}

fn solve(args: SolveArgs) -> Result<()> {
    let strategy = args.options.build(&args.strategy)?;
    if args.problem.trim().is_empty() {
        anyhow::bail!("the problem is empty; pass it in quotes: hypatia solve \"What is 2+3?\"");
    }
    let engine = args.engine.backend()?;
    let problem = Problem::new(args.problem);
    let json = args.json;
    let mut stdout = std::io::stdout();
    let solution = strategy.solve(engine.as_ref(), &problem, &mut |event| {
        let Event::Text(text) = event;
        if !json {
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
    })?;
    if json {
        let value = serde_json::json!({
            "answer": solution.answer,
            "strategy": solution.strategy,
            "model": solution.model,
            "tokens": solution.completion_tokens,
            "prompt_tokens": solution.prompt_tokens,
            "seconds": solution.seconds,
            "confidence": solution.confidence,
            "text": solution.text,
        });
        println!("{value}");
    } else {
        let answer = solution.answer.as_deref().unwrap_or("(no answer found)");
        match solution.confidence {
            Some(c) => println!("\n\nAnswer: {answer} (confidence {c:.2})"),
            None => println!("\n\nAnswer: {answer}"),
        }
        eprintln!(
            "[{} · {} · {} tokens · {:.1} s]",
            solution.strategy, solution.model, solution.completion_tokens, solution.seconds
        );
    }
    Ok(())
}

/// Where benchmark results go by default.
pub fn default_bench_dir() -> PathBuf {
    PathBuf::from("bench").join("results")
}
