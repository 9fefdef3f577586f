//! `hypatia eval judge`: a model grades the explanations of a finished run.
//!
//! The checker decides whether an answer is right; it cannot say whether the explanation
//! around it teaches. A judge model scores each explanation on four criteria (answer
//! correctness, reasoning quality, clarity, student-friendliness, 1–5) with a pass/fail
//! and a one-sentence reason. Its reply is constrained by a grammar to exactly that JSON
//! object, so even a small judge cannot answer in prose. Because the judge also rules on
//! correctness, the summary reports how often it agrees with the checker — the measure
//! of how far its other scores can be trusted.
//!
//! Like `eval`, the output file is the state: `judge.jsonl` gets one flushed line per
//! explanation and a rerun skips what it holds.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{bail, Context};
use hypatia_llm::{Backend, ChatMessage, LlmError, Request, SamplingParams};
use serde::{Deserialize, Serialize};

use crate::results::{read_jsonl, read_results, JsonlWriter, ResultRecord, RESULTS_FILE};
use crate::stats::Proportion;

pub const JUDGE_FILE: &str = "judge.jsonl";
pub const JUDGE_SUMMARY_FILE: &str = "judge_summary.json";

const SYSTEM: &str = include_str!("../prompts/judge_system.txt");
const USER: &str = include_str!("../prompts/judge_user.txt");
/// The verdict's JSON shape as a GBNF grammar (llama.cpp's notation).
pub const VERDICT_GRAMMAR: &str = include_str!("../prompts/judge.gbnf");

/// A judge's scores for one explanation. Invariant: every score is in 1..=5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub answer_correctness: u8,
    pub reasoning_quality: u8,
    pub clarity: u8,
    pub student_friendliness: u8,
    pub pass: bool,
    pub reason: String,
}

impl Verdict {
    /// Reads a judge's reply; `None` unless it is the JSON object with every score in 1..=5.
    ///
    /// ```
    /// let v = hypatia_eval::Verdict::parse(r#"{"answer_correctness": 5, "reasoning_quality": 4,
    ///     "clarity": 4, "student_friendliness": 3, "pass": true, "reason": "Correct."}"#).unwrap();
    /// assert!(v.says_correct());
    /// assert!(hypatia_eval::Verdict::parse(r#"{"answer_correctness": 9}"#).is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Verdict> {
        let verdict: Verdict = serde_json::from_str(text.trim()).ok()?;
        let scores = [
            verdict.answer_correctness,
            verdict.reasoning_quality,
            verdict.clarity,
            verdict.student_friendliness,
        ];
        scores.iter().all(|s| (1..=5).contains(s)).then_some(verdict)
    }

    /// Whether the judge considers the final answer right (answer correctness 4 or 5).
    pub fn says_correct(&self) -> bool {
        self.answer_correctness >= 4
    }
}

/// One judged explanation, a line of `judge.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeRecord {
    pub id: String,
    pub judge_model: String,
    /// The checker's verdict on the run's answer.
    pub checker_correct: bool,
    /// `None` when the reply could not be read (cut off by the token budget).
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raw: String,
}

/// Mean score per criterion over the parsed verdicts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanScores {
    pub answer_correctness: f64,
    pub reasoning_quality: f64,
    pub clarity: f64,
    pub student_friendliness: f64,
}

/// How the judge's correctness calls line up with the checker's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub both_correct: u64,
    pub both_wrong: u64,
    /// The judge accepted an answer the checker rejected.
    pub judge_only: u64,
    /// The judge rejected an answer the checker accepted.
    pub checker_only: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    pub run: String,
    pub judge_model: String,
    /// Explanations judged (parsed or not).
    pub n: u64,
    /// Replies that were not a valid verdict.
    pub unparsed: u64,
    /// Run records without an explanation to judge (no answer, or an error).
    pub skipped: u64,
    pub mean: MeanScores,
    pub pass: Proportion,
    /// Judge and checker agree on correctness.
    pub agreement: Proportion,
    pub confusion: Confusion,
}

impl JudgeSummary {
    pub fn compute(run: &str, judge_model: &str, records: &[JudgeRecord], skipped: u64) -> Self {
        let verdicts: Vec<(&Verdict, bool)> = records
            .iter()
            .filter_map(|r| r.verdict.as_ref().map(|v| (v, r.checker_correct)))
            .collect();
        let parsed = verdicts.len() as u64;
        let mean = |score: fn(&Verdict) -> u8| {
            if parsed == 0 {
                return 0.0;
            }
            verdicts.iter().map(|(v, _)| f64::from(score(v))).sum::<f64>() / parsed as f64
        };
        let mut confusion = Confusion::default();
        for (verdict, checker) in &verdicts {
            match (verdict.says_correct(), *checker) {
                (true, true) => confusion.both_correct += 1,
                (false, false) => confusion.both_wrong += 1,
                (true, false) => confusion.judge_only += 1,
                (false, true) => confusion.checker_only += 1,
            }
        }
        let passed = verdicts.iter().filter(|(v, _)| v.pass).count() as u64;
        JudgeSummary {
            run: run.to_string(),
            judge_model: judge_model.to_string(),
            n: records.len() as u64,
            unparsed: records.len() as u64 - parsed,
            skipped,
            mean: MeanScores {
                answer_correctness: mean(|v| v.answer_correctness),
                reasoning_quality: mean(|v| v.reasoning_quality),
                clarity: mean(|v| v.clarity),
                student_friendliness: mean(|v| v.student_friendliness),
            },
            pass: Proportion::new(passed, parsed),
            agreement: Proportion::new(confusion.both_correct + confusion.both_wrong, parsed),
            confusion,
        }
    }
}

/// What to judge and how.
#[derive(Debug, Clone)]
pub struct JudgeOptions {
    /// An `eval` output directory (its `results.jsonl`); `judge.jsonl` and
    /// `judge_summary.json` are written next to it.
    pub run: PathBuf,
    /// Judge at most this many explanations (in the run's order).
    pub limit: Option<usize>,
    /// Explanations in flight at once.
    pub parallel: usize,
    /// Token budget of one verdict.
    pub max_tokens: u32,
}

impl JudgeOptions {
    pub fn new(run: impl Into<PathBuf>) -> Self {
        Self { run: run.into(), limit: None, parallel: 2, max_tokens: 160 }
    }
}

/// The chat that asks the judge about one record.
pub fn judge_messages(record: &ResultRecord) -> Vec<ChatMessage> {
    // One pass, so that a question containing "{gold}" is not filled in itself.
    let user = hypatia_solve::fill(
        USER,
        &[
            ("problem", record.question.trim()),
            ("gold", record.gold.trim()),
            ("explanation", record.text.trim()),
        ],
    );
    vec![ChatMessage::system(SYSTEM.trim()), ChatMessage::user(user)]
}

/// Judges the explanations of the run in `opts.run` with `backend`, resuming from
/// `judge.jsonl`; calls `progress(done, total, agreeing)` after each one.
pub fn run_judge(
    backend: &dyn Backend,
    opts: &JudgeOptions,
    progress: &mut dyn FnMut(usize, usize, usize),
) -> anyhow::Result<JudgeSummary> {
    let results = read_results(&opts.run.join(RESULTS_FILE), false)?;
    if results.is_empty() {
        bail!("{} has no graded problems to judge", opts.run.join(RESULTS_FILE).display());
    }
    let (mut judgeable, unjudgeable): (Vec<&ResultRecord>, Vec<&ResultRecord>) = results
        .iter()
        .partition(|r| r.prediction.is_some() && r.error.is_none() && !r.text.trim().is_empty());
    if let Some(limit) = opts.limit {
        judgeable.truncate(limit);
    }
    let judge_model = backend.model_name().to_string();
    let path = opts.run.join(JUDGE_FILE);
    // A torn last line (a killed judge) is dropped and cut off the file.
    let mut done: Vec<JudgeRecord> = read_jsonl(&path, true, "a verdict")?;
    if let Some(other) = done.iter().find(|r| r.judge_model != judge_model) {
        bail!(
            "{} holds verdicts by {}, not {judge_model}; move it away to judge with another model",
            path.display(),
            other.judge_model
        );
    }
    // Verdicts outside this selection (an earlier run with a larger --limit) stay in the
    // file but count nowhere.
    let wanted: HashSet<&str> = judgeable.iter().map(|r| r.id.as_str()).collect();
    done.retain(|r| wanted.contains(r.id.as_str()));
    let seen: HashSet<String> = done.iter().map(|r| r.id.clone()).collect();
    let pending: Vec<&ResultRecord> =
        judgeable.iter().copied().filter(|r| !seen.contains(&r.id)).collect();
    let total = judgeable.len();
    let agreeing = |records: &[JudgeRecord]| {
        records
            .iter()
            .filter(|r| r.verdict.as_ref().is_some_and(|v| v.says_correct() == r.checker_correct))
            .count()
    };
    progress(done.len(), total, agreeing(&done));

    let mut writer = JsonlWriter::append_to(&path)?;
    let next = AtomicUsize::new(0);
    let mut failure = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<anyhow::Result<JudgeRecord>>();
        for _ in 0..opts.parallel.max(1).min(pending.len()) {
            let (tx, next, pending, judge_model) = (tx.clone(), &next, &pending, &judge_model);
            scope.spawn(move || {
                while let Some(record) = pending.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let judged = judge_one(backend, record, judge_model, opts.max_tokens);
                    if tx.send(judged).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for judged in rx {
            if failure.is_some() {
                continue;
            }
            let appended = judged.and_then(|record| writer.write(&record).map(|()| record));
            match appended {
                Ok(record) => {
                    done.push(record);
                    progress(done.len(), total, agreeing(&done));
                }
                Err(e) => {
                    failure = Some(e);
                    // Stop handing out work; threads finish the explanation in hand.
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                }
            }
        }
    });
    if let Some(e) = failure {
        return Err(e.context(format!("judging into {}", path.display())));
    }
    let run = opts.run.display().to_string();
    let summary = JudgeSummary::compute(&run, &judge_model, &done, unjudgeable.len() as u64);
    let summary_path = opts.run.join(JUDGE_SUMMARY_FILE);
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    Ok(summary)
}

fn judge_one(
    backend: &dyn Backend,
    record: &ResultRecord,
    judge_model: &str,
    max_tokens: u32,
) -> anyhow::Result<JudgeRecord> {
    let params = SamplingParams {
        grammar: Some(VERDICT_GRAMMAR.to_string()),
        ..SamplingParams::greedy(max_tokens)
    };
    let text = match backend.generate(&Request::new(judge_messages(record), params)) {
        Ok(response) => response.text().to_string(),
        // The judge cannot read this one (a prompt too long, say): recorded as unparsed.
        // A stopped engine would fail every explanation, so that ends the run.
        Err(e @ (LlmError::EngineStopped(_) | LlmError::Engine(_))) => {
            return Err(anyhow::Error::new(e).context(format!("judging problem {}", record.id)))
        }
        Err(e) => format!("error: {e}"),
    };
    let verdict = Verdict::parse(&text);
    Ok(JudgeRecord {
        id: record.id.clone(),
        judge_model: judge_model.to_string(),
        checker_correct: record.correct,
        raw: if verdict.is_none() { text } else { String::new() },
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypatia_llm::ScriptedBackend;
    use std::path::Path;

    fn record(id: &str, correct: bool, text: &str) -> ResultRecord {
        ResultRecord {
            id: id.into(),
            question: format!("question {id}"),
            gold: "42".into(),
            prediction: Some(if correct { "42" } else { "41" }.into()),
            correct,
            strategy: "pot".into(),
            model: "m".into(),
            data: "d.jsonl".into(),
            tokens: 10,
            prompt_tokens: 10,
            seconds: 1.0,
            subject: None,
            level: None,
            error: None,
            text: text.into(),
            trace: serde_json::Value::Null,
            confidence: None,
        }
    }

    fn verdict(correctness: u8, pass: bool) -> String {
        format!(
            r#"{{"answer_correctness": {correctness}, "reasoning_quality": 4, "clarity": 5, "student_friendliness": 3, "pass": {pass}, "reason": "r"}}"#
        )
    }

    fn write_run(dir: &Path, records: &[ResultRecord]) {
        let lines: Vec<String> =
            records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        std::fs::write(dir.join(RESULTS_FILE), lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn verdicts_outside_the_scale_or_cut_off_are_rejected() {
        assert!(Verdict::parse(&verdict(5, true)).is_some());
        assert!(Verdict::parse(&verdict(0, true)).is_none());
        assert!(Verdict::parse(&verdict(6, true)).is_none());
        assert!(Verdict::parse(r#"{"answer_correctness": 5, "reasoning"#).is_none());
    }

    #[test]
    fn scores_agreement_with_the_checker_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        write_run(
            dir.path(),
            &[
                record("a", true, "Add them. \\boxed{42}"),
                record("b", false, "Subtract. \\boxed{41}"),
                record("c", true, "Multiply. \\boxed{42}"),
                record("d", false, ""),
            ],
        );
        // Judge agrees on a, agrees on b, disagrees on c (calls a correct answer wrong).
        let backend = ScriptedBackend::from_fn(|req, _| {
            let user = &req.messages[1].content;
            Some(if user.contains("question a") {
                verdict(5, true)
            } else if user.contains("question b") {
                verdict(1, false)
            } else {
                verdict(2, false)
            })
        });
        let mut opts = JudgeOptions::new(dir.path());
        opts.parallel = 1;
        opts.limit = Some(2);
        let first = run_judge(&backend, &opts, &mut |_, _, _| {}).unwrap();
        assert_eq!(first.n, 2);
        assert_eq!(first.agreement.correct, 2);

        opts.limit = None;
        let mut seen = Vec::new();
        let summary = run_judge(&backend, &opts, &mut |d, t, a| seen.push((d, t, a))).unwrap();
        assert_eq!(backend.requests().len(), 3, "a and b were not judged again");
        assert_eq!(seen.first(), Some(&(2, 3, 2)));
        assert_eq!(seen.last(), Some(&(3, 3, 2)));
        assert_eq!(summary.n, 3);
        assert_eq!(summary.skipped, 1, "no explanation to judge for d");
        assert_eq!(summary.agreement.correct, 2);
        assert_eq!(summary.agreement.n, 3);
        assert_eq!(
            summary.confusion,
            Confusion { both_correct: 1, both_wrong: 1, judge_only: 0, checker_only: 1 }
        );
        assert_eq!(summary.pass.correct, 1);
        assert!((summary.mean.answer_correctness - 8.0 / 3.0).abs() < 1e-9);
        // Every request is constrained to the verdict's shape.
        assert!(backend
            .requests()
            .iter()
            .all(|r| r.params.grammar.as_deref() == Some(VERDICT_GRAMMAR)));
        let saved: JudgeSummary = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(JUDGE_SUMMARY_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!((saved.n, saved.confusion), (summary.n, summary.confusion));
    }

    #[test]
    fn another_judge_model_does_not_mix_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), &[record("a", true, "x \\boxed{42}")]);
        let first = ScriptedBackend::new([verdict(5, true)]);
        run_judge(&first, &JudgeOptions::new(dir.path()), &mut |_, _, _| {}).unwrap();
        let other = ScriptedBackend::new([verdict(5, true)]).with_name("other");
        let err = run_judge(&other, &JudgeOptions::new(dir.path()), &mut |_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("move it away"), "{err}");
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_judged_again() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), &[record("a", true, "x \\boxed{42}"), record("b", true, "y")]);
        let backend = ScriptedBackend::new([verdict(5, true)]);
        let mut opts = JudgeOptions::new(dir.path());
        opts.limit = Some(1);
        run_judge(&backend, &opts, &mut |_, _, _| {}).unwrap();
        // A kill in the middle of b's line: a complete record without its newline.
        let path = dir.path().join(JUDGE_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        let torn = text.replace("\"a\"", "\"b\"");
        text.push_str(torn.trim_end());
        std::fs::write(&path, text).unwrap();

        let again = ScriptedBackend::new([verdict(5, true)]);
        let summary = run_judge(&again, &JudgeOptions::new(dir.path()), &mut |_, _, _| {}).unwrap();
        assert_eq!(again.requests().len(), 1, "b is judged again, a is not");
        assert_eq!(summary.n, 2);
        let lines = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
        assert!(lines.ends_with('\n'));
    }

    #[test]
    fn a_reply_that_is_not_a_verdict_is_kept_raw_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), &[record("a", true, "x \\boxed{42}")]);
        let backend = ScriptedBackend::new([r#"{"answer_correctness": 5, "reas"#]);
        let summary =
            run_judge(&backend, &JudgeOptions::new(dir.path()), &mut |_, _, _| {}).unwrap();
        assert_eq!((summary.n, summary.unparsed, summary.agreement.n), (1, 1, 0));
        let line = std::fs::read_to_string(dir.path().join(JUDGE_FILE)).unwrap();
        assert!(line.contains("\"raw\""), "{line}");
    }
}
