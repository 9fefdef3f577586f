//! The host's handle on one warm worker process: spawn, line protocol, kill.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Deserialize;
use serde_json::json;

use crate::isolate::Plan;
use crate::{Limits, Outcome, SandboxError};

const SCRIPT: &str = include_str!("worker.py");
/// How long a fresh worker may take to import sympy (≈2 s here; generous for loaded CI).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Slack on top of a program's own timeout before the host stops trusting the worker.
const GRACE: Duration = Duration::from_secs(5);
/// Largest reply line accepted: two capped outputs, JSON-escaped, with room to spare.
const MAX_LINE: usize = 64 << 20;

pub(crate) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// The worker's stderr; its isolation hook writes which step failed there.
    stderr: File,
    buf: Vec<u8>,
}

/// A reply that is not an [`Outcome`].
#[derive(Deserialize)]
struct Ack {
    ok: Option<bool>,
    fatal: Option<String>,
    #[serde(default)]
    retire: bool,
}

/// A program's outcome, and whether the worker must be retired: it could not clean up
/// after the program and exits once this reply is sent.
#[derive(Deserialize)]
pub(crate) struct RunReply {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(default)]
    pub retire: bool,
}

#[derive(Deserialize)]
pub(crate) struct CellReply {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub alive: bool,
    #[serde(default)]
    pub retire: bool,
}

impl Worker {
    pub fn spawn(plan: &Arc<Plan>) -> Result<Worker, SandboxError> {
        let hex: String = crate::filter::to_bytes(plan.program_filter())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // Our own pipe rather than Stdio::piped(): when the hook fails, spawn() returns only an
        // errno and drops its pipes, and the message saying which step failed would be lost.
        let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| SandboxError::Io(e.into()))?;
        let mut stderr = File::from(err_r);
        let spawned = plan
            .command(SCRIPT, &hex)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err_w))
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let mut msg = String::new();
                let _ = stderr.read_to_string(&mut msg);
                return Err(SandboxError::Setup(format!(
                    "starting a sandbox worker: {e}; {}",
                    msg.trim()
                )));
            }
        };
        let mut w = Worker {
            stdin: child.stdin.take().expect("piped"),
            stdout: child.stdout.take().expect("piped"),
            stderr,
            child,
            buf: Vec::new(),
        };
        match w.read_line(Instant::now() + START_TIMEOUT) {
            Ok(line) if line.contains("\"ready\"") => Ok(w),
            Ok(line) => Err(SandboxError::Setup(format!("sandbox worker failed to start: {line}"))),
            Err(e) => {
                let diag = w.diagnostics();
                Err(SandboxError::Setup(format!("sandbox worker failed to start: {e}; {diag}")))
            }
        }
    }

    /// What the worker (or its `pre_exec` hook) printed on stderr, for error messages.
    fn diagnostics(&mut self) -> String {
        let _ = self.kill();
        let mut s = String::new();
        let _ = self.stderr.read_to_string(&mut s);
        s.trim().chars().take(4000).collect()
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String, SandboxError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err(SandboxError::Worker("reply too long".into()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SandboxError::Timeout);
            }
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SandboxError::Io(e.into())),
            }
            let mut chunk = [0u8; 65536];
            let n = self.stdout.read(&mut chunk)?;
            if n == 0 {
                return Err(SandboxError::Worker("the worker exited".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn request(
        &mut self,
        req: serde_json::Value,
        budget: Duration,
    ) -> Result<String, SandboxError> {
        let mut line = serde_json::to_vec(&req).expect("serializable");
        line.push(b'\n');
        self.stdin.write_all(&line)?;
        self.stdin.flush()?;
        self.read_line(Instant::now() + budget + GRACE)
    }

    /// Whether the worker process has exited (it died, or retired itself).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub fn run(&mut self, code: &str, limits: &Limits) -> Result<RunReply, SandboxError> {
        let req = json!({"op": "run", "code": code, "limits": limits.wire()});
        let line = self.request(req, limits.timeout)?;
        serde_json::from_str(&line).map_err(|e| protocol(e, &line))
    }

    /// Opens a session; `Ok(true)` when the worker retires itself instead.
    pub fn open_session(&mut self, limits: &Limits) -> Result<bool, SandboxError> {
        let line = self.request(json!({"op": "open", "limits": limits.wire()}), Duration::ZERO)?;
        self.ack(&line)
    }

    pub fn cell(&mut self, code: &str, timeout: Duration) -> Result<CellReply, SandboxError> {
        let req = json!({"op": "cell", "code": code, "timeout": timeout.as_secs_f64()});
        let line = self.request(req, timeout)?;
        serde_json::from_str(&line).map_err(|e| protocol(e, &line))
    }

    /// Closes the session; `Ok(true)` when the worker retires itself afterwards.
    pub fn close_session(&mut self) -> Result<bool, SandboxError> {
        let line = self.request(json!({"op": "close"}), Duration::ZERO)?;
        self.ack(&line)
    }

    fn ack(&self, line: &str) -> Result<bool, SandboxError> {
        let ack: Ack = serde_json::from_str(line).map_err(|e| protocol(e, line))?;
        match (ack.ok, ack.fatal) {
            (Some(true), _) => Ok(ack.retire),
            (_, Some(f)) => Err(SandboxError::Worker(f)),
            _ => Err(SandboxError::Worker(format!("unexpected reply: {line}"))),
        }
    }

    /// Kills the worker's whole process group; the kernel then takes down its PID namespace.
    pub fn kill(&mut self) -> std::io::Result<()> {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        self.child.wait().map(|_| ())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn protocol(e: serde_json::Error, line: &str) -> SandboxError {
    let head: String = line.chars().take(300).collect();
    SandboxError::Worker(format!("bad reply from the worker ({e}): {head}"))
}
