//! A worker that dies between programs is replaced before the next program, not handed
//! out (the next request used to fail with "sandbox I/O: Broken pipe"). Its own test
//! binary: it kills worker processes of this process, which must be its own sandbox's.

use hypatia_sandbox::{Limits, Sandbox, SandboxConfig, Status};

#[test]
fn a_dead_worker_is_replaced_before_the_next_program() {
    // A sandbox of its own, so that killing its worker touches no other test.
    let sandbox = Sandbox::new(SandboxConfig { workers: 1, ..SandboxConfig::default() }).unwrap();
    let first = sandbox.run("print(1)", &Limits::default()).unwrap();
    assert_eq!(first.status, Status::Ok);
    let killed = kill_children_running("Hypatia sandbox worker");
    assert!(killed >= 1, "no worker process found to kill");
    let out = sandbox.run("print(6 * 7)", &Limits::default()).expect("a fresh worker serves it");
    assert_eq!(out.status, Status::Ok, "{}", out.stderr);
    assert_eq!(out.stdout, "42\n");
}

/// The parent pid and the state letter of a process, from `/proc/PID/stat`.
fn stat_of(pid: &str) -> Option<(String, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((fields.next()?.to_string(), state))
}

/// Kills the Python workers (grandchildren of this process: each sits under a reaper in
/// the host's PID namespace) whose command line contains `marker`, and waits until their
/// reapers have exited too, so the sandbox can see it. Returns how many it killed.
fn kill_children_running(marker: &str) -> usize {
    let me = std::process::id().to_string();
    let mut reapers = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        let Some((parent, _)) = stat_of(&pid) else { continue };
        let Some((grandparent, _)) = stat_of(&parent) else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if grandparent == me && String::from_utf8_lossy(&cmdline).contains(marker) {
            unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
            reapers.push(parent);
        }
    }
    // The reaper mirrors the worker's death and exits; it stays a zombie until the
    // sandbox reaps it. Wait for that event (bounded), not for a fixed time.
    for reaper in &reapers {
        let mut spins = 0u64;
        while stat_of(reaper).is_some_and(|(_, state)| state != 'Z') {
            spins += 1;
            assert!(spins < 50_000_000, "the reaper {reaper} did not exit");
            std::thread::yield_now();
        }
    }
    reapers.len()
}
