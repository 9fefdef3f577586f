//! End-to-end tests of the harness with a scripted model and the real `cot` strategy.
//!
//! Fixtures are the first lines of each of the ten shared data files, copied into
//! `tests/data/` so that the tests never depend on where `../shared` is checked out.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hypatia_eval::{
    compare, read_results, run_eval, Dataset, EvalOptions, Format, Split, Summary, REPORT_FILE,
    RESULTS_FILE, SUMMARY_FILE,
};
use hypatia_llm::{Request, ScriptedBackend};
use hypatia_solve::strategy_by_name;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A backend that answers each problem with `reply(question)`, found by looking for the
/// question in the prompt; `None` makes the request fail.
fn backend_for(
    questions: Vec<String>,
    reply: impl Fn(usize, &str) -> Option<String> + Send + Sync + 'static,
) -> (ScriptedBackend, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let backend = ScriptedBackend::from_fn(move |req: &Request, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        let prompt: String = req.messages.iter().map(|m| m.content.as_str()).collect();
        // The longest match wins, so a question that is a prefix of another is not
        // mistaken for it.
        let (i, q) = questions
            .iter()
            .enumerate()
            .filter(|(_, q)| prompt.contains(q.as_str()))
            .max_by_key(|(_, q)| q.len())?;
        reply(i, q)
    });
    (backend, calls)
}

fn boxed(answer: &str) -> String {
    format!("Let me think step by step. The answer is \\boxed{{{answer}}}.")
}

/// Every problem answered with its gold answer.
fn oracle(items: &[hypatia_eval::EvalItem]) -> ScriptedBackend {
    let golds: Vec<String> = items.iter().map(|i| i.gold.clone()).collect();
    backend_for(items.iter().map(|i| i.question.clone()).collect(), move |i, _| {
        Some(boxed(&golds[i]))
    })
    .0
}

/// A GSM8K-format file of `n` lines whose problem `i` has the answer `2 i`.
fn synthetic_gsm8k(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("gsm8k_train.jsonl");
    let mut text = String::new();
    for i in 0..n {
        let record = serde_json::json!({
            "question": format!("Problem #{i}: what is {i} plus {i}?"),
            "answer": format!("{i} + {i} = {}\n#### {}", 2 * i, 2 * i),
        });
        text.push_str(&format!("{record}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn synthetic_math(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("math.jsonl");
    let mut text = String::new();
    for i in 0..n {
        let record = serde_json::json!({
            "problem": format!("Problem #{i}: compute {i} squared."),
            "solution": format!("It is $\\boxed{{{}}}$.", i * i),
            "answer": (i * i).to_string(),
            "subject": if i % 2 == 0 { "Algebra" } else { "Geometry" },
            "level": 1 + i % 5,
            "unique_id": format!("test/x/{i}.json"),
        });
        text.push_str(&format!("{record}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn ids(items: &[hypatia_eval::EvalItem]) -> Vec<String> {
    items.iter().map(|i| i.id.clone()).collect()
}

#[test]
fn every_format_is_detected_with_its_fields() {
    struct Expect {
        file: &'static str,
        format: Format,
        id: &'static str,
        gold: &'static str,
        question_start: &'static str,
        subject: Option<&'static str>,
        level: Option<u32>,
    }
    let cases = [
        Expect {
            file: "gsm8k_train.jsonl",
            format: Format::Gsm8k,
            id: "0",
            gold: "72",
            question_start: "Natalia sold clips",
            subject: None,
            level: None,
        },
        Expect {
            file: "math_test_minus500.jsonl",
            format: Format::Math,
            id: "test/algebra/1.json",
            gold: "2",
            question_start: "How many vertical asymptotes",
            subject: Some("Algebra"),
            level: Some(3),
        },
        Expect {
            file: "svamp_test.jsonl",
            format: Format::Svamp,
            id: "chal-777",
            gold: "145",
            question_start: "There are 87 oranges",
            subject: Some("Common-Division"),
            level: None,
        },
        Expect {
            file: "asdiv_test.jsonl",
            format: Format::Asdiv,
            id: "0",
            gold: "9",
            question_start:
                "Seven red apples and two green apples are in the basket. How many apples",
            subject: Some("Addition"),
            level: None,
        },
        Expect {
            file: "mawps_test.jsonl",
            format: Format::Mawps,
            id: "0",
            gold: "43",
            question_start: "Joan found 70 seashells",
            subject: Some("singleeq"),
            level: None,
        },
        Expect {
            file: "minerva_math_test.jsonl",
            format: Format::Minerva,
            id: "0",
            gold: "1.6",
            question_start: "Each of the two Magellan telescopes",
            subject: Some("Introduction to Astronomy (8.282J Spring 2006)"),
            level: None,
        },
        Expect {
            file: "aime24_test.jsonl",
            format: Format::Competition,
            id: "60",
            gold: "204",
            question_start: "Every morning Aya",
            subject: None,
            level: None,
        },
        Expect {
            file: "amc23_test.jsonl",
            format: Format::Competition,
            id: "0",
            gold: "27",
            question_start: "Cities $A$ and $B$",
            subject: None,
            level: None,
        },
        Expect {
            file: "gaokao2023en_test.jsonl",
            format: Format::QuestionAnswer,
            id: "0",
            gold: r"\{x|-2\leq x < 1\}",
            question_start: "Given sets",
            subject: None,
            level: None,
        },
        Expect {
            file: "college_math_test.jsonl",
            format: Format::QuestionAnswer,
            id: "0",
            gold: "10-4 n",
            question_start: "Simplify: $-10-4(n-5)$",
            subject: Some("college_math.algebra"),
            level: None,
        },
    ];
    for c in cases {
        let data = Dataset::load(&fixture(c.file)).unwrap();
        assert_eq!(data.format, c.format, "{}", c.file);
        assert_eq!(data.items.len(), 3, "{}", c.file);
        let first = &data.items[0];
        assert_eq!(first.id, c.id, "{}", c.file);
        assert_eq!(first.gold, c.gold, "{}", c.file);
        assert!(first.question.starts_with(c.question_start), "{}: {}", c.file, first.question);
        assert_eq!(first.subject.as_deref(), c.subject, "{}", c.file);
        assert_eq!(first.level, c.level, "{}", c.file);
        assert_eq!(first.line, 0);
        assert_eq!(data.items[2].line, 2);
    }
    // Details beyond the first line: a dfrac gold, a boxed value with a unit after it.
    let math = Dataset::load(&fixture("math_test_minus500.jsonl")).unwrap();
    assert_eq!(math.items[2].gold, r"\dfrac{9}{7}");
    let minerva = Dataset::load(&fixture("minerva_math_test.jsonl")).unwrap();
    assert_eq!(minerva.items[1].gold, "4.5e33");
    // The fixture's fourth line is a published Gaokao row with an empty answer.
    let gaokao = Dataset::load(&fixture("gaokao2023en_test.jsonl")).unwrap();
    assert_eq!(gaokao.skipped, [hypatia_eval::Skipped { line: 4, reason: "empty answer".into() }]);
    assert!(Dataset::load(&fixture("mawps_test.jsonl")).unwrap().skipped.is_empty());
}

#[test]
fn malformed_input_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let good = r#"{"input": "1 + 1?", "target": 2.0, "idx": 0}"#;
    let cases = [
        (format!("{good}\nnot json\n"), "line 2"),
        (format!("{good}\n\n{{\"input\": \"x\", \"idx\": 1}}\n"), "line 3"),
        (format!("{good}\n{{\"input\": \"x\", \"target\": 1, \"idx\": 0}}\n"), "duplicate id"),
        ("{\"foo\": 1}\n".to_string(), "unrecognised record with fields [foo]"),
        ("{\"problem\": \"p\"}\n".to_string(), "line 1"),
        ("\n".to_string(), "no records"),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, &text).unwrap();
        let err = Dataset::load(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
        assert!(err.contains("bad.jsonl"), "{err}");
    }
    // A GSM8K file whose later line lacks `####` is an error, not a QuestionAnswer item.
    std::fs::write(
        &path,
        "{\"question\": \"q1\", \"answer\": \"x\\n#### 1\"}\n{\"question\": \"q2\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let err = Dataset::load(&path).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("####"), "{err}");
}

#[test]
fn development_splits_follow_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let gsm = Dataset::load(&synthetic_gsm8k(dir.path(), 30)).unwrap();
    assert_eq!(ids(&gsm.select(Split::Dev, None, 0).unwrap()), ["9", "19", "29"]);
    assert_eq!(gsm.select(Split::All, None, 0).unwrap().len(), 30);

    // Training needs the exclusion list next to the data, and leaves its lines out.
    let err = gsm.select(Split::Train, None, 0).unwrap_err().to_string();
    assert!(err.contains(hypatia_eval::GSM8K_EXCLUDE_FILE), "{err}");
    std::fs::write(dir.path().join(hypatia_eval::GSM8K_EXCLUDE_FILE), "[12, 9, 8]").unwrap();
    let train = ids(&gsm.select(Split::Train, None, 0).unwrap());
    assert_eq!(train.len(), 25);
    for gone in ["8", "9", "12", "19", "29"] {
        assert!(!train.contains(&gone.to_string()), "{gone} in {train:?}");
    }
    assert!(train.contains(&"0".to_string()) && train.contains(&"28".to_string()));

    let math = Dataset::load(&synthetic_math(dir.path(), 30)).unwrap();
    assert_eq!(
        ids(&math.select(Split::Dev, None, 0).unwrap()),
        ["test/x/9.json", "test/x/19.json", "test/x/29.json"]
    );
    assert_eq!(math.select(Split::Train, None, 0).unwrap().len(), 27);

    let mawps = Dataset::load(&fixture("mawps_test.jsonl")).unwrap();
    let err = mawps.select(Split::Dev, None, 0).unwrap_err().to_string();
    assert!(err.contains("--split all"), "{err}");
    assert_eq!(mawps.select(Split::All, None, 0).unwrap().len(), 3);
    assert!("test".parse::<Split>().is_err());
    assert_eq!("dev".parse::<Split>().unwrap(), Split::Dev);
}

#[test]
fn seeded_limit_is_deterministic_nested_and_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = Dataset::load(&synthetic_gsm8k(dir.path(), 30)).unwrap();
    let a = data.select(Split::All, Some(10), 42).unwrap();
    let b = data.select(Split::All, Some(10), 42).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 10);
    assert!(a.windows(2).all(|w| w[0].line < w[1].line), "not in file order");
    assert_ne!(ids(&a), ids(&data.select(Split::All, Some(10), 43).unwrap()));
    // A smaller sample is part of a larger one with the same seed.
    let small: HashSet<String> =
        ids(&data.select(Split::All, Some(5), 42).unwrap()).into_iter().collect();
    assert!(small.iter().all(|id| ids(&a).contains(id)), "{small:?} not in {:?}", ids(&a));
    assert_eq!(data.select(Split::All, Some(100), 42).unwrap().len(), 30);
    // Sampling applies after the split.
    let dev = data.select(Split::Dev, Some(2), 1).unwrap();
    assert!(dev.iter().all(|i| i.line % 10 == 9) && dev.len() == 2);
}

#[test]
fn end_to_end_over_all_ten_formats() {
    let cot = strategy_by_name("cot").unwrap();
    for file in [
        "gsm8k_train.jsonl",
        "math_test_minus500.jsonl",
        "svamp_test.jsonl",
        "asdiv_test.jsonl",
        "mawps_test.jsonl",
        "minerva_math_test.jsonl",
        "aime24_test.jsonl",
        "amc23_test.jsonl",
        "gaokao2023en_test.jsonl",
        "college_math_test.jsonl",
    ] {
        let out = tempfile::tempdir().unwrap();
        let data = Dataset::load(&fixture(file)).unwrap();
        let backend = oracle(&data.items).with_name("oracle-model");
        let opts = EvalOptions { parallel: 2, ..EvalOptions::new(fixture(file), out.path()) };
        let summary = run_eval(&backend, cot.as_ref(), &opts, &mut |_| {}).unwrap();
        assert_eq!((summary.n, summary.correct), (3, 3), "{file}: {summary:?}");
        assert_eq!(summary.model, "oracle-model");
        assert_eq!(summary.strategy, "cot");
        let results = read_results(&out.path().join(RESULTS_FILE), false).unwrap();
        assert_eq!(results.len(), 3, "{file}");
        assert!(out.path().join(SUMMARY_FILE).exists() && out.path().join(REPORT_FILE).exists());
        assert_eq!(summary.skipped.len(), usize::from(file.starts_with("gaokao")), "{file}");
    }
}

#[test]
fn run_writes_results_summary_and_report() {
    let out = tempfile::tempdir().unwrap();
    let data_path = fixture("math_test_minus500.jsonl");
    let data = Dataset::load(&data_path).unwrap();
    // First right, second wrong, third with no boxed answer at all.
    let (backend, _) =
        backend_for(data.items.iter().map(|i| i.question.clone()).collect(), |i, _| {
            Some(match i {
                0 => boxed("2"),
                1 => boxed("11"),
                _ => "I am not sure.".to_string(),
            })
        });
    let cot = strategy_by_name("cot").unwrap();
    let mut events = Vec::new();
    let opts = EvalOptions::new(&data_path, out.path());
    let summary = run_eval(&backend, cot.as_ref(), &opts, &mut |p| {
        events.push((p.done, p.correct, p.total, p.last.map(|r| r.id.clone())))
    })
    .unwrap();
    assert_eq!((summary.n, summary.correct, summary.no_answer, summary.errors), (3, 1, 1, 0));
    assert!((summary.accuracy - 1.0 / 3.0).abs() < 1e-12);
    assert!(summary.ci95_low < summary.accuracy && summary.accuracy < summary.ci95_high);
    assert!(summary.tokens_generated > 0 && summary.wall_seconds > 0.0);
    assert!(summary.problems_per_hour > 0.0);
    assert_eq!(summary.by_subject["Algebra"].n, 3);
    assert_eq!(summary.by_level.len(), 3, "{:?}", summary.by_level);
    assert_eq!(summary.by_level["3"].correct, 1);

    // Progress: once at the start, then after each problem, ending at the total.
    assert_eq!(events.len(), 4);
    assert_eq!(events[0], (0, 0, 3, None));
    assert_eq!(events.last().unwrap().0, 3);
    assert_eq!(events.last().unwrap().1, 1);

    let results = read_results(&out.path().join(RESULTS_FILE), false).unwrap();
    let by_id: HashMap<&str, _> = results.iter().map(|r| (r.id.as_str(), r)).collect();
    let right = by_id["test/algebra/1.json"];
    assert!(right.correct && right.prediction.as_deref() == Some("2") && right.gold == "2");
    assert_eq!(right.strategy, "cot");
    assert!(right.tokens > 0 && right.seconds >= 0.0);
    assert_eq!(right.data, "math_test_minus500.jsonl");
    assert!(right.trace.to_string().contains("boxed"), "{}", right.trace);
    assert_eq!(right.level, Some(3));
    let wrong = by_id["test/algebra/10.json"];
    assert!(!wrong.correct && wrong.prediction.as_deref() == Some("11"));
    assert_eq!(by_id["test/algebra/1001.json"].prediction, None);

    // summary.json has the contract's fields.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join(SUMMARY_FILE)).unwrap())
            .unwrap();
    for key in [
        "data",
        "strategy",
        "model",
        "n",
        "correct",
        "accuracy",
        "ci95_low",
        "ci95_high",
        "tokens_generated",
        "wall_seconds",
        "problems_per_hour",
        "by_subject",
        "by_level",
    ] {
        assert!(json.get(key).is_some(), "summary.json lacks {key}: {json}");
    }
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(out.path().join(RESULTS_FILE)).unwrap().lines().next().unwrap(),
    )
    .unwrap();
    for key in [
        "id",
        "question",
        "gold",
        "prediction",
        "correct",
        "strategy",
        "tokens",
        "seconds",
        "trace",
    ] {
        assert!(line.get(key).is_some(), "results line lacks {key}: {line}");
    }

    let report = std::fs::read_to_string(out.path().join(REPORT_FILE)).unwrap();
    assert!(report.contains("<svg") && report.contains("</html>"));
    assert!(report.contains("Accuracy by subject") && report.contains("Accuracy by level"));
    assert!(report.contains("33.3%"), "accuracy missing from the report");
    for external in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!report.contains(external), "report must be self-contained: {external}");
    }
    assert!(report.contains("test/algebra/10.json"), "wrong answers are listed");
}

#[test]
fn a_failed_solve_is_a_wrong_answer_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = synthetic_gsm8k(dir.path(), 4);
    let data = Dataset::load(&data_path).unwrap();
    let (backend, _) =
        backend_for(ids_questions(&data), |i, _| (i != 2).then(|| boxed(&(2 * i).to_string())));
    let cot = strategy_by_name("cot").unwrap();
    let out = dir.path().join("run");
    let summary =
        run_eval(&backend, cot.as_ref(), &EvalOptions::new(&data_path, &out), &mut |_| {}).unwrap();
    assert_eq!((summary.n, summary.correct, summary.errors), (4, 3, 1));
    let results = read_results(&out.join(RESULTS_FILE), false).unwrap();
    let failed = results.iter().find(|r| r.id == "2").unwrap();
    assert!(!failed.correct && failed.prediction.is_none());
    assert!(failed.error.as_deref().is_some_and(|e| !e.is_empty()), "{failed:?}");
}

fn ids_questions(data: &Dataset) -> Vec<String> {
    data.items.iter().map(|i| i.question.clone()).collect()
}

#[test]
fn resume_after_a_torn_line_redoes_only_that_problem() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = synthetic_gsm8k(dir.path(), 30);
    let data = Dataset::load(&data_path).unwrap();
    let cot = strategy_by_name("cot").unwrap();
    let out = dir.path().join("run");
    let opts =
        EvalOptions { parallel: 4, limit: Some(12), seed: 5, ..EvalOptions::new(&data_path, &out) };
    let reply =
        |i: usize, _: &str| Some(boxed(&(if i.is_multiple_of(3) { 1 } else { 2 * i }).to_string()));

    let (backend, calls) = backend_for(ids_questions(&data), reply);
    let first = run_eval(&backend, cot.as_ref(), &opts, &mut |_| {}).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 12);
    let results_path = out.join(RESULTS_FILE);
    let before = read_results(&results_path, false).unwrap();
    assert_eq!(before.len(), 12);

    // Kill mid-write: cut the last line in half.
    let bytes = std::fs::read(&results_path).unwrap();
    let last_start = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    std::fs::write(&results_path, &bytes[..last_start + (bytes.len() - last_start) / 2]).unwrap();

    let (backend, calls) = backend_for(ids_questions(&data), reply);
    let mut resumed_seen = None;
    let second = run_eval(&backend, cot.as_ref(), &opts, &mut |p| {
        resumed_seen.get_or_insert(p.resumed);
    })
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "only the torn problem is solved again");
    assert_eq!(resumed_seen, Some(11));
    let after = read_results(&results_path, false).unwrap();
    assert_eq!(after.len(), 12, "no duplicates");
    let key = |rs: &[hypatia_eval::ResultRecord]| {
        let mut v: Vec<_> =
            rs.iter().map(|r| (r.id.clone(), r.prediction.clone(), r.correct)).collect();
        v.sort();
        v
    };
    assert_eq!(key(&before), key(&after));
    assert_eq!((first.n, first.correct), (second.n, second.correct));
    assert!(second.wall_seconds >= first.wall_seconds, "wall time accumulates over sessions");

    // A third run finds nothing to do but still writes its summary.
    let (backend, calls) = backend_for(ids_questions(&data), reply);
    std::fs::remove_file(out.join(SUMMARY_FILE)).unwrap();
    let third = run_eval(&backend, cot.as_ref(), &opts, &mut |_| {}).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(third.correct, first.correct);
    assert!(Summary::read(&out).is_some());

    // A larger limit with the same seed extends the run: 12 already done are kept.
    let (backend, calls) = backend_for(ids_questions(&data), reply);
    let wider = EvalOptions { limit: Some(20), ..opts.clone() };
    let extended = run_eval(&backend, cot.as_ref(), &wider, &mut |_| {}).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 8);
    assert_eq!(extended.n, 20);
}

#[test]
fn resume_refuses_another_model_or_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = synthetic_gsm8k(dir.path(), 5);
    let data = Dataset::load(&data_path).unwrap();
    let cot = strategy_by_name("cot").unwrap();
    let out = dir.path().join("run");
    let opts = EvalOptions { limit: Some(3), ..EvalOptions::new(&data_path, &out) };
    let backend = oracle(&data.items).with_name("model-a");
    run_eval(&backend, cot.as_ref(), &opts, &mut |_| {}).unwrap();

    let other_model = oracle(&data.items).with_name("model-b");
    let err = run_eval(&other_model, cot.as_ref(), &opts, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("model") && err.contains("model-a") && err.contains("model-b"), "{err}");

    let labelled = EvalOptions { strategy_label: Some("vote(cot,k=3)".into()), ..opts.clone() };
    let err = run_eval(&backend, cot.as_ref(), &labelled, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("strategy") && err.contains("vote(cot,k=3)"), "{err}");

    let other_data = fixture("mawps_test.jsonl");
    let err = run_eval(&backend, cot.as_ref(), &EvalOptions::new(other_data, &out), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("data"), "{err}");
}

#[test]
fn many_problems_are_in_flight_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = synthetic_gsm8k(dir.path(), 12);
    let data = Dataset::load(&data_path).unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (in_flight.clone(), most.clone());
    let (backend, _) = backend_for(ids_questions(&data), move |i, _| {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(n, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        now.fetch_sub(1, Ordering::SeqCst);
        Some(boxed(&(2 * i).to_string()))
    });
    let cot = strategy_by_name("cot").unwrap();
    let opts = EvalOptions { parallel: 4, ..EvalOptions::new(&data_path, dir.path().join("run")) };
    let summary = run_eval(&backend, cot.as_ref(), &opts, &mut |_| {}).unwrap();
    assert_eq!(summary.correct, 12);
    let peak = most.load(Ordering::SeqCst);
    assert!((2..=4).contains(&peak), "peak concurrency {peak}");
}

#[test]
fn compare_lists_changes_and_tests_them() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = synthetic_gsm8k(dir.path(), 30);
    let data = Dataset::load(&data_path).unwrap();
    let cot = strategy_by_name("cot").unwrap();
    let answer =
        |right: bool, i: usize| Some(boxed(&(if right { 2 * i } else { 2 * i + 1 }).to_string()));
    // A is right on i % 3 != 0 (20 problems), B on i % 2 == 0 (15 problems).
    let (a, _) = backend_for(ids_questions(&data), move |i, _| answer(i % 3 != 0, i));
    let (b, _) = backend_for(ids_questions(&data), move |i, _| answer(i % 2 == 0, i));
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    run_eval(&a, cot.as_ref(), &EvalOptions::new(&data_path, &a_dir), &mut |_| {}).unwrap();
    // B only ran on a sample: comparison is on the shared problems.
    let b_opts = EvalOptions { limit: Some(24), seed: 3, ..EvalOptions::new(&data_path, &b_dir) };
    run_eval(&b, cot.as_ref(), &b_opts, &mut |_| {}).unwrap();

    let c = compare(&a_dir, &b_dir).unwrap();
    let b_ids: HashSet<String> =
        ids(&data.select(Split::All, Some(24), 3).unwrap()).into_iter().collect();
    let lines: Vec<usize> = (0..30).filter(|i| b_ids.contains(&i.to_string())).collect();
    let count = |f: &dyn Fn(usize) -> bool| lines.iter().filter(|&&i| f(i)).count();
    let r2w = count(&|i| i % 3 != 0 && i % 2 != 0);
    let w2r = count(&|i| i % 3 == 0 && i % 2 == 0);
    assert_eq!(c.shared, 24);
    assert_eq!((c.only_in_a, c.only_in_b), (6, 0));
    assert_eq!(c.right_to_wrong.len(), r2w);
    assert_eq!(c.wrong_to_right.len(), w2r);
    assert_eq!(c.both_right as usize, count(&|i| i % 3 != 0 && i % 2 == 0));
    assert_eq!(c.both_wrong as usize, count(&|i| i % 3 == 0 && i % 2 != 0));
    assert!((c.p_value - hypatia_eval::mcnemar_exact(r2w as u64, w2r as u64)).abs() < 1e-15);
    assert!(c.right_to_wrong.iter().all(|ch| ch.id.parse::<usize>().unwrap() % 6 != 0));
    let text = c.to_string();
    assert!(text.contains("McNemar") && text.contains("right in A, wrong in B"), "{text}");

    // Swapping the runs swaps the directions and keeps the p-value.
    let swapped = compare(&b_dir, &a_dir).unwrap();
    assert_eq!(swapped.right_to_wrong.len(), w2r);
    assert!((swapped.p_value - c.p_value).abs() < 1e-15);

    // Runs on different data are not comparable.
    let other = dir.path().join("other");
    let mawps = Dataset::load(&fixture("mawps_test.jsonl")).unwrap();
    run_eval(
        &oracle(&mawps.items),
        cot.as_ref(),
        &EvalOptions::new(fixture("mawps_test.jsonl"), &other),
        &mut |_| {},
    )
    .unwrap();
    assert!(compare(&a_dir, &other).unwrap_err().to_string().contains("same data"));
    assert!(compare(&a_dir, &dir.path().join("missing")).is_err());
}
