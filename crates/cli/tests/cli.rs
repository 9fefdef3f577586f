//! The `hypatia` binary as a user runs it: output shapes of DESIGN.md and clear errors.

use std::process::{Command, Output};

fn hypatia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hypatia")).args(args).output().expect("run hypatia")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn model_list_names_every_model_with_size_and_status() {
    let o = hypatia(&["model", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for name in ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"));
        assert!(line.contains("MB"), "{line}");
        assert!(line.contains("present") || line.contains("absent"), "{line}");
    }
}

#[test]
fn pulling_an_unknown_model_fails_clearly() {
    let o = hypatia(&["model", "pull", "no-such-model"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("known models"), "{}", stderr(&o));
}

#[test]
fn unknown_strategy_fails_before_loading_a_model() {
    let o = hypatia(&["solve", "--strategy", "magic", "What is 1+1?"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown strategy `magic`"), "{}", stderr(&o));
}

#[test]
fn solve_json_has_the_contract_fields() {
    let o = hypatia(&[
        "solve",
        "--json",
        "--model",
        "smollm2-135m",
        "--ctx",
        "2048",
        "What is 2 plus 3?",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    // `auto` is the default, and its answers carry a confidence in [0, 1].
    assert_eq!(v["strategy"], "auto");
    let confidence = v["confidence"].as_f64().expect("a confidence");
    assert!((0.0..=1.0).contains(&confidence), "{confidence}");
    assert_eq!(v["model"], "smollm2-135m");
    assert!(v["tokens"].as_u64().unwrap() > 0);
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    assert!(!v["text"].as_str().unwrap().is_empty());
    assert!(v.get("answer").is_some());
}

#[test]
fn solve_streams_text_then_prints_the_answer_line() {
    let o = hypatia(&["solve", "--model", "smollm2-135m", "--ctx", "2048", "What is 2 plus 3?"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let last = out.lines().last().unwrap_or("");
    assert!(last.starts_with("Answer: "), "{out}");
}

#[test]
fn exec_prints_the_contract_object() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.py");
    std::fs::write(&ok, "import sympy\nx = sympy.symbols('x')\nprint(sympy.solve(x**2 - 4, x))\n")
        .unwrap();
    let o = hypatia(&["exec", ok.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["stdout"], "[-2, 2]\n");
    assert!(v["stderr"].is_string() && v["seconds"].as_f64().is_some());

    let slow = dir.path().join("slow.py");
    std::fs::write(&slow, "while True:\n    pass\n").unwrap();
    let o = hypatia(&["exec", "--timeout", "1", slow.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["status"], "timeout");
}

#[test]
fn exec_of_a_missing_file_fails_clearly() {
    let o = hypatia(&["exec", "/nonexistent/prog.py"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a readable file"), "{}", stderr(&o));
}

#[test]
fn grade_follows_the_contract() {
    let o = hypatia(&["grade", "--gold", "\\frac{1}{2}", "--pred", "0.5"]);
    assert_eq!(stdout(&o).trim(), "equal", "{}", stderr(&o));
    let o = hypatia(&["grade", "--gold", "0.001", "--pred", "0.0015"]);
    assert_eq!(stdout(&o).trim(), "different");

    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        "{\"gold\":\"42\",\"pred\":\"42.0\"}\n{\"gold\":\"(1,2)\",\"pred\":\"\\\\{1,2\\\\}\"}\n",
    )
    .unwrap();
    let o = hypatia(&["grade", "--pairs", pairs.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\"equal\":true}\n{\"equal\":false}\n");

    std::fs::write(&pairs, "{\"gold\":\"1\",\"pred\":\"1\"}\nnot json\n").unwrap();
    let o = hypatia(&["grade", "--pairs", pairs.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
}

#[test]
fn grade_refuses_the_false_matches_of_issue_16() {
    for (gold, pred) in [
        ("5", "-5 €"),
        ("12", "1.2 €"),
        ("1/2", "12?"),
        ("1/2", "1 1/2"),
        ("0", "2 000 000"),
        ("5", "5 thousand"),
        ("2", "2 squared"),
        ("x", "|x|"),
        ("0.5", "0.5%"),
        ("0.5", "\\frac{7}{15}"),
        ("1,000", "0, 1"),
        ("\\text{no}", "on"),
    ] {
        let o = hypatia(&["grade", "--gold", gold, "--pred", pred]);
        assert_eq!(stdout(&o).trim(), "different", "{gold} vs {pred}: {}", stderr(&o));
    }
    let q = "What percent of the apples are red?";
    let o = hypatia(&["grade", "--gold", "25", "--pred", "25%", "--question", q]);
    assert_eq!(stdout(&o).trim(), "equal", "{}", stderr(&o));
    let o = hypatia(&["grade", "--gold", "25", "--pred", "25%"]);
    assert_eq!(stdout(&o).trim(), "different");
}

#[test]
fn grade_pairs_is_bounded_on_endless_input() {
    let o = hypatia(&["grade", "--pairs", "/dev/zero"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 1") && stderr(&o).contains("longer than"), "{}", stderr(&o));
}

#[test]
fn grade_extract_reads_stdin() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hypatia"))
        .args(["grade", "--extract"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"so the total is \\boxed{\\frac{3}{4}}.").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o).trim(), "\\frac{3}{4}");
}

#[test]
fn eval_writes_the_contract_files_and_resumes() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../eval/tests/data/gsm8k_train.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = [
        "eval",
        "--data",
        data,
        "--split",
        "all",
        "--limit",
        "2",
        "--strategy",
        "cot",
        "--model",
        "smollm2-135m",
        "--ctx",
        "2048",
        "--max-tokens",
        "48",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = hypatia(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for field in [
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
    ] {
        assert!(summary.get(field).is_some(), "summary lacks {field}: {summary}");
    }
    assert_eq!(summary["n"], 2);
    assert_eq!(summary["model"], "smollm2-135m");
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 2);
    for line in results.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in [
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
            assert!(r.get(field).is_some(), "result lacks {field}");
        }
    }
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("<svg"));

    // A second run finds both problems done and solves nothing again.
    let o = hypatia(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("results.jsonl")).unwrap(), results);

    let o = hypatia(&["eval", "compare", out.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn eval_without_data_or_out_says_what_is_missing() {
    let o = hypatia(&["eval", "--strategy", "cot"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--data"), "{}", stderr(&o));
}

const NATALIA: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";
const NATALIA_SOLUTION: &str = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72";

#[test]
fn tutor_reply_follows_the_batch_contract() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let line = |id: u32, history: serde_json::Value| {
        serde_json::json!({"id": id, "problem": NATALIA, "reference_solution": NATALIA_SOLUTION,
            "reference_answer": null, "history": history, "grade": 4})
        .to_string()
    };
    let lines = [
        line(1, serde_json::json!([{"role": "student", "text": "48 / 2 = 24\n48 + 24 = 82"}])),
        line(
            2,
            serde_json::json!([
                {"role": "student", "text": "48 / 2 = 24\n48 + 24 = 82"},
                {"role": "tutor", "text": "Look at your second step. Does it look right?"},
                {"role": "student", "text": "just tell me the answer"}
            ]),
        ),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let o = hypatia(&[
        "tutor",
        "reply",
        "--in",
        input.to_str().unwrap(),
        "--out",
        output.to_str().unwrap(),
        "--model",
        "smollm2-135m",
        "--ctx",
        "4096",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(&output).unwrap();
    assert_eq!(out.lines().count(), 2);
    for (n, l) in out.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["id"], n as u64 + 1);
        let reply = v["reply"].as_str().unwrap();
        assert!(reply.ends_with('?'), "{reply}");
        assert!(!reply.split(|c: char| !c.is_ascii_digit()).any(|w| w == "72"), "{reply}");
        assert!(v["leak_blocked"].is_boolean() && v["seconds"].is_number());
    }
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["diagnosis"]["first_wrong"]["index"], 1);
    assert_eq!(first["diagnosis"]["first_wrong"]["kind"], "arithmetic_slip");
}

#[test]
fn tutor_reply_rejects_a_bad_line_before_loading_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\": 1}\n").unwrap();
    let out = dir.path().join("out.jsonl");
    let o = hypatia(&[
        "tutor",
        "reply",
        "--in",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        "no-such-model",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 1: not a tutor reply request"), "{}", stderr(&o));
}

#[test]
fn a_terminal_session_is_saved_and_counted_in_progress() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tutor.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hypatia"))
        .args([
            "tutor",
            "--problem",
            NATALIA,
            "--solution",
            NATALIA_SOLUTION,
            "--student",
            "ada",
            "--db",
            db.to_str().unwrap(),
            "--model",
            "smollm2-135m",
            "--ctx",
            "4096",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"48 / 2 = 24\n48 + 24 = 72\nThe answer is 72\n\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Hypatia:"), "{}", stdout(&o));
    assert!(stderr(&o).contains("solved on your own"), "{}", stderr(&o));
    let p = hypatia(&["tutor", "progress", "--student", "ada", "--db", db.to_str().unwrap()]);
    assert!(p.status.success(), "{}", stderr(&p));
    let v: serde_json::Value = serde_json::from_str(stdout(&p).lines().next().unwrap()).unwrap();
    assert_eq!((v["attempted"].as_u64(), v["solved"].as_u64()), (Some(1), Some(1)));
}

#[test]
fn eval_tutor_writes_turns_dialogues_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gsm8k_train.jsonl");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../eval/tests/data/gsm8k_train.jsonl");
    std::fs::copy(src, &data).unwrap();
    std::fs::write(dir.path().join("gsm8k_train_exclude_from_training.json"), "[]").unwrap();
    let out = dir.path().join("run");
    let o = hypatia(&[
        "eval",
        "tutor",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--limit",
        "1",
        "--dialogues",
        "1",
        "--student-turns",
        "2",
        "--model",
        "smollm2-135m",
        "--ctx",
        "4096",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tutor_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["turns"], 4, "{summary}");
    assert_eq!(summary["question"]["correct"], 4, "{summary}");
    for field in ["leak", "location", "success", "told", "seconds_p95"] {
        assert!(summary.get(field).is_some(), "{field}: {summary}");
    }
    assert_eq!(std::fs::read_to_string(out.join("tutor_turns.jsonl")).unwrap().lines().count(), 4);
}
