//! The runner: solves the selected problems on a pool of threads, grades each one and
//! appends it to `results.jsonl` the moment it finishes.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hypatia_llm::Backend;
use hypatia_solve::{Problem, Strategy};

use crate::datasets::{Dataset, EvalItem, Split};
use crate::report::write_report;
use crate::results::{read_results, JsonlWriter, ResultRecord, RESULTS_FILE};
use crate::summary::{RunInfo, Summary};

/// How often a running evaluation rewrites `summary.json`, so that a killed run still
/// leaves figures (and its wall time for the next session) behind.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// What to evaluate and where to write it.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The JSON Lines data file (any of the ten formats).
    pub data: PathBuf,
    /// The run directory: `results.jsonl`, `summary.json`, `report.html`.
    pub out: PathBuf,
    pub split: Split,
    /// Evaluate a seeded sample of this many problems of the split.
    pub limit: Option<usize>,
    pub seed: u64,
    /// Problems in flight at once. The embedded engine batches concurrent requests, so
    /// this should be at least its number of sequences; 0 is taken as 1.
    pub parallel: usize,
    /// Names the strategy in the results, and is what resuming checks; defaults to
    /// `Strategy::name()`. Callers should include parameters that change answers (e.g.
    /// `vote(base=pot,k=8)`), so a resumed run cannot mix two configurations.
    pub strategy_label: Option<String>,
}

impl EvalOptions {
    /// All problems of `data`, seed 0, four in flight.
    pub fn new(data: impl Into<PathBuf>, out: impl Into<PathBuf>) -> EvalOptions {
        EvalOptions {
            data: data.into(),
            out: out.into(),
            split: Split::All,
            limit: None,
            seed: 0,
            parallel: 4,
            strategy_label: None,
        }
    }
}

/// Where a run stands; passed to the progress callback once at the start and after
/// every problem.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Problems selected.
    pub total: usize,
    /// Problems graded, including those found in `results.jsonl` at the start.
    pub done: usize,
    pub correct: usize,
    /// Problems that were already graded when this session started.
    pub resumed: usize,
    /// The problem that just finished; `None` for the first call.
    pub last: Option<&'a ResultRecord>,
}

/// Evaluates `strategy` on `backend` as `opts` says, resuming from what `opts.out`
/// already holds, and writes `summary.json` and `report.html` there.
///
/// A solve that fails (or panics) is recorded as a wrong answer with its error; only
/// problems with the run itself (unreadable data, a results file made by another
/// strategy, model or data set, a full disk) return an error.
pub fn run_eval(
    backend: &dyn Backend,
    strategy: &dyn Strategy,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> anyhow::Result<Summary> {
    run_eval_sharded(&[backend], strategy, opts, progress)
}

/// [`run_eval`] over several backends serving the same model (e.g. one vLLM server per
/// GPU): worker `w` of the `opts.parallel` workers sends its problems to backend
/// `w % backends.len()`, so each problem's calls stay on one server (and its prefix
/// cache) while the servers share the problems.
pub fn run_eval_sharded(
    backends: &[&dyn Backend],
    strategy: &dyn Strategy,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> anyhow::Result<Summary> {
    let Some(backend) = backends.first() else {
        bail!("no backend to evaluate with");
    };
    if let Some(other) = backends.iter().find(|b| b.model_name() != backend.model_name()) {
        bail!(
            "the backends serve different models (`{}` and `{}`); a run measures one model",
            backend.model_name(),
            other.model_name()
        );
    }
    let dataset = Dataset::load(&opts.data)?;
    let items = dataset.select(opts.split, opts.limit, opts.seed)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;

    let run = RunIdentity {
        data: data_name(&opts.data),
        strategy: opts.strategy_label.clone().unwrap_or_else(|| strategy.name().to_string()),
        model: backend.model_name().to_string(),
    };
    let results_path = opts.out.join(RESULTS_FILE);
    let mut records: HashMap<String, ResultRecord> = HashMap::new();
    for record in read_results(&results_path, true)? {
        run.check(&record, &results_path)?;
        records.insert(record.id.clone(), record);
    }
    check_golds(&items, |id| records.get(id).map(|r| r.gold.as_str()), &results_path)?;
    // The wall time of earlier sessions lives in their summary; without results there
    // is nothing it could be the time of.
    let earlier_wall = if records.is_empty() {
        0.0
    } else {
        Summary::read(&opts.out)
            .filter(|s| s.strategy == run.strategy && s.model == run.model)
            .map_or(0.0, |s| s.wall_seconds)
    };

    let pending: Vec<&EvalItem> = items.iter().filter(|i| !records.contains_key(&i.id)).collect();
    let selected: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let resumed = records.keys().filter(|id| selected.contains(id.as_str())).count();
    let mut correct =
        records.values().filter(|r| r.correct && selected.contains(r.id.as_str())).count();
    progress(&Progress { total: items.len(), done: resumed, correct, resumed, last: None });

    let info = |wall: f64| RunInfo {
        data: opts.data.display().to_string(),
        format: dataset.format.to_string(),
        split: opts.split.to_string(),
        limit: opts.limit,
        seed: opts.seed,
        strategy: run.strategy.clone(),
        model: run.model.clone(),
        selected: items.len() as u64,
        skipped: dataset.skipped.clone(),
        wall_seconds: wall,
        parallel: opts.parallel.max(backends.len()),
    };
    let summarize = |records: &HashMap<String, ResultRecord>, wall: f64| {
        let ours: Vec<&ResultRecord> = items.iter().filter_map(|i| records.get(&i.id)).collect();
        Summary::compute(&info(wall), &ours)
    };

    let started = Instant::now();
    let mut writer = JsonlWriter::append_to(&results_path)?;
    let mut failure = None;
    let mut done = resumed;
    let mut last_summary = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<ResultRecord>();
        let workers = opts.parallel.max(backends.len()).min(pending.len());
        for worker in 0..workers {
            let (tx, next, stop, pending, run) = (tx.clone(), &next, &stop, &pending, &run);
            let backend = backends[worker % backends.len()];
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(item) = pending.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    if tx.send(solve_one(backend, strategy, item, run)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for record in rx {
            if let Err(e) = writer.write(&record) {
                failure = Some(e);
                stop.store(true, Ordering::Relaxed);
                break;
            }
            correct += usize::from(record.correct);
            done += 1;
            let id = record.id.clone();
            records.insert(id.clone(), record);
            progress(&Progress {
                total: items.len(),
                done,
                correct,
                resumed,
                last: records.get(&id),
            });
            if last_summary.elapsed() >= SUMMARY_EVERY {
                last_summary = Instant::now();
                let wall = earlier_wall + started.elapsed().as_secs_f64();
                if let Err(e) = summarize(&records, wall).write(&opts.out) {
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
    let summary = summarize(&records, earlier_wall + started.elapsed().as_secs_f64());
    summary.write(&opts.out)?;
    let ordered: Vec<&ResultRecord> = items.iter().filter_map(|i| records.get(&i.id)).collect();
    write_report(&opts.out, &summary, &ordered)?;
    Ok(summary)
}

/// What must be the same for two sessions to write into one results file.
struct RunIdentity {
    data: String,
    strategy: String,
    model: String,
}

impl RunIdentity {
    fn check(&self, record: &ResultRecord, path: &Path) -> anyhow::Result<()> {
        for (what, theirs, ours) in [
            ("data", &record.data, &self.data),
            ("strategy", &record.strategy, &self.strategy),
            ("model", &record.model, &self.model),
        ] {
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

/// A recorded problem whose gold answer differs from the data's comes from an edited data
/// file: resuming would mix two data sets under one name. `gold_of` gives the gold a
/// problem was recorded with (by id), or `None` for problems not recorded yet; `path`
/// names the record in the error.
pub fn check_golds<'a>(
    items: &[EvalItem],
    gold_of: impl Fn(&str) -> Option<&'a str>,
    path: &Path,
) -> anyhow::Result<()> {
    for item in items {
        if let Some(gold) = gold_of(&item.id) {
            if gold != item.gold {
                bail!(
                    "{}: problem `{}` has gold `{}` but the data says `{}`; \
                     the data file changed since that run",
                    path.display(),
                    item.id,
                    gold,
                    item.gold
                );
            }
        }
    }
    Ok(())
}

fn data_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn solve_one(
    backend: &dyn Backend,
    strategy: &dyn Strategy,
    item: &EvalItem,
    run: &RunIdentity,
) -> ResultRecord {
    let started = Instant::now();
    let problem = Problem::new(item.question.clone()).with_style(item.style);
    // A panicking strategy costs one problem, not a run of hundreds.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        strategy.solve(backend, &problem, &mut |_| {}).map(|solution| {
            let correct = solution
                .answer
                .as_deref()
                .is_some_and(|p| hypatia_grade::correct_for(&item.question, &item.gold, p));
            (solution, correct)
        })
    }));
    let seconds = started.elapsed().as_secs_f64();
    let mut record = ResultRecord {
        id: item.id.clone(),
        question: item.question.clone(),
        gold: item.gold.clone(),
        prediction: None,
        correct: false,
        strategy: run.strategy.clone(),
        model: run.model.clone(),
        data: run.data.clone(),
        tokens: 0,
        prompt_tokens: 0,
        seconds,
        subject: item.subject.clone(),
        level: item.level,
        error: None,
        text: String::new(),
        trace: serde_json::Value::Null,
        confidence: None,
    };
    match outcome {
        Ok(Ok((solution, correct))) => {
            record.trace = serde_json::to_value(&solution.trace).unwrap_or_else(|e| {
                serde_json::Value::String(format!("unserializable trace: {e}"))
            });
            record.prediction = solution.answer;
            record.correct = correct;
            record.tokens = u64::from(solution.completion_tokens);
            record.prompt_tokens = u64::from(solution.prompt_tokens);
            record.text = solution.text;
            record.confidence = solution.confidence;
        }
        Ok(Err(e)) => record.error = Some(e.to_string()),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            record.error = Some(format!("strategy panicked: {message}"));
        }
    }
    record
}
