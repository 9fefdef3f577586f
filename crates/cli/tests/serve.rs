//! `hypatia serve` as an operator runs it: a real process on loopback, killed with
//! SIGKILL and started again on the same database; `--backend` pointing other verbs at it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PROBLEM: &str = "James writes a 3-page letter to 2 different friends twice a week. \
                       How many pages does he write a year?";
const WORKED: &str = "He writes each friend 3*2=<<3*2=6>>6 pages a week.\n\
                      So he writes 6*2=<<6*2=12>>12 pages every week.\n\
                      That means he writes 12*52=<<12*52=624>>624 pages a year.\n#### 624";

/// A `hypatia serve` child process; killed with SIGKILL when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(db: &std::path::Path, extra: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hypatia"))
            .args(["serve", "--addr", "127.0.0.1:0", "--model", "smollm2-135m", "--db"])
            .arg(db)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hypatia serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        let served = Served { child, url };
        let deadline = Instant::now() + Duration::from_secs(120);
        while client()
            .get(format!("{}/ready", served.url))
            .send()
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(Instant::now() < deadline, "not ready in 2 minutes");
            std::thread::sleep(Duration::from_millis(200));
        }
        served
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let r = client().post(format!("{}{path}", self.url)).json(&body).send().unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().unwrap()
    }

    fn get(&self, path: &str) -> Value {
        client().get(format!("{}{path}", self.url)).send().unwrap().json().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap()
}

#[test]
fn a_session_survives_kill_9_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tutor.db");
    let first = Served::start(&db, &[]);
    let created = first
        .post("/api/sessions", json!({"student": "grace", "problem": PROBLEM, "solution": WORKED}));
    let id = created["id"].as_str().unwrap().to_string();
    let answered = first.post(
        &format!("/api/sessions/{id}/messages"),
        json!({"text": "3 * 2 = 6 pages a week", "turn": 0}),
    );
    let reply = answered["turn"]["tutor"].as_str().unwrap().to_string();
    drop(first); // SIGKILL: no shutdown, no flush beyond what each reply waited for.

    let second = Served::start(&db, &[]);
    let session = second.get(&format!("/api/sessions/{id}"));
    let turns = session["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 1, "{session}");
    assert_eq!(turns[0]["student"], "3 * 2 = 6 pages a week");
    assert_eq!(turns[0]["tutor"], reply.as_str());
    // The session goes on where it stopped.
    let next = second.post(
        &format!("/api/sessions/{id}/messages"),
        json!({"text": "6 * 2 = 12 pages every week", "turn": 1}),
    );
    assert_eq!(next["session"]["turns"].as_array().unwrap().len(), 2);
    let listed = second.get("/api/students/grace/sessions");
    assert_eq!(listed[0]["id"], id.as_str());
}

#[test]
fn a_public_address_needs_a_token() {
    let o = Command::new(env!("CARGO_BIN_EXE_hypatia"))
        .args(["serve", "--addr", "0.0.0.0:0", "--model", "smollm2-135m"])
        .env_remove("HYPATIA_TOKEN")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bearer token"), "{err}");
}

#[test]
fn solve_and_eval_run_against_a_server_with_backend() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("tutor.db"), &[]);
    let o = Command::new(env!("CARGO_BIN_EXE_hypatia"))
        .args(["solve", "--json", "--strategy", "cot", "--max-tokens", "48", "--backend"])
        .arg(&served.url)
        .arg("What is 2 + 3?")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let solved: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(solved["model"], "smollm2-135m", "the name comes from the server");

    // Two URLs (the same server twice): eval shards its problems over both.
    let data = dir.path().join("data.jsonl");
    let lines: Vec<String> = (1..=4)
        .map(|i| json!({"question": format!("What is {i} + {i}?"), "answer": format!("{i} + {i} = {}\n#### {}", 2 * i, 2 * i)}).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let out = dir.path().join("run");
    let both = format!("{0},{0}", served.url);
    let o = Command::new(env!("CARGO_BIN_EXE_hypatia"))
        .args(["eval", "--strategy", "cot", "--max-tokens", "32", "--backend", &both, "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["n"], 4);
    assert_eq!(summary["model"], "smollm2-135m");
}
