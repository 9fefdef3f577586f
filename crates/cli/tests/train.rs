//! `hypatia train` and `hypatia adapter` end to end on SmolLM2-135M, as CI runs them:
//! fine-tune, use the adapter, convert it, improve it with GRPO.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn hypatia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hypatia")).args(args).output().expect("run hypatia")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn sft_adapter_use_conversion_and_grpo() {
    let dir = tempfile::tempdir().unwrap();
    let examples = dir.path().join("train.jsonl");
    let line = |q: &str| {
        json!({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "It is 4."}]})
            .to_string()
    };
    std::fs::write(&examples, [line("What is 2+2?"), line("Add 2 and 2.")].join("\n")).unwrap();

    let adapter = dir.path().join("sft.gguf");
    let o = hypatia(&[
        "train",
        "sft",
        "--model",
        "smollm2-135m",
        "--data",
        path(&examples),
        "--out",
        path(&adapter),
        "--rank",
        "4",
        "--targets",
        "all",
        "--epochs",
        "3",
        "--batch",
        "2",
        "--lr",
        "1e-3",
    ]);
    let report: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(report["steps"].as_array().unwrap().len(), 3);
    assert!(
        report["last_loss"].as_f64().unwrap() < report["first_loss"].as_f64().unwrap(),
        "{report}"
    );
    assert!(adapter.with_extension("json").is_file());

    // The adapter is used by any engine verb, and names the model in results.
    let o = hypatia(&[
        "solve",
        "--json",
        "--strategy",
        "cot",
        "--max-tokens",
        "16",
        "--model",
        "smollm2-135m",
        "--adapter",
        path(&adapter),
        "What is 2+2?",
    ]);
    let solved: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(solved["model"], "smollm2-135m+sft");

    // The adapter lowers the loss of what it learned.
    let score = |adapter: Option<&Path>| -> f64 {
        let mut args = vec!["train", "score", "--model", "smollm2-135m", "--data", path(&examples)];
        if let Some(a) = adapter {
            args.extend(["--adapter", path(a)]);
        }
        let report: Value = serde_json::from_str(&ok(&hypatia(&args))).unwrap();
        assert_eq!(report["examples"], 2);
        report["mean_loss"].as_f64().unwrap()
    };
    let (base_loss, tuned_loss) = (score(None), score(Some(&adapter)));
    assert!(tuned_loss < base_loss, "base {base_loss}, with the adapter {tuned_loss}");

    // GGUF → PEFT → GGUF, q/k included: SmolLM2 is llama-architecture, whose q/k rows GGUF
    // orders differently, so the conversion needs the base model and must come back exact.
    let peft = dir.path().join("peft");
    let to_peft = |model: Option<&str>| {
        let mut args = vec!["adapter", "to-peft", "--in", path(&adapter), "--out", path(&peft)];
        args.extend(["--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct"]);
        if let Some(m) = model {
            args.extend(["--model", m]);
        }
        hypatia(&args)
    };
    let refused = to_peft(None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("head counts"));
    ok(&to_peft(Some("smollm2-135m")));
    assert!(
        peft.join("adapter_model.safetensors").is_file()
            && peft.join("adapter_config.json").is_file()
    );
    let back = dir.path().join("back.gguf");
    ok(&hypatia(&[
        "adapter",
        "from-peft",
        "--in",
        path(&peft),
        "--out",
        path(&back),
        "--model",
        "smollm2-135m",
    ]));
    assert_eq!(score(Some(&back)), tuned_loss);

    // GRPO from the SFT adapter on a GSM8K-format file's training lines.
    let data = dir.path().join("gsm.jsonl");
    let lines: Vec<String> = (1..=20)
        .map(|i| json!({"question": format!("What is {i} + 1?"), "answer": format!("{i} + 1 = {}\n#### {}", i + 1, i + 1)}).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    // GSM8K's training split leaves out the lines this list names (none here).
    std::fs::write(dir.path().join("gsm8k_train_exclude_from_training.json"), "[]").unwrap();
    let improved = dir.path().join("grpo.gguf");
    let o = hypatia(&[
        "train",
        "grpo",
        "--model",
        "smollm2-135m",
        "--data",
        path(&data),
        "--start",
        path(&adapter),
        "--out",
        path(&improved),
        "--steps",
        "1",
        "--group",
        "4",
        "--prompts-per-step",
        "1",
        "--max-tokens",
        "32",
        "--lr",
        "1e-3",
    ]);
    let history: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(history["steps"][0]["rollouts"], 4);
    assert!(improved.is_file());

    let o = hypatia(&[
        "train",
        "grpo",
        "--model",
        "smollm2-135m",
        "--data",
        path(&data),
        "--split",
        "dev",
        "--out",
        path(&improved),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("dev split is not allowed"));
}
