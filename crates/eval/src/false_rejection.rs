//! False rejection: how often the tutor treats a right answer as wrong.
//!
//! A student types a problem without a worked solution, so the tutor's reference is its
//! own silent solve, right only as often as its confidence says. For each problem the
//! student gives the right answer (the data set's gold) twice, in fresh sessions: once
//! bare ("I think the answer is N.") and once with the worked steps in sentences. A reply
//! whose verdict is `incorrect` is a false rejection; `unsure` is the honest middle and is
//! counted apart. Resumable: `tutor_false_rejection.jsonl` holds one line per answer.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use hypatia_llm::Backend;
use hypatia_solve::{Executor, Problem, Solution, Trace};
use hypatia_tutor::ladder::Move;
use hypatia_tutor::{AnswerVerdict, Reference, Session, Tutor, TutorConfig};
use serde::{Deserialize, Serialize};

use crate::results::{read_jsonl, read_results, JsonlWriter, RESULTS_FILE};
use crate::stats::Proportion;
use crate::{Dataset, Split};

pub const FALSE_REJECTION_FILE: &str = "tutor_false_rejection.jsonl";
pub const FALSE_REJECTION_SUMMARY_FILE: &str = "false_rejection_summary.json";

#[derive(Debug, Clone)]
pub struct FalseRejectionOptions {
    /// GSM8K-format JSON Lines.
    pub data: PathBuf,
    pub out: PathBuf,
    pub split: Split,
    /// Problems; each gives two answers.
    pub limit: usize,
    pub seed: u64,
    /// An `auto` eval run over the same problems whose solutions are the references (the
    /// silent solve, already computed); problems it lacks are solved here.
    pub references: Option<PathBuf>,
    pub config: TutorConfig,
}

/// One right answer given to the tutor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectionRecord {
    pub id: String,
    pub gold: String,
    pub reference_answer: String,
    pub reference_confidence: f64,
    /// Whether the reference itself is right (by the checker, against the gold).
    pub reference_correct: bool,
    /// The answer came with the worked steps (in sentences), not bare.
    pub with_work: bool,
    pub student: String,
    pub verdict: Option<AnswerVerdict>,
    /// The tutor's move: confirm, guide or explain.
    pub action: String,
    pub reply: String,
    /// The tutor treated the right answer as wrong.
    pub rejected: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalseRejectionSummary {
    pub model: String,
    /// Right answers given.
    pub n: u64,
    pub false_rejection: Proportion,
    pub confirmed: Proportion,
    pub unsure: Proportion,
    /// Problems whose reference (the silent solve) is right.
    pub reference_correct: Proportion,
    /// False rejections among answers to problems whose reference is wrong: where the
    /// verdict logic earns its keep.
    pub false_rejection_when_reference_wrong: Proportion,
}

/// The reference of each problem of an `auto` run, by problem id.
fn recorded_solutions(run: &std::path::Path) -> Result<HashMap<String, Solution>> {
    let records = read_results(&run.join(RESULTS_FILE), false)
        .with_context(|| format!("reading the references of {}", run.display()))?;
    Ok(records
        .into_iter()
        .filter(|r| r.error.is_none())
        .filter_map(|r| {
            let trace: Trace = serde_json::from_value(r.trace.clone()).ok()?;
            Some((
                r.id.clone(),
                Solution {
                    answer: r.prediction.clone(),
                    strategy: r.strategy.clone(),
                    model: r.model.clone(),
                    text: r.text.clone(),
                    prompt_tokens: r.prompt_tokens as u32,
                    completion_tokens: r.tokens as u32,
                    seconds: r.seconds,
                    trace,
                    confidence: r.confidence,
                },
            ))
        })
        .collect())
}

/// Runs the false-rejection turns (resuming from `options.out`) and writes the summary.
pub fn run_false_rejection(
    backend: Arc<dyn Backend>,
    executor: Arc<dyn Executor>,
    options: &FalseRejectionOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FalseRejectionSummary> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let dataset = Dataset::load(&options.data)?;
    let items = dataset.select(options.split, Some(options.limit), options.seed)?;
    let text = std::fs::read_to_string(&options.data)?;
    let raw: Vec<&str> = text.lines().collect();
    let recorded = match &options.references {
        Some(run) => recorded_solutions(run)?,
        None => HashMap::new(),
    };
    let path = options.out.join(FALSE_REJECTION_FILE);
    let mut records: Vec<RejectionRecord> = if path.exists() {
        read_jsonl(&path, true, "a false-rejection record")?
    } else {
        Vec::new()
    };
    let done: HashSet<(String, bool)> =
        records.iter().map(|r| (r.id.clone(), r.with_work)).collect();
    let mut writer = JsonlWriter::append_to(&path)?;
    let tutor =
        Tutor::new(backend.as_ref(), options.config.clone())?.with_checking(executor.clone());
    for (n, item) in items.iter().enumerate() {
        progress(n, items.len());
        if done.contains(&(item.id.clone(), false)) && done.contains(&(item.id.clone(), true)) {
            continue;
        }
        let problem = Problem::new(item.question.clone()).with_style(item.style);
        let reference = match recorded.get(&item.id) {
            Some(solution) => Reference::from_solution(executor.as_ref(), solution, None)?,
            None => Reference::solve(backend.as_ref(), executor.clone(), &problem, None)?,
        };
        let record: serde_json::Value = serde_json::from_str(raw[item.line])?;
        let worked = record["answer"].as_str().and_then(|a| Reference::from_worked(a, None));
        let reference_correct =
            hypatia_grade::correct_for(&item.question, &item.gold, &reference.answer);
        let mut messages = vec![(false, format!("I think the answer is {}.", item.gold))];
        if let Some(w) = worked {
            messages.push((true, w.solution.trim().to_string()));
        }
        for (with_work, student) in messages {
            if done.contains(&(item.id.clone(), with_work)) {
                continue;
            }
            let started = Instant::now();
            let mut session = Session::new(
                &item.id,
                "eval",
                item.question.trim(),
                reference.clone(),
                options.config.grade,
            );
            let turn = tutor.respond(&mut session, &student)?;
            let verdict = turn.student_answer.as_ref().map(|a| a.verdict);
            let action = match turn.action {
                Move::Confirm => "confirm",
                Move::Guide { .. } => "guide",
                Move::Explain => "explain",
            };
            let r = RejectionRecord {
                id: item.id.clone(),
                gold: item.gold.clone(),
                reference_answer: reference.answer.clone(),
                reference_confidence: reference.confidence,
                reference_correct,
                with_work,
                student,
                verdict,
                action: action.into(),
                reply: turn.tutor.clone(),
                rejected: verdict == Some(AnswerVerdict::Incorrect),
                seconds: started.elapsed().as_secs_f64(),
            };
            writer.write(&r)?;
            records.push(r);
        }
    }
    let summary = summarize(backend.model_name(), &records);
    std::fs::write(
        options.out.join(FALSE_REJECTION_SUMMARY_FILE),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(summary)
}

fn summarize(model: &str, records: &[RejectionRecord]) -> FalseRejectionSummary {
    let n = records.len() as u64;
    let count =
        |f: &dyn Fn(&RejectionRecord) -> bool| records.iter().filter(|r| f(r)).count() as u64;
    let problems: HashMap<&str, bool> =
        records.iter().map(|r| (r.id.as_str(), r.reference_correct)).collect();
    let wrong_refs: Vec<&RejectionRecord> =
        records.iter().filter(|r| !r.reference_correct).collect();
    FalseRejectionSummary {
        model: model.to_string(),
        n,
        false_rejection: Proportion::new(count(&|r| r.rejected), n),
        confirmed: Proportion::new(count(&|r| r.verdict == Some(AnswerVerdict::Correct)), n),
        unsure: Proportion::new(count(&|r| r.verdict == Some(AnswerVerdict::Unsure)), n),
        reference_correct: Proportion::new(
            problems.values().filter(|ok| **ok).count() as u64,
            problems.len() as u64,
        ),
        false_rejection_when_reference_wrong: Proportion::new(
            wrong_refs.iter().filter(|r| r.rejected).count() as u64,
            wrong_refs.len() as u64,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypatia_llm::ScriptedBackend;
    use hypatia_solve::FnExecutor;

    #[test]
    fn right_answers_against_a_wrong_reference_are_checked_not_rejected() {
        let dir = tempfile::tempdir().unwrap();
        // Natalia's clips: the gold answer is 72.
        let all = include_str!("../tests/data/gsm8k_train.jsonl");
        let data = dir.path().join("one.jsonl");
        std::fs::write(&data, format!("{}\n", all.lines().next().unwrap())).unwrap();
        let out = dir.path().join("out");
        // Greedy programs and reasoning agree on 70 (wrong, the gold is 72); sampled
        // programs (the tutor's check) print 72.
        let backend: Arc<dyn Backend> = Arc::new(ScriptedBackend::from_fn(|req, _| {
            let system = &req.messages[0].content;
            Some(if system.contains("Hypatia") {
                "Well done.".into()
            } else if system.contains("Python") {
                let v = if req.params.temperature > 0.0 { 72 } else { 70 };
                format!("```python\nprint({v})\n```")
            } else if system.contains("explain") {
                "Explained.".into()
            } else {
                "So \\boxed{70}.".into()
            })
        }));
        let executor: Arc<dyn Executor> = Arc::new(FnExecutor::new(|code| {
            let v = code
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("print(")
                .trim_end_matches(')');
            FnExecutor::ok(&format!("{v}\n"))
        }));
        let options = FalseRejectionOptions {
            data,
            out: out.clone(),
            split: Split::All,
            limit: 1,
            seed: 0,
            references: None,
            config: TutorConfig::default(),
        };
        let mut seen = 0;
        let summary =
            run_false_rejection(backend.clone(), executor.clone(), &options, &mut |_, _| seen += 1)
                .unwrap();
        assert!(seen >= 1);
        let records: Vec<RejectionRecord> =
            read_jsonl(&out.join(FALSE_REJECTION_FILE), false, "record").unwrap();
        assert_eq!(records.len(), 2, "bare and with work");
        assert!(records.iter().all(|r| r.reference_answer == "70" && !r.reference_correct));
        assert!(records.iter().all(|r| r.verdict == Some(AnswerVerdict::Correct)), "{records:?}");
        assert_eq!(summary.false_rejection.correct, 0);
        assert_eq!(summary.n, 2);
        // A rerun resumes: nothing new is written.
        let again = run_false_rejection(backend, executor, &options, &mut |_, _| {}).unwrap();
        assert_eq!(again.n, 2);
    }
}
