//! `hypatia bench serve`: many students at once against a real `hypatia serve` on
//! loopback.
//!
//! It starts the server as a child process (or uses `--url`), opens `--sessions` tutoring
//! sessions concurrently and sends each `--turns` messages, one at a time per session as a
//! student would. A `429` is honoured (wait `Retry-After`, send again); a failed connection
//! is retried with the same `turn` number, which the server answers idempotently. At the
//! end every session is read back and compared with what was sent: no turn may be lost or
//! recorded twice. The server's peak resident memory is read from `/proc`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use hypatia_eval::percentile;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Args)]
pub struct ServeBenchArgs {
    /// Concurrent tutoring sessions.
    #[arg(long, default_value_t = 50)]
    sessions: usize,
    /// Student messages per session.
    #[arg(long, default_value_t = 3)]
    turns: usize,
    /// The server's --max-in-flight (below --sessions, so overload is exercised).
    #[arg(long, default_value_t = 16)]
    max_in_flight: usize,
    /// The server's --parallel (sequences decoded together).
    #[arg(long, default_value_t = 8)]
    parallel: u32,
    /// Model the spawned server runs.
    #[arg(long, default_value = hypatia_llm::DEFAULT_MODEL)]
    model: String,
    /// Use a running server instead of starting one (memory is then not measured).
    #[arg(long)]
    url: Option<String>,
    /// JSON output (default: bench/results/serve-load-MODEL.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Problems with worked solutions, so sessions start without solving anything.
const PROBLEMS: [(&str, &str); 3] = [
    (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 72",
    ),
    (
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
        "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
    ),
    (
        "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?",
        "He writes each friend 3*2=<<3*2=6>>6 pages a week.\nSo he writes 6*2=<<6*2=12>>12 pages every week.\nThat means he writes 12*52=<<12*52=624>>624 pages a year.\n#### 624",
    ),
];

/// What the simulated students say, turn by turn (a wrong try, being stuck, a step).
fn message(session: usize, turn: usize) -> String {
    match turn % 3 {
        0 => format!("I think the answer is {}", 100 + session),
        1 => "I'm stuck, what do I do first?".to_string(),
        _ => "Is it 2 * 3 = 6 for the first step?".to_string(),
    }
}

#[derive(Default)]
struct Counters {
    refused: AtomicUsize,
    retried_errors: AtomicUsize,
    max_retry_after: AtomicU64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    sessions: usize,
    turns_per_session: usize,
    max_in_flight: usize,
    parallel: u32,
    turns_sent: usize,
    turns_recorded: usize,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
    failed_sessions: usize,
    refused_429: usize,
    max_retry_after_seconds: u64,
    connection_retries: usize,
    /// What a student waited per turn, from sending to the reply, 429 waits included.
    turn_seconds_median: f64,
    turn_seconds_p95: f64,
    /// The server's own time per turn, once admitted.
    served_seconds_median: f64,
    served_seconds_p95: f64,
    wall_seconds: f64,
    turns_per_minute: f64,
    server_peak_rss_mib: Option<f64>,
    errors: BTreeMap<String, usize>,
}

pub fn run(args: ServeBenchArgs) -> Result<()> {
    if args.sessions == 0 || args.turns == 0 {
        bail!("--sessions and --turns must be at least 1");
    }
    let dir = tempfile_dir()?;
    let mut server = None;
    let url = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let (child, url) = spawn_server(&args, &dir)?;
            server = Some(child);
            url
        }
    };
    let pid = server.as_ref().map(Child::id);
    let result = tokio::runtime::Runtime::new()?.block_on(load(&args, &url, pid));
    if let Some(mut child) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    let json = serde_json::to_string_pretty(&report)?;
    let out = args.out.unwrap_or_else(|| {
        crate::default_bench_dir().join(format!("serve-load-{}.json", args.model))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, &json).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{json}");
    if report.lost + report.duplicated + report.out_of_order + report.failed_sessions > 0 {
        bail!("turns were lost, duplicated, reordered or failed (see {})", out.display());
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hypatia-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Starts `hypatia serve` on a free port and returns it with its URL.
fn spawn_server(args: &ServeBenchArgs, dir: &std::path::Path) -> Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--addr", "127.0.0.1:0", "--model", &args.model])
        .args(["--max-in-flight", &args.max_in_flight.to_string()])
        .args(["--parallel", &args.parallel.to_string()])
        // Every simulated student shares one address: the per-client rate is not what
        // this measures.
        .args(["--rate", "1000000"])
        .arg("--db")
        .arg(dir.join("tutor.db"))
        // Thousands of 429s would drown the report in access-log lines.
        .env(
            "HYPATIA_LOG",
            std::env::var("HYPATIA_LOG").unwrap_or_else(|_| "warn,tower_http=error".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting hypatia serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("hypatia serve printed no URL: {line:?}"))?
        .trim_end_matches('/')
        .to_string();
    Ok((child, url))
}

/// Peak resident memory of a process, from `/proc` (Linux).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn load(args: &ServeBenchArgs, url: &str, pid: Option<u32>) -> Result<Report> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    wait_ready(&client, url).await?;
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..args.sessions {
        let (client, url, counters) = (client.clone(), url.to_string(), counters.clone());
        let turns = args.turns;
        tasks.push(tokio::spawn(async move { student(&client, &url, s, turns, &counters).await }));
    }
    let (mut latencies, mut served) = (Vec::new(), Vec::new());
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut sessions = Vec::new();
    for task in tasks {
        match task.await? {
            Ok((id, seconds)) => {
                latencies.extend(seconds);
                sessions.push(id);
            }
            Err(e) => *errors.entry(format!("{e:#}")).or_default() += 1,
        }
    }
    let wall = started.elapsed().as_secs_f64();
    // Read every session back: exactly the messages sent, once each, in order.
    let (mut recorded, mut lost, mut duplicated, mut out_of_order) = (0, 0, 0, 0);
    for id in &sessions {
        let view: Value =
            client.get(format!("{url}/api/sessions/{id}")).send().await?.json().await?;
        let said: Vec<String> = view["turns"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["student"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let session_index: usize = view["student"]
            .as_str()
            .and_then(|n| n.strip_prefix("load-"))
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("session {id} has no load-N student"))?;
        let sent: Vec<String> = (0..args.turns).map(|t| message(session_index, t)).collect();
        served.extend(
            view["turns"].as_array().into_iter().flatten().filter_map(|t| t["seconds"].as_f64()),
        );
        recorded += said.len();
        lost += sent.iter().filter(|m| !said.contains(m)).count();
        duplicated += said.len().saturating_sub(sent.len());
        out_of_order += usize::from(said.len() == sent.len() && said != sent);
    }
    let median = percentile(&latencies, 0.5);
    Ok(Report {
        model: args.model.clone(),
        sessions: args.sessions,
        turns_per_session: args.turns,
        max_in_flight: args.max_in_flight,
        parallel: args.parallel,
        turns_sent: sessions.len() * args.turns,
        turns_recorded: recorded,
        lost,
        duplicated,
        out_of_order,
        failed_sessions: errors.values().sum(),
        refused_429: counters.refused.load(Ordering::Relaxed),
        max_retry_after_seconds: counters.max_retry_after.load(Ordering::Relaxed),
        connection_retries: counters.retried_errors.load(Ordering::Relaxed),
        turn_seconds_median: median,
        turn_seconds_p95: percentile(&latencies, 0.95),
        served_seconds_median: percentile(&served, 0.5),
        served_seconds_p95: percentile(&served, 0.95),
        wall_seconds: wall,
        turns_per_minute: latencies.len() as f64 / wall * 60.0,
        server_peak_rss_mib: pid.and_then(peak_rss_mib),
        errors,
    })
}

async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{url}/ready")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("the server at {url} was not ready within 10 minutes")
}

/// One simulated student: a session, then its turns; returns the session id and the
/// seconds each turn took (retries included, as the student waited through them).
async fn student(
    client: &reqwest::Client,
    url: &str,
    index: usize,
    turns: usize,
    counters: &Counters,
) -> Result<(String, Vec<f64>)> {
    let (problem, solution) = PROBLEMS[index % PROBLEMS.len()];
    let body =
        json!({"student": format!("load-{index}"), "problem": problem, "solution": solution});
    let created = send(client, &format!("{url}/api/sessions"), &body, counters).await?;
    let id = created["id"].as_str().context("no session id")?.to_string();
    let mut seconds = Vec::new();
    for turn in 0..turns {
        let started = Instant::now();
        let body = json!({"text": message(index, turn), "turn": turn});
        let answered =
            send(client, &format!("{url}/api/sessions/{id}/messages"), &body, counters).await?;
        let recorded = answered["session"]["turns"].as_array().map_or(0, Vec::len);
        if recorded != turn + 1 {
            bail!("after turn {turn} the session has {recorded} turns");
        }
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok((id, seconds))
}

/// POSTs until answered: 429 waits `Retry-After`, a dropped connection is sent again
/// (safe: session creation is not retried after a response, turns carry their number).
async fn send(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    counters: &Counters,
) -> Result<Value> {
    for _ in 0..1000 {
        let response = match client.post(url).json(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_request() => {
                counters.retried_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .context("a 429 without Retry-After")?;
            counters.max_retry_after.fetch_max(wait, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{status}: {text}");
        }
        return Ok(serde_json::from_str(&text)?);
    }
    bail!("still refused after 1000 tries")
}
