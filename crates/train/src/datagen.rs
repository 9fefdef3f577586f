//! Verified training data by rejection sampling (`hypatia data gen`).
//!
//! For every problem of a training split, a strategy draws K samples; a sample is kept
//! only when the checker finds its answer equivalent to the gold answer, the code it ran
//! (if any) ran cleanly, and its text is not a near-copy of a sample already kept for the
//! same problem. Each kept sample becomes one chat in `train.jsonl`, ready for supervised
//! fine-tuning.
//!
//! # Why it is built this way
//!
//! * **Only training problems.** The problems come from [`Dataset::select`] with
//!   [`Split::Train`], which leaves out the development lines and the GSM8K exclusion
//!   list; `dev` is refused outright, and `all` is accepted only for files that have no
//!   development split, so a model can never be trained on what it is evaluated on.
//! * **The chat the strategy sent.** An example is the prompt of the model call that
//!   produced the verified answer, exactly as the strategy built it, followed by that
//!   call's completion (see [`training_chat`]). Fine-tuned on it, the model learns to
//!   answer the very prompt it will see when the same strategy runs at inference, instead
//!   of a paraphrase of it.
//! * **The output directory is the state.** Each finished problem appends its examples to
//!   `train.jsonl`, then one line to `done.jsonl`; a rerun skips the problems listed in
//!   `done.jsonl` and drops examples of problems that never reached it (a run killed
//!   between the two writes). `run.json` names the data, strategy, model and K, and a
//!   rerun with other ones is refused, so one file never mixes two configurations.
//! * **Several problems in flight.** Like `eval`, a pool of scoped threads each samples
//!   one problem at a time; the embedded engine batches their sequences into one decode.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hypatia_eval::{
    check_golds, read_jsonl, read_whole_lines, Dataset, EvalItem, JsonlWriter, Split,
};
use hypatia_llm::{Backend, ChatMessage, FinishReason, Role};
use hypatia_sandbox::Status;
use hypatia_solve::{Problem, Solution, Step, Strategy, StrategyOptions, Trace};
use serde::{Deserialize, Serialize};

/// The SFT examples, one chat a line.
pub const TRAIN_FILE: &str = "train.jsonl";
/// One line per finished problem; resuming skips the ids listed here.
pub const DONE_FILE: &str = "done.jsonl";
/// The run's figures, rewritten as it goes.
pub const SUMMARY_FILE: &str = "summary.json";
/// What the directory was made with; a rerun must match it.
pub const RUN_FILE: &str = "run.json";

/// Strategies whose samples map onto one training chat. `vote` and `solver-verifier`
/// are left out: both already draw several solutions per problem and pick one, which is
/// what rejection sampling against the gold answer does better; sample their base
/// strategy instead.
pub const GEN_STRATEGIES: &[&str] = &["cot", "pot", "code-feedback", "tools"];

/// How often a running generation rewrites `summary.json`, so that a killed run still
/// leaves figures (and its wall time for the next session) behind.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// The JSON Lines data file (any format `eval` reads).
    pub data: PathBuf,
    /// The output directory: `train.jsonl`, `done.jsonl`, `summary.json`, `run.json`.
    pub out: PathBuf,
    /// [`Split::Train`], or [`Split::All`] for files without development splits.
    pub split: Split,
    /// Sample a seeded subset of this many problems of the split.
    pub limit: Option<usize>,
    /// Seed of the `limit` subset.
    pub selection_seed: u64,
    /// Samples drawn per problem (K).
    pub samples: u32,
    /// Seed of the samplers; problem `line` uses `seed + line * K` onwards, so every
    /// sample of the run has its own seed whatever the selection.
    pub seed: u32,
    /// Sampling temperature; greedy samples of one prompt would all be the same.
    pub temperature: f32,
    /// Token budget of each model call.
    pub max_tokens: u32,
    /// Problems sampled at once; 0 is taken as 1.
    pub in_flight: usize,
}

impl GenOptions {
    /// The training split of `data`, four samples a problem at temperature 0.7, two
    /// problems in flight.
    pub fn new(data: impl Into<PathBuf>, out: impl Into<PathBuf>) -> GenOptions {
        GenOptions {
            data: data.into(),
            out: out.into(),
            split: Split::Train,
            limit: None,
            selection_seed: 0,
            samples: 4,
            seed: 0,
            temperature: 0.7,
            max_tokens: 1024,
            in_flight: 2,
        }
    }

    /// Refuses settings that cannot give training data, before anything is loaded.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.split == Split::Dev {
            bail!(
                "--split dev is the held-out development split: training data is never \
                 generated from it (use --split train)"
            );
        }
        if self.samples == 0 {
            bail!("--samples must be at least 1");
        }
        Ok(())
    }

    /// The strategy settings for sampling: this run's temperature and token budget, and no
    /// `pot` explanation, which no example contains (it would only cost tokens).
    pub fn strategy_options(&self) -> StrategyOptions {
        StrategyOptions {
            samples: self.samples,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            seed: self.seed,
            explain: false,
            ..StrategyOptions::default()
        }
    }
}

/// Builds a strategy of [`GEN_STRATEGIES`] with [`GenOptions::strategy_options`], running
/// code in the process-wide sandbox.
pub fn build_gen_strategy(name: &str, opts: &GenOptions) -> anyhow::Result<Box<dyn Strategy>> {
    check_strategy(name)?;
    Ok(hypatia_solve::build_strategy(name, &opts.strategy_options())?)
}

fn check_strategy(name: &str) -> anyhow::Result<()> {
    if !GEN_STRATEGIES.contains(&name) {
        bail!(
            "data gen cannot sample strategy `{name}`; it can sample {} (for vote or \
             solver-verifier, sample their base strategy: the checker already picks the \
             right samples)",
            GEN_STRATEGIES.join(", ")
        );
    }
    Ok(())
}

/// Loads the data and selects the problems to sample, refusing anything that could reach
/// the development lines. Cheap: callers run it before loading a model.
pub fn select_problems(opts: &GenOptions) -> anyhow::Result<(Dataset, Vec<EvalItem>)> {
    opts.validate()?;
    let dataset = Dataset::load(&opts.data)?;
    if opts.split == Split::All && dataset.format.has_splits() {
        bail!(
            "{}: --split all would include the development lines of this {} file; \
             use --split train",
            opts.data.display(),
            dataset.format
        );
    }
    let items = dataset.select(opts.split, opts.limit, opts.selection_seed)?;
    Ok((dataset, items))
}

/// One SFT example: a line of `train.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The problem's id in the data file.
    pub id: String,
    /// The data file's name.
    pub source: String,
    pub strategy: String,
    pub gold: String,
    /// The sample's answer, which the checker found equivalent to `gold`.
    pub answer: String,
    /// The prompt as the strategy sent it, then the assistant's reply. Only the last
    /// message is the sample's work: earlier assistant messages are the strategy's worked
    /// examples or a failed attempt that the reply repairs, so a trainer should put its
    /// loss on the last message alone.
    pub messages: Vec<ChatMessage>,
    /// Tokens the model generated for the assistant's reply.
    pub completion_tokens: u32,
    /// Which of the problem's K samples this was.
    pub sample: u32,
}

/// A line of `done.jsonl`: what sampling one problem gave.
///
/// Invariant: `kept + duplicates + no_answer + wrong + code_failed + unusable == samples`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoneRecord {
    pub id: String,
    pub gold: String,
    /// Samples drawn.
    pub samples: u32,
    /// Examples written to `train.jsonl`.
    pub kept: u32,
    /// Completion tokens of all samples.
    pub tokens: u64,
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Verified samples dropped as copies of a kept one.
    #[serde(default)]
    pub duplicates: u32,
    #[serde(default)]
    pub no_answer: u32,
    #[serde(default)]
    pub wrong: u32,
    /// Right answers whose last program did not run cleanly.
    #[serde(default)]
    pub code_failed: u32,
    /// Right answers without a usable chat: the reply was cut off by the token budget.
    #[serde(default)]
    pub unusable: u32,
    #[serde(default)]
    pub seconds: f64,
}

/// `run.json`: what the directory was made with. A rerun must match `data`, `strategy`,
/// `model` and `k`; the rest is recorded for the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// The data file's name (not its path, so a run resumes from another directory).
    pub data: String,
    pub strategy: String,
    pub model: String,
    pub k: u32,
    #[serde(default)]
    pub temperature: f32,
    #[serde(default)]
    pub max_tokens: u32,
}

impl RunIdentity {
    fn check(&self, theirs: &RunIdentity, path: &Path) -> anyhow::Result<()> {
        let pairs = [
            ("data", theirs.data.clone(), self.data.clone()),
            ("strategy", theirs.strategy.clone(), self.strategy.clone()),
            ("model", theirs.model.clone(), self.model.clone()),
            ("k (--samples)", theirs.k.to_string(), self.k.to_string()),
        ];
        for (what, theirs, ours) in pairs {
            if theirs != ours {
                bail!(
                    "{} was made with {what} `{theirs}`, but this run uses `{ours}`; \
                     use another output directory (or remove it to start over)",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// Why the samples that were not kept were dropped, summed over problems.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rejections {
    pub no_answer: u64,
    pub wrong: u64,
    pub code_failed: u64,
    pub unusable: u64,
    pub duplicates: u64,
}

/// A problem whose sampling failed in this session (an engine or sandbox error). It is
/// not marked done, so the next run tries it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemError {
    pub id: String,
    pub error: String,
}

/// `summary.json`: the figures of the whole directory (every finished problem, this
/// session's and earlier ones').
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenSummary {
    /// The data file as given.
    pub data: String,
    pub format: String,
    pub split: String,
    pub limit: Option<usize>,
    pub sample_seed: u64,
    pub strategy: String,
    pub model: String,
    /// Samples per problem.
    pub k: u32,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Problems selected by this session's data, split and limit.
    pub selected: u64,
    /// Selected problems not finished yet (0 once the run is complete).
    pub remaining: u64,
    /// Problems finished.
    pub problems: u64,
    /// Finished problems with at least one example.
    pub problems_with_data: u64,
    /// Samples drawn.
    pub samples: u64,
    /// Lines of `train.jsonl`.
    pub examples: u64,
    /// `examples / samples`: the share of samples that became an example.
    #[serde(rename = "yield")]
    pub yield_rate: f64,
    /// Samples whose answer was verified, duplicates included, over samples drawn.
    pub verified_rate: f64,
    pub mean_kept_per_problem: f64,
    /// `kept_histogram[n]`: problems that gave `n` examples.
    pub kept_histogram: Vec<u64>,
    pub rejected: Rejections,
    pub tokens_generated: u64,
    pub prompt_tokens: u64,
    /// Generated tokens (kept or not) per example: the price of one example.
    pub tokens_per_example: f64,
    /// Over every session that wrote into the directory.
    pub wall_seconds: f64,
    pub examples_per_hour: f64,
    /// Problems that failed in this session and will be retried by the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemError>,
}

impl GenSummary {
    /// The summary in `dir`, if there is a readable one.
    pub fn read(dir: &Path) -> Option<GenSummary> {
        let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_json_atomically(&dir.join(SUMMARY_FILE), self)
    }
}

/// Where a run stands; passed to the progress callback once at the start and after every
/// problem.
#[derive(Debug, Clone, Copy)]
pub struct GenProgress<'a> {
    /// Problems selected.
    pub total: usize,
    /// Selected problems finished, including those found in `done.jsonl` at the start.
    pub done: usize,
    /// Selected problems that were already finished when this session started.
    pub resumed: usize,
    /// Samples drawn and examples kept for the finished problems.
    pub samples: u64,
    pub kept: u64,
    /// Problems that failed in this session.
    pub errors: usize,
    /// The problem that just finished; `None` for the first call and after a failure.
    pub last: Option<&'a DoneRecord>,
}

/// Samples every selected problem that `opts.out` does not list as done, keeps the
/// verified samples and writes them; returns (and writes) the summary.
///
/// `strategy` should be built with [`GenOptions::strategy_options`] (as
/// [`build_gen_strategy`] does) so that the recorded temperature and budget are true. A
/// problem whose sampling fails is reported in [`GenSummary::errors`] and left for the
/// next run; only problems with the run itself (unreadable data, a directory made with
/// another configuration, a full disk) return an error.
pub fn generate_data(
    backend: &dyn Backend,
    strategy: &dyn Strategy,
    opts: &GenOptions,
    progress: &mut dyn FnMut(&GenProgress<'_>),
) -> anyhow::Result<GenSummary> {
    check_strategy(strategy.name())?;
    let (dataset, items) = select_problems(opts)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let identity = RunIdentity {
        data: file_name(&opts.data),
        strategy: strategy.name().to_string(),
        model: backend.model_name().to_string(),
        k: opts.samples,
        temperature: opts.temperature,
        max_tokens: opts.max_tokens,
    };
    let mut done = open_run(&opts.out, &identity)?;
    check_golds(&items, |id| done.get(id).map(|r| r.gold.as_str()), &opts.out.join(DONE_FILE))?;
    let earlier_wall = if done.is_empty() {
        0.0
    } else {
        GenSummary::read(&opts.out).map_or(0.0, |s| s.wall_seconds)
    };

    let pending: Vec<&EvalItem> = items.iter().filter(|i| !done.contains_key(&i.id)).collect();
    let selected: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let ours = |done: &HashMap<String, DoneRecord>| {
        done.values().filter(|r| selected.contains(r.id.as_str())).fold(
            (0usize, 0u64, 0u64),
            |(n, samples, kept), r| {
                (n + 1, samples + u64::from(r.samples), kept + u64::from(r.kept))
            },
        )
    };
    let (resumed, mut samples, mut kept) = ours(&done);
    let mut finished = resumed;
    let mut errors: Vec<ProblemError> = Vec::new();
    progress(&GenProgress {
        total: items.len(),
        done: finished,
        resumed,
        samples,
        kept,
        errors: 0,
        last: None,
    });

    let summary_now = |done: &HashMap<String, DoneRecord>, errors: &[ProblemError], wall: f64| {
        let remaining = items.iter().filter(|i| !done.contains_key(&i.id)).count();
        summarize(opts, &dataset, &identity, items.len(), remaining, done, errors, wall)
    };
    let source = identity.data.clone();
    let started = Instant::now();
    let mut train = JsonlWriter::append_to(&opts.out.join(TRAIN_FILE))?;
    let mut done_log = JsonlWriter::append_to(&opts.out.join(DONE_FILE))?;
    let mut failure = None;
    let mut last_summary = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..opts.in_flight.max(1).min(pending.len()) {
            let (tx, next, stop, pending, source) = (tx.clone(), &next, &stop, &pending, &source);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(item) = pending.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let outcome = sample_problem(backend, strategy, item, opts, source);
                    if tx.send((item.id.clone(), outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (id, outcome) in rx {
            let finished_id = match outcome {
                Err(error) => {
                    errors.push(ProblemError { id, error });
                    None
                }
                Ok((record, examples)) => {
                    // Examples first, then the done line: a kill in between leaves examples
                    // of a problem that is not done, which the next run drops and samples
                    // again.
                    let written = examples
                        .iter()
                        .try_for_each(|e| train.write(e))
                        .and_then(|()| done_log.write(&record));
                    if let Err(e) = written {
                        failure = Some(e);
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    finished += 1;
                    samples += u64::from(record.samples);
                    kept += u64::from(record.kept);
                    done.insert(id.clone(), record);
                    Some(id)
                }
            };
            progress(&GenProgress {
                total: items.len(),
                done: finished,
                resumed,
                samples,
                kept,
                errors: errors.len(),
                last: finished_id.as_ref().and_then(|id| done.get(id)),
            });
            if finished_id.is_some() && last_summary.elapsed() >= SUMMARY_EVERY {
                last_summary = Instant::now();
                let wall = earlier_wall + started.elapsed().as_secs_f64();
                if let Err(e) = summary_now(&done, &errors, wall).write(&opts.out) {
                    failure = Some(e);
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let summary = summary_now(&done, &errors, earlier_wall + started.elapsed().as_secs_f64());
    summary.write(&opts.out)?;
    Ok(summary)
}

/// Prepares `dir` for this run: writes `run.json` for a new directory or checks it
/// against an existing one, and returns the finished problems after dropping what a
/// killed run left half-written (a torn last line, examples of an unfinished problem).
fn open_run(dir: &Path, identity: &RunIdentity) -> anyhow::Result<HashMap<String, DoneRecord>> {
    let run_path = dir.join(RUN_FILE);
    let train_path = dir.join(TRAIN_FILE);
    let done_path = dir.join(DONE_FILE);
    match std::fs::read_to_string(&run_path) {
        Ok(text) => {
            let theirs: RunIdentity = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a data gen run file", run_path.display()))?;
            identity.check(&theirs, &run_path)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // run.json is written before anything else, so data without it is not ours.
            for path in [&train_path, &done_path] {
                if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
                    bail!(
                        "{} exists but {} does not: this is not a `data gen` directory \
                         (or it was made by hand); use another output directory",
                        path.display(),
                        run_path.display()
                    );
                }
            }
            write_json_atomically(&run_path, identity)?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", run_path.display())),
    }

    let records: Vec<DoneRecord> = read_jsonl(&done_path, true, "a done record")?;
    let done: HashMap<String, DoneRecord> =
        records.into_iter().map(|r| (r.id.clone(), r)).collect();

    // Keep the examples of finished problems only, as the lines they were written as.
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    let text = match std::fs::read(&train_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", train_path.display())),
    };
    let (ids, good_end) = read_whole_lines::<IdOnly>(&train_path, "an example")?;
    if ids.iter().any(|e| !done.contains_key(&e.id)) || good_end < text.len() as u64 {
        let mut kept = Vec::with_capacity(text.len());
        let lines = text[..good_end as usize].split_inclusive(|&b| b == b'\n');
        let mut ids = ids.iter();
        for line in lines {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if ids.next().is_some_and(|e| done.contains_key(&e.id)) {
                kept.extend_from_slice(line);
            }
        }
        write_atomically(&train_path, &kept)?;
    }
    Ok(done)
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    opts: &GenOptions,
    dataset: &Dataset,
    identity: &RunIdentity,
    selected: usize,
    remaining: usize,
    done: &HashMap<String, DoneRecord>,
    errors: &[ProblemError],
    wall_seconds: f64,
) -> GenSummary {
    let sum = |f: fn(&DoneRecord) -> u64| done.values().map(f).sum::<u64>();
    let problems = done.len() as u64;
    let samples = sum(|r| u64::from(r.samples));
    let examples = sum(|r| u64::from(r.kept));
    let duplicates = sum(|r| u64::from(r.duplicates));
    let tokens_generated = sum(|r| r.tokens);
    let mut kept_histogram = vec![0u64; identity.k as usize + 1];
    for r in done.values() {
        // K is fixed by run.json, so a count above it cannot occur; clamp rather than panic.
        kept_histogram[(r.kept as usize).min(identity.k as usize)] += 1;
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    GenSummary {
        data: opts.data.display().to_string(),
        format: dataset.format.to_string(),
        split: opts.split.to_string(),
        limit: opts.limit,
        sample_seed: opts.selection_seed,
        strategy: identity.strategy.clone(),
        model: identity.model.clone(),
        k: identity.k,
        temperature: opts.temperature,
        max_tokens: opts.max_tokens,
        selected: selected as u64,
        remaining: remaining as u64,
        problems,
        problems_with_data: done.values().filter(|r| r.kept > 0).count() as u64,
        samples,
        examples,
        yield_rate: ratio(examples, samples),
        verified_rate: ratio(
            examples + duplicates + sum(|r| u64::from(r.code_failed) + u64::from(r.unusable)),
            samples,
        ),
        mean_kept_per_problem: ratio(examples, problems),
        kept_histogram,
        rejected: Rejections {
            no_answer: sum(|r| u64::from(r.no_answer)),
            wrong: sum(|r| u64::from(r.wrong)),
            code_failed: sum(|r| u64::from(r.code_failed)),
            unusable: sum(|r| u64::from(r.unusable)),
            duplicates,
        },
        tokens_generated,
        prompt_tokens: sum(|r| r.prompt_tokens),
        tokens_per_example: ratio(tokens_generated, examples),
        wall_seconds,
        examples_per_hour: if wall_seconds > 0.0 {
            examples as f64 * 3600.0 / wall_seconds
        } else {
            0.0
        },
        errors: errors.to_vec(),
    }
}

/// Draws the K samples of one problem and sorts them into kept and rejected. An error
/// (or a panicking strategy) costs this problem, not the run.
fn sample_problem(
    backend: &dyn Backend,
    strategy: &dyn Strategy,
    item: &EvalItem,
    opts: &GenOptions,
    source: &str,
) -> Result<(DoneRecord, Vec<Example>), String> {
    let started = Instant::now();
    let problem = Problem::new(item.question.clone()).with_style(item.style);
    let seed = opts.seed.wrapping_add((item.line as u32).wrapping_mul(opts.samples));
    let drawn = catch_unwind(AssertUnwindSafe(|| {
        strategy.solve_samples(backend, &problem, opts.samples, seed, &mut |_| {})
    }));
    let solutions = match drawn {
        Ok(Ok(solutions)) => solutions,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            return Err(format!("strategy panicked: {message}"));
        }
    };
    let mut record = DoneRecord {
        id: item.id.clone(),
        gold: item.gold.clone(),
        samples: solutions.len() as u32,
        kept: 0,
        tokens: solutions.iter().map(|s| u64::from(s.completion_tokens)).sum(),
        prompt_tokens: solutions.iter().map(|s| u64::from(s.prompt_tokens)).sum(),
        duplicates: 0,
        no_answer: 0,
        wrong: 0,
        code_failed: 0,
        unusable: 0,
        seconds: 0.0,
    };
    let mut seen = HashSet::new();
    let mut examples = Vec::new();
    for (index, solution) in solutions.iter().enumerate() {
        match verify(&item.question, &item.gold, solution) {
            Err(Rejection::NoAnswer) => record.no_answer += 1,
            Err(Rejection::Wrong) => record.wrong += 1,
            Err(Rejection::CodeFailed) => record.code_failed += 1,
            Err(Rejection::Unusable) => record.unusable += 1,
            Ok((answer, chat)) => {
                let reply = chat.messages.last().map_or("", |m| m.content.as_str());
                if !seen.insert(dedup_key(reply)) {
                    record.duplicates += 1;
                    continue;
                }
                record.kept += 1;
                examples.push(Example {
                    id: item.id.clone(),
                    source: source.to_string(),
                    strategy: strategy.name().to_string(),
                    gold: item.gold.clone(),
                    answer,
                    messages: chat.messages,
                    completion_tokens: chat.completion_tokens,
                    sample: index as u32,
                });
            }
        }
    }
    record.seconds = started.elapsed().as_secs_f64();
    Ok((record, examples))
}

/// Why a sample was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    NoAnswer,
    Wrong,
    CodeFailed,
    Unusable,
}

/// The sample's answer and training chat if it is right and usable.
fn verify(
    question: &str,
    gold: &str,
    solution: &Solution,
) -> Result<(String, TrainingChat), Rejection> {
    let answer = solution.answer.as_deref().ok_or(Rejection::NoAnswer)?;
    // The same checker, called the same way, as `eval` uses to mark a problem correct.
    if !hypatia_grade::correct_for(question, gold, answer) {
        return Err(Rejection::Wrong);
    }
    // A right answer next to a crashed program (code-feedback reasoning past its error,
    // tools boxing after a traceback) would teach the model to write code that fails.
    let last_run = solution.trace.steps.iter().rev().find_map(|s| match s {
        Step::Execution { outcome, .. } => Some(outcome.status),
        _ => None,
    });
    if last_run.is_some_and(|status| status != Status::Ok) {
        return Err(Rejection::CodeFailed);
    }
    let chat = training_chat(&solution.trace).ok_or(Rejection::Unusable)?;
    Ok((answer.to_string(), chat))
}

/// A chat to fine-tune on, taken from a solution's trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingChat {
    /// The prompt as the strategy sent it, ending with the assistant's reply.
    pub messages: Vec<ChatMessage>,
    /// Tokens the model generated for the reply.
    pub completion_tokens: u32,
}

/// The chat of the model call that produced a solution's answer: its prompt exactly as the
/// strategy built it, then its completion as the assistant's reply.
///
/// That call is the last generation before the trace's answer step: for `cot` the
/// reasoning that boxes the answer; for `pot` the reply holding the program whose output
/// is the answer (after a failed program, the retry, whose prompt carries the failed
/// attempt and its error, so the model also learns to repair); for `code-feedback` the
/// final reply written after reading the program's output; for `tools` the last
/// segment, which continues the assistant's own text. Generations after the answer (a
/// `pot` explanation) are not part of solving.
///
/// Two repairs make the reply read as the model wrote it: a prompt ending in an assistant
/// message is a continuation (`tools` resumes after each program's output), so that
/// message and the completion become one reply; and a code block left open because a stop
/// string cut its closing fence (`pot` stops there) is closed, as the strategy itself
/// does, so the model learns to end its turn after the program.
///
/// `None` when there is no such generation or it was cut off by the token budget (or
/// cancelled): a reply that stops mid-sentence is nothing to imitate.
pub fn training_chat(trace: &Trace) -> Option<TrainingChat> {
    let steps = &trace.steps;
    let answer_at =
        steps.iter().rposition(|s| matches!(s, Step::Answer { .. })).unwrap_or(steps.len());
    let (chosen_at, prompt, completion, completion_tokens) = steps[..answer_at]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| match s {
            Step::Generation { prompt, completion, completion_tokens, finish_reason, .. } => {
                Some((i, prompt, completion, *completion_tokens, *finish_reason))
            }
            _ => None,
        })
        .and_then(|(i, prompt, completion, tokens, finish)| {
            (finish == FinishReason::Stop).then_some((i, prompt, completion, tokens))
        })?;
    let mut messages = prompt.clone();
    let mut reply = completion.clone();
    let mut tokens = completion_tokens;
    if messages.last().is_some_and(|m| m.role == Role::Assistant) {
        let written = messages.pop()?;
        reply = written.content + completion;
        // The earlier segments of the same reply: the first, sent with the bare prompt,
        // and the continuations, sent with the prompt and the reply so far.
        tokens += steps[..chosen_at]
            .iter()
            .filter_map(|s| match s {
                Step::Generation { prompt, completion_tokens, .. }
                    if continues(prompt, &messages) =>
                {
                    Some(*completion_tokens)
                }
                _ => None,
            })
            .sum::<u32>();
    }
    if reply.matches("```").count() % 2 == 1 {
        reply.push_str("\n```");
    }
    if reply.trim().is_empty() {
        return None;
    }
    messages.push(ChatMessage::assistant(reply));
    Some(TrainingChat { messages, completion_tokens: tokens })
}

/// Whether a generation with `prompt` wrote part of the reply to `base`.
fn continues(prompt: &[ChatMessage], base: &[ChatMessage]) -> bool {
    prompt == base
        || (prompt.len() == base.len() + 1
            && prompt[..base.len()] == *base
            && prompt[base.len()].role == Role::Assistant)
}

/// What two replies must share to count as the same example: the words, whatever the
/// spacing, and in code blocks the code without its comment lines (two samples that differ
/// only in a comment teach the same program twice).
pub fn dedup_key(reply: &str) -> String {
    let mut in_code = false;
    let mut words: Vec<&str> = Vec::new();
    for line in reply.lines() {
        let line = line.trim();
        if line.starts_with("```") {
            in_code = !in_code;
        } else if in_code && line.starts_with('#') {
            continue;
        }
        words.extend(line.split_whitespace());
    }
    words.join(" ")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Write then rename, so that a reader (or a crash) never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut json = serde_json::to_vec_pretty(value)?;
    json.push(b'\n');
    write_atomically(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypatia_llm::{Request, ScriptedBackend};
    use std::sync::Arc;

    /// 20 GSM8K-format problems: problem `i` asks for `i + 1` and its gold is `i + 1`, so
    /// lines 9 and 19 are development lines. Line 3 is on the exclusion list.
    fn gsm8k_dir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("gsm8k_train.jsonl");
        let lines: String = (0..20)
            .map(|i| {
                let record = serde_json::json!({
                    "question": format!("Problem {i}: what is {i} plus one?"),
                    "answer": format!("{i} + 1 = {}\n#### {}", i + 1, i + 1),
                });
                format!("{record}\n")
            })
            .collect();
        std::fs::write(&data, lines).unwrap();
        std::fs::write(dir.path().join(hypatia_eval::GSM8K_EXCLUDE_FILE), "[3]").unwrap();
        (dir, data)
    }

    /// The problem number of a cot request.
    fn problem_number(request: &Request) -> u32 {
        let user = &request.messages.last().unwrap().content;
        let start = user.find("Problem ").unwrap() + "Problem ".len();
        user[start..].split(':').next().unwrap().parse().unwrap()
    }

    /// Per problem: sample 0 right, sample 1 the same words spaced differently, sample 2
    /// wrong, sample 3 right in other words.
    fn scripted() -> ScriptedBackend {
        ScriptedBackend::from_fn(|request, sample| {
            let n = problem_number(request);
            Some(match sample {
                0 => format!("{n} plus one is {}. \\boxed{{{}}}", n + 1, n + 1),
                1 => format!("{n}  plus one\nis {}.   \\boxed{{{}}}", n + 1, n + 1),
                2 => format!("It is \\boxed{{{}}}", n + 7),
                _ => format!("Add one to {n}: \\boxed{{{}}}", n + 1),
            })
        })
    }

    fn cot(opts: &GenOptions) -> Box<dyn Strategy> {
        build_gen_strategy("cot", opts).unwrap()
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn keeps_right_samples_drops_wrong_and_duplicate_ones_and_never_reads_dev_lines() {
        let (dir, data) = gsm8k_dir();
        let out = dir.path().join("run");
        let opts = GenOptions { in_flight: 3, ..GenOptions::new(&data, &out) };
        let backend = scripted();
        let summary = generate_data(&backend, &*cot(&opts), &opts, &mut |_| {}).unwrap();

        // 20 lines, minus dev lines 9 and 19, minus excluded line 3.
        assert_eq!(summary.problems, 17);
        let asked: HashSet<u32> = backend.requests().iter().map(problem_number).collect();
        assert_eq!(asked.len(), 17);
        assert!(!asked.contains(&9) && !asked.contains(&19) && !asked.contains(&3));
        assert!(backend.requests().iter().all(|r| r.params.n == 4 && r.params.temperature > 0.0));

        let examples = lines(&out.join(TRAIN_FILE));
        assert_eq!(examples.len(), 17 * 2);
        assert_eq!(summary.examples, 34);
        assert_eq!(summary.rejected.wrong, 17);
        assert_eq!(summary.rejected.duplicates, 17);
        assert_eq!(summary.yield_rate, 0.5);
        assert_eq!(summary.kept_histogram, [0, 0, 17, 0, 0]);
        let first = examples.iter().find(|e| e["id"] == "0").unwrap();
        assert_eq!(first["source"], "gsm8k_train.jsonl");
        assert_eq!(first["strategy"], "cot");
        assert_eq!((first["gold"].as_str(), first["answer"].as_str()), (Some("1"), Some("1")));
        let messages = first["messages"].as_array().unwrap();
        let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        let prompt = hypatia_solve::ChainOfThought::messages(&Problem::new(
            "Problem 0: what is 0 plus one?",
        ));
        assert_eq!(messages[1]["content"], prompt[1].content.as_str());
        assert_eq!(messages[2]["content"], "0 plus one is 1. \\boxed{1}");
        assert!(first["completion_tokens"].as_u64().unwrap() > 0);

        let done = lines(&out.join(DONE_FILE));
        assert_eq!(done.len(), 17);
        assert!(done.iter().all(|d| d["samples"] == 4 && d["kept"] == 2 && d["tokens"] != 0));
        let on_disk = GenSummary::read(&out).unwrap();
        assert_eq!(on_disk.examples, 34);
        let run: RunIdentity =
            serde_json::from_str(&std::fs::read_to_string(out.join(RUN_FILE)).unwrap()).unwrap();
        assert_eq!((run.strategy.as_str(), run.model.as_str(), run.k), ("cot", "scripted", 4));
    }

    #[test]
    fn resumes_without_redoing_finished_problems() {
        let (dir, data) = gsm8k_dir();
        let out = dir.path().join("run");
        let small = GenOptions { limit: Some(5), ..GenOptions::new(&data, &out) };
        let backend = scripted();
        let first = generate_data(&backend, &*cot(&small), &small, &mut |_| {}).unwrap();
        assert_eq!((first.problems, first.remaining), (5, 0));
        let asked_first: HashSet<u32> = backend.requests().iter().map(problem_number).collect();

        // A killed run: examples of an unfinished problem and a torn done line.
        let train_path = out.join(TRAIN_FILE);
        let train_before = std::fs::read_to_string(&train_path).unwrap();
        let orphan = serde_json::json!({"id": "orphan", "messages": []});
        std::fs::write(&train_path, format!("{train_before}{orphan}\n")).unwrap();
        let done_path = out.join(DONE_FILE);
        let done_before = std::fs::read_to_string(&done_path).unwrap();
        std::fs::write(&done_path, format!("{done_before}{{\"id\":\"1")).unwrap();

        // The same limit and seed: nothing to do, and the debris is cleaned up.
        let again = scripted();
        let mut reports = Vec::new();
        let second = generate_data(&again, &*cot(&small), &small, &mut |p| {
            reports.push((p.done, p.resumed))
        })
        .unwrap();
        assert!(again.requests().is_empty());
        assert_eq!(reports, [(5, 5)]);
        assert_eq!(std::fs::read_to_string(&train_path).unwrap(), train_before);
        assert_eq!(std::fs::read_to_string(&done_path).unwrap(), done_before);
        assert_eq!(second.examples, first.examples);

        // A larger limit adds the missing problems only: the subset property of select.
        let all = GenOptions { limit: None, ..small.clone() };
        let third = scripted();
        let summary = generate_data(&third, &*cot(&all), &all, &mut |_| {}).unwrap();
        let asked_third: HashSet<u32> = third.requests().iter().map(problem_number).collect();
        assert_eq!(asked_third.len(), 12);
        assert!(asked_third.is_disjoint(&asked_first));
        assert_eq!(summary.problems, 17);
        assert_eq!(lines(&train_path).len(), 34);
    }

    #[test]
    fn refuses_dev_data_and_another_configuration() {
        let (dir, data) = gsm8k_dir();
        let out = dir.path().join("run");
        let dev = GenOptions { split: Split::Dev, ..GenOptions::new(&data, &out) };
        let err = select_problems(&dev).unwrap_err().to_string();
        assert!(err.contains("--split dev") && err.contains("never"), "{err}");
        let all = GenOptions { split: Split::All, ..GenOptions::new(&data, &out) };
        let err = select_problems(&all).unwrap_err().to_string();
        assert!(err.contains("development lines"), "{err}");
        assert!(build_gen_strategy("vote", &dev).is_err());

        let opts = GenOptions { limit: Some(2), ..GenOptions::new(&data, &out) };
        generate_data(&scripted(), &*cot(&opts), &opts, &mut |_| {}).unwrap();
        let other_k = GenOptions { samples: 2, ..opts.clone() };
        let err = generate_data(&scripted(), &*cot(&other_k), &other_k, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("k (--samples) `4`"), "{err}");
        let other_model = scripted().with_name("other");
        let err =
            generate_data(&other_model, &*cot(&opts), &opts, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("model `scripted`"), "{err}");
    }

    #[test]
    fn files_without_splits_need_split_all() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("svamp.jsonl");
        let record = serde_json::json!({"Body": "Tom has 3 apples.", "Question": "Problem 1: how many?", "Answer": 3.0, "ID": "s-1"});
        std::fs::write(&data, format!("{record}\n")).unwrap();
        let out = dir.path().join("run");
        let train = GenOptions::new(&data, &out);
        assert!(select_problems(&train).is_err());
        let all = GenOptions { split: Split::All, samples: 1, ..train };
        let backend = ScriptedBackend::new(["Three. \\boxed{3}"]);
        let summary = generate_data(&backend, &*cot(&all), &all, &mut |_| {}).unwrap();
        assert_eq!(summary.examples, 1);
    }

    #[test]
    fn a_failing_problem_is_reported_and_left_for_the_next_run() {
        let (dir, data) = gsm8k_dir();
        let out = dir.path().join("run");
        let opts = GenOptions { limit: Some(3), ..GenOptions::new(&data, &out) };
        // An exhausted script is an engine error on every request.
        let summary =
            generate_data(&ScriptedBackend::new([""; 0]), &*cot(&opts), &opts, &mut |_| {})
                .unwrap();
        assert_eq!((summary.problems, summary.errors.len(), summary.remaining), (0, 3, 3));
        let summary = generate_data(&scripted(), &*cot(&opts), &opts, &mut |_| {}).unwrap();
        assert_eq!((summary.problems, summary.remaining), (3, 0));
        assert!(summary.errors.is_empty());
    }

    #[test]
    fn pot_examples_are_the_program_reply_closed_and_need_a_clean_run() {
        use hypatia_solve::{build_strategy_with, FnExecutor};
        let (dir, data) = gsm8k_dir();
        let out = dir.path().join("run");
        let opts = GenOptions { limit: Some(1), samples: 3, ..GenOptions::new(&data, &out) };
        let executor = FnExecutor::new(|code| {
            if code.contains("raise") {
                FnExecutor::error("ValueError\n")
            } else {
                let last = code.lines().last().unwrap_or_default();
                FnExecutor::ok(last.trim_start_matches("print(").trim_end_matches(')'))
            }
        });
        let pot = build_strategy_with("pot", &opts.strategy_options(), Arc::new(executor)).unwrap();
        let backend = ScriptedBackend::from_fn(|request, sample| {
            let retry = request.messages.len() > 8;
            let n: u32 = request.messages[7].content["Problem ".len()..]
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            Some(match sample {
                _ if retry => format!("Fixed.\n```python\nprint({})\n```\n", n + 1),
                0 => format!("Add one.\n```python\n# the sum\nprint({})\n```\n", n + 1),
                1 => "```python\nraise ValueError\n```\n".to_string(),
                _ => format!("Add one.\n```python\nprint({})\n```\n", n + 1),
            })
        });
        let summary = generate_data(&backend, &*pot, &opts, &mut |_| {}).unwrap();
        // Sample 2 is sample 0 without its comment line: a duplicate.
        assert_eq!((summary.examples, summary.rejected.duplicates), (2, 1));
        let examples = lines(&out.join(TRAIN_FILE));
        let n = examples[0]["id"].as_str().unwrap().parse::<u32>().unwrap();
        let first = examples[0]["messages"].as_array().unwrap();
        assert_eq!(first.len(), 9, "system, three worked examples, the problem, the reply");
        assert_eq!(
            first[8]["content"],
            format!("Add one.\n```python\n# the sum\nprint({})\n```", n + 1)
        );
        // The repaired sample is trained on the retry, with its failed attempt and error.
        let repaired = examples[1]["messages"].as_array().unwrap();
        assert_eq!(repaired.len(), 11);
        assert!(repaired[9]["content"].as_str().unwrap().contains("ValueError"));
        assert!(repaired[10]["content"].as_str().unwrap().starts_with("Fixed."));
    }

    #[test]
    fn a_continued_reply_is_one_message_and_a_truncated_one_is_not_used() {
        let base = vec![ChatMessage::system("s"), ChatMessage::user("u")];
        let generation = |prompt: Vec<ChatMessage>, completion: &str, finish| Step::Generation {
            prompt,
            completion: completion.into(),
            prompt_tokens: 1,
            completion_tokens: 5,
            finish_reason: finish,
        };
        let mut continued = base.clone();
        continued.push(ChatMessage::assistant("A\n```python\nprint(2)\n```\n```output\n2\n```\n"));
        let trace = Trace {
            steps: vec![
                generation(base.clone(), "A\n```python\nprint(2)\n```\n", FinishReason::Stop),
                Step::Execution {
                    code: "print(2)".into(),
                    outcome: hypatia_sandbox::Outcome {
                        status: Status::Ok,
                        stdout: "2\n".into(),
                        stderr: String::new(),
                        seconds: 0.1,
                    },
                },
                generation(continued, "So \\boxed{2}.", FinishReason::Stop),
                Step::Answer { answer: Some("2".into()), source: "boxed".into() },
            ],
        };
        let chat = training_chat(&trace).unwrap();
        assert_eq!(chat.messages.len(), 3);
        assert_eq!(
            chat.messages[2].content,
            "A\n```python\nprint(2)\n```\n```output\n2\n```\nSo \\boxed{2}."
        );
        assert_eq!(chat.completion_tokens, 10);

        let cut =
            Trace { steps: vec![generation(base, "First, \\boxed{2} and", FinishReason::Length)] };
        assert_eq!(training_chat(&cut), None);
    }

    #[test]
    fn dedup_ignores_spacing_and_code_comments_only() {
        assert_eq!(dedup_key("a  b\n c"), dedup_key("a b c"));
        assert_eq!(
            dedup_key("x\n```python\n# add\nprint(1)\n```"),
            dedup_key("x\n```python\nprint(1)  \n```")
        );
        // Outside code, a `#` line is text (a Markdown heading).
        assert_ne!(dedup_key("# Step\nx"), dedup_key("x"));
        assert_ne!(dedup_key("print(1)"), dedup_key("print(2)"));
    }
}
