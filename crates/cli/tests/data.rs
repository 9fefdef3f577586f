//! `hypatia data gen` as a user runs it: the three output files, resuming, and refusing
//! to touch the development split.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hypatia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hypatia")).args(args).output().expect("run hypatia")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A 20-line GSM8K-format file (so that lines 9 and 19 are development lines) with its
/// exclusion list next to it, as in the shared data directory.
fn gsm8k_file(dir: &Path) -> PathBuf {
    let data = dir.join("gsm8k_train.jsonl");
    let lines: String = (0..20)
        .map(|i| {
            let record = serde_json::json!({
                "question": format!("Tom has {i} apples and buys 2 more. How many apples does he have?"),
                "answer": format!("{i} + 2 = {}\n#### {}", i + 2, i + 2),
            });
            format!("{record}\n")
        })
        .collect();
    std::fs::write(&data, lines).unwrap();
    std::fs::write(dir.join("gsm8k_train_exclude_from_training.json"), "[4]").unwrap();
    data
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[test]
fn data_gen_writes_examples_done_and_summary_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = gsm8k_file(dir.path());
    let out = dir.path().join("gen");
    let args = [
        "data",
        "gen",
        "--data",
        data.to_str().unwrap(),
        "--model",
        "smollm2-135m",
        "--ctx",
        "2048",
        "--strategy",
        "cot",
        "--samples",
        "2",
        "--limit",
        "3",
        "--max-tokens",
        "48",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = hypatia(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("the summary is printed as JSON");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(printed, summary);
    for field in [
        "data",
        "strategy",
        "model",
        "k",
        "problems",
        "problems_with_data",
        "examples",
        "yield",
        "mean_kept_per_problem",
        "tokens_generated",
        "wall_seconds",
        "examples_per_hour",
    ] {
        assert!(summary.get(field).is_some(), "summary lacks {field}: {summary}");
    }
    assert_eq!(summary["strategy"], "cot");
    assert_eq!(summary["model"], "smollm2-135m");
    assert_eq!((summary["k"].as_u64(), summary["problems"].as_u64()), (Some(2), Some(3)));
    assert!(summary["tokens_generated"].as_u64().unwrap() > 0);

    // The tiny model may well get none right: check shapes, not yield.
    let done = json_lines(&out.join("done.jsonl"));
    assert_eq!(done.len(), 3);
    for d in &done {
        let line = d["id"].as_str().unwrap().parse::<usize>().unwrap();
        assert!(line % 10 != 9 && line != 4, "problem {line} is not in the training split");
        assert_eq!(d["samples"], 2);
        assert!(d["kept"].as_u64().unwrap() <= 2 && d["tokens"].as_u64().is_some());
    }
    let examples = json_lines(&out.join("train.jsonl"));
    assert_eq!(examples.len() as u64, summary["examples"].as_u64().unwrap());
    for e in &examples {
        for field in ["id", "source", "strategy", "gold", "answer", "completion_tokens"] {
            assert!(e.get(field).is_some(), "example lacks {field}: {e}");
        }
        let roles: Vec<&str> =
            e["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
    }

    // A second run finds every problem done and samples nothing again.
    let done_before = std::fs::read_to_string(out.join("done.jsonl")).unwrap();
    let o = hypatia(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("done.jsonl")).unwrap(), done_before);
}

#[test]
fn data_gen_refuses_the_dev_split_and_voting_before_loading_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = gsm8k_file(dir.path());
    let out = dir.path().join("gen");
    // A model that does not exist: reaching the loader would fail with another message.
    let base = ["data", "gen", "--data", data.to_str().unwrap(), "--model", "no-such-model"];
    let o = hypatia(&[&base[..], &["--split", "dev", "--out", out.to_str().unwrap()]].concat());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--split dev") && err.contains("never"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused run");

    let o = hypatia(&[&base[..], &["--strategy", "vote", "--out", out.to_str().unwrap()]].concat());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot sample strategy `vote`"), "{}", stderr(&o));
}
