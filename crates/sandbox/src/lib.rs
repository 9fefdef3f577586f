/*!
Runs model-written Python in isolation, fast.

Hypatia's models answer math questions by writing Python; this crate runs that code. Student
text reaches the model, so every program is treated as hostile: a student can talk the model
into writing anything. The two goals pull against each other. Isolation wants a fresh process
per program; speed does not allow one, since starting Python and importing sympy takes about two
seconds.

# Design: fork from a warm, pre-imported, already-restricted worker

A [`Sandbox`] keeps a small pool of *workers*: Python processes that have imported `math`,
`fractions`, `itertools` and `sympy` once. Each program runs in a **fresh child forked from a
worker**, so it starts in a few milliseconds with everything imported, and no state survives it:
the worker's own memory is never touched by untrusted code.

The restrictions are applied to the worker *before* its Python even starts, so no program can
run outside them, and again, tighter, in each child:

* **namespaces**: new user (when not root; as root the worker drops to `nobody` instead),
  network (no interfaces at all), PID (the worker is PID 1: programs cannot see or signal the
  host, and `kill(-1)` sweeps everything a program left behind), mount, IPC and UTS;
* **filesystem**: `pivot_root` into a tmpfs that holds only the system libraries, the Python
  installation and the venv, all read-only, plus a private size-capped scratch tmpfs; each
  program's working directory is a fresh directory on it, wiped afterwards. There is no /proc,
  no /home, no /etc beyond the loader cache, no project tree;
* **Landlock** (where the kernel has it) repeats the filesystem rules in the kernel's own terms
  and adds no TCP, and no signals or abstract sockets outside the sandbox;
* **seccomp**: a base filter (sockets, ptrace, mount, bpf, keyctl, kexec, identity changes, new
  namespaces, io_uring …) for the worker, and a program filter in each child that also refuses
  `execve`, new processes and raising limits, killing the program ([`Status::Denied`]);
* **rlimits**: CPU seconds, address space, processes, file size, open files; plus the
  wall-clock timeout and the output cap, which the worker enforces and the host double-checks.

Where user namespaces are unavailable to an unprivileged user, [`Sandbox::new`] refuses with
[`SandboxError::Unsupported`] rather than run programs with weaker isolation; where Landlock is
missing the mount namespace alone confines the filesystem ([`Isolation`] says which).

# Example

```
use hypatia_sandbox::{Limits, Sandbox, Status};

let sandbox = Sandbox::global()?;
let out = sandbox.run("from sympy import *\nx = symbols('x')\nprint(solve(x**2 - 4, x))", &Limits::default())?;
assert_eq!(out.status, Status::Ok);
assert_eq!(out.stdout, "[-2, 2]\n");

let out = sandbox.run("import socket\nsocket.socket()", &Limits::default())?;
assert_eq!(out.status, Status::Denied);
# Ok::<(), hypatia_sandbox::SandboxError>(())
```
*/

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod filter;
mod isolate;
pub mod venv;
mod worker;

use isolate::Plan;
use worker::Worker;

pub use venv::PythonEnv;

/// How a program ended. Serializes to the lowercase names of the `exec` contract.
///
/// Every status but `Ok`/`Error` comes from what the supervisor observed (its clocks
/// and output count, the signal that ended the program, the CPU time and peak memory the
/// kernel accounted, the scratch space left), never from an exit code or an exception
/// the program chose: `os._exit(3)` or `raise MemoryError` is an `Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It ran to the end (or called `sys.exit(0)`).
    Ok,
    /// It raised an exception (traceback in stderr), exited non-zero, or crashed. A
    /// permission or read-only error the kernel returned and the program did not handle is
    /// an error too: its traceback says so.
    Error,
    /// It ran past the wall-clock timeout or its CPU seconds.
    Timeout,
    /// It failed with its peak resident memory at half of [`Limits::memory_bytes`] or
    /// more, as the kernel accounted it: out of address space, or OOM-killed.
    Memory,
    /// It printed more than [`Limits::output_bytes`]; what fit is kept.
    OutputLimit,
    /// The sandbox stopped it: a forbidden system call, the file size limit (both kill
    /// the program with a signal the sandbox sees), or a failure with the scratch space
    /// full.
    Denied,
}

/// What a program did. Serializes to exactly the `hypatia exec` JSON object of DESIGN.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub stdout: String,
    /// The traceback for [`Status::Error`]; a line starting `sandbox:` when the sandbox
    /// stopped the program.
    pub stderr: String,
    /// Wall-clock seconds from fork to exit.
    pub seconds: f64,
}

impl Outcome {
    /// The one-line JSON object `hypatia exec` prints.
    ///
    /// ```
    /// # use hypatia_sandbox::{Outcome, Status};
    /// let o = Outcome { status: Status::OutputLimit, stdout: "2\n".into(), stderr: String::new(), seconds: 0.5 };
    /// assert_eq!(o.to_json(), r#"{"status":"output_limit","stdout":"2\n","stderr":"","seconds":0.5}"#);
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an Outcome always serializes")
    }
}

/// Per-program limits. Every field has a default; [`Limits::validate`] states the invariants.
///
/// ```
/// # use hypatia_sandbox::Limits;
/// # use std::time::Duration;
/// let l = Limits::default().with_timeout(Duration::from_millis(2500));
/// assert_eq!(l.memory_bytes, 1 << 30);
/// assert_eq!(l.cpu_seconds(), 4); // ceil(timeout) + 1
/// assert!(l.validate().is_ok());
/// assert!(Limits { memory_bytes: 1 << 20, ..l }.validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Wall clock, from fork to exit. Default 10 s; at most 1 hour. In a session: per cell.
    pub timeout: Duration,
    /// Address space of the whole interpreter (RLIMIT_AS), sympy's ≈ 0.2 GiB included.
    /// Default 1 GiB; at least 256 MiB. In a session it covers the whole session.
    pub memory_bytes: u64,
    /// stdout and stderr together; past it the program is stopped with
    /// [`Status::OutputLimit`]. Default 64 KiB; at least 1 KiB, at most 16 MiB.
    pub output_bytes: usize,
    /// Largest file a program may write (RLIMIT_FSIZE). Default 16 MiB; at most
    /// [`SandboxConfig::scratch_bytes`].
    pub file_bytes: u64,
    /// Open file descriptors (RLIMIT_NOFILE). Default 64; between 16 and 1024.
    pub open_files: u64,
    /// Processes and threads of the sandbox's user (RLIMIT_NPROC). New processes are refused
    /// outright; this bounds threads. Default 32; between 4 and 256.
    pub processes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(10),
            memory_bytes: 1 << 30,
            output_bytes: 64 << 10,
            file_bytes: 16 << 20,
            open_files: 64,
            processes: 32,
        }
    }
}

/// The ceilings the workers are started with; [`Limits`] can only go below them.
const CAPS: Limits = Limits {
    timeout: Duration::from_secs(3600),
    memory_bytes: u64::MAX,
    output_bytes: 16 << 20,
    file_bytes: 1 << 30,
    open_files: 1024,
    processes: 256,
};

impl Limits {
    /// The same limits with another wall-clock timeout.
    pub fn with_timeout(self, timeout: Duration) -> Limits {
        Limits { timeout, ..self }
    }

    /// CPU seconds (RLIMIT_CPU): the timeout rounded up, plus one. In a session the count is
    /// for the session's process as a whole, so it is multiplied by [`SESSION_CPU_CELLS`].
    pub fn cpu_seconds(&self) -> u64 {
        self.timeout.as_secs_f64().ceil() as u64 + 1
    }

    /// Checks the invariants documented on each field.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |what: &str| Err(SandboxError::InvalidLimits(what.to_string()));
        if self.timeout.is_zero() || self.timeout > CAPS.timeout {
            return bad("timeout must be above zero and at most one hour");
        }
        if self.memory_bytes < 256 << 20 {
            return bad(
                "memory_bytes must be at least 256 MiB (the interpreter and sympy take about 200)",
            );
        }
        if !(1024..=CAPS.output_bytes).contains(&self.output_bytes) {
            return bad("output_bytes must be between 1 KiB and 16 MiB");
        }
        if self.file_bytes == 0 || self.file_bytes > CAPS.file_bytes {
            return bad("file_bytes must be between 1 byte and 1 GiB");
        }
        if !(16..=CAPS.open_files).contains(&self.open_files) {
            return bad("open_files must be between 16 and 1024");
        }
        if !(4..=CAPS.processes).contains(&self.processes) {
            return bad("processes must be between 4 and 256");
        }
        Ok(())
    }

    fn wire(&self) -> serde_json::Value {
        serde_json::json!({
            "timeout": self.timeout.as_secs_f64(),
            "cpu_seconds": self.cpu_seconds(),
            "memory_bytes": self.memory_bytes,
            "output_bytes": self.output_bytes,
            "file_bytes": self.file_bytes,
            "open_files": self.open_files,
            "processes": self.processes,
        })
    }

    fn for_session(&self) -> Limits {
        let t = self.timeout.saturating_mul(SESSION_CPU_CELLS as u32);
        Limits { timeout: t.min(CAPS.timeout), ..self.clone() }
    }
}

/// A session's CPU budget, in cells' worth of [`Limits::cpu_seconds`].
pub const SESSION_CPU_CELLS: u64 = 20;

/// Everything that can go wrong *around* a program (a program's own failures are [`Status`]es).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("python3 is missing: {0}")]
    PythonMissing(String),
    #[error("the sandbox's Python environment: {0}")]
    Python(String),
    #[error("this system cannot run the sandbox: {0}")]
    Unsupported(String),
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    #[error("a sandbox worker failed: {0}")]
    Worker(String),
    #[error("the worker did not answer in time")]
    Timeout,
    #[error("the session has ended (an earlier cell timed out, crashed or was denied)")]
    SessionEnded,
    #[error("sandbox I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// How a [`Sandbox`] is set up.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Where the venv lives (`home/python/venv`). Default: `$HYPATIA_HOME`, else
    /// `~/.cache/hypatia`.
    pub home: PathBuf,
    /// The interpreter that builds the venv. Default: `$HYPATIA_PYTHON`, else `python3`.
    pub python: OsString,
    /// Most workers alive at once, i.e. programs running in parallel. Default: the number of
    /// CPUs. Workers start on demand (or with [`Sandbox::warm`]).
    pub workers: usize,
    /// Size of each worker's scratch tmpfs (files written by programs). Default 64 MiB.
    pub scratch_bytes: u64,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            home: venv::default_home(),
            python: std::env::var_os("HYPATIA_PYTHON")
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into()),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            scratch_bytes: 64 << 20,
        }
    }
}

/// Which layers of isolation are in force (for logs and `--version`-style reports).
#[derive(Clone, Debug, Serialize)]
pub struct Isolation {
    /// Started as root: the worker drops to uid 65534 instead of mapping a user namespace.
    pub root: bool,
    /// User (unless root), network, PID, mount, IPC and UTS namespaces.
    pub namespaces: bool,
    /// The kernel's Landlock ABI version, if it has Landlock.
    pub landlock_abi: Option<i32>,
    pub seccomp: bool,
    pub python: String,
}

struct Pool {
    idle: Vec<Worker>,
    live: usize,
}

struct Inner {
    plan: Arc<Plan>,
    env: PythonEnv,
    config: SandboxConfig,
    pool: Mutex<Pool>,
    freed: Condvar,
}

/// Runs programs; cheap to share (`Send + Sync`), many threads may call [`Sandbox::run`] at once.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("isolation", &self.isolation()).finish()
    }
}

impl Sandbox {
    /// Prepares the venv (building it on first use: a minute at most, needs PyPI) and the
    /// isolation plan. Starts no worker yet.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        if !cfg!(target_os = "linux") {
            return Err(SandboxError::Unsupported("the sandbox needs Linux".into()));
        }
        let env = venv::ensure(&config.home, &config.python)?;
        let plan = Plan::new(
            &env,
            config.scratch_bytes,
            &Limits { file_bytes: CAPS.file_bytes.min(config.scratch_bytes), ..CAPS },
        )?;
        if !plan.privileged() && !user_namespaces_allowed() {
            return Err(SandboxError::Unsupported(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone, \
                 user.max_user_namespaces or AppArmor's restriction); enable them or run as root"
                    .into(),
            ));
        }
        Ok(Sandbox {
            inner: Arc::new(Inner {
                plan: Arc::new(plan),
                env,
                config: SandboxConfig { workers: config.workers.max(1), ..config },
                pool: Mutex::new(Pool { idle: Vec::new(), live: 0 }),
                freed: Condvar::new(),
            }),
        })
    }

    /// A process-wide sandbox with [`SandboxConfig::default`], made on first call.
    pub fn global() -> Result<&'static Sandbox, SandboxError> {
        static GLOBAL: OnceLock<Result<Sandbox, String>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Sandbox::new(SandboxConfig::default()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| SandboxError::Setup(e.clone()))
    }

    /// Which layers of isolation this sandbox applies.
    pub fn isolation(&self) -> Isolation {
        Isolation {
            root: self.inner.plan.privileged(),
            namespaces: true,
            landlock_abi: self.inner.plan.landlock(),
            seccomp: true,
            python: format!("{} ({})", self.inner.env.version, self.inner.env.packages.join(", ")),
        }
    }

    /// The venv the workers run.
    pub fn python_env(&self) -> &PythonEnv {
        &self.inner.env
    }

    /// Starts workers (in parallel) until `n` of them are idle, capped at
    /// [`SandboxConfig::workers`]. Useful before timing anything.
    pub fn warm(&self, n: usize) -> Result<(), SandboxError> {
        let want = n.min(self.inner.config.workers);
        let start = {
            let mut pool = self.inner.pool.lock().expect("pool lock");
            let missing = want.saturating_sub(pool.idle.len());
            let room = self.inner.config.workers - pool.live;
            let k = missing.min(room);
            pool.live += k;
            k
        };
        let spawned: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..start).map(|_| s.spawn(|| Worker::spawn(&self.inner.plan))).collect();
            handles.into_iter().map(|h| h.join().expect("spawn thread")).collect()
        });
        let mut first_err = None;
        let mut pool = self.inner.pool.lock().expect("pool lock");
        for r in spawned {
            match r {
                Ok(w) => pool.idle.push(w),
                Err(e) => {
                    pool.live -= 1;
                    first_err.get_or_insert(e);
                }
            }
        }
        self.inner.freed.notify_all();
        first_err.map_or(Ok(()), Err)
    }

    fn check(&self, limits: &Limits) -> Result<(), SandboxError> {
        limits.validate()?;
        if limits.file_bytes > self.inner.config.scratch_bytes {
            return Err(SandboxError::InvalidLimits(
                "file_bytes must not exceed SandboxConfig::scratch_bytes".into(),
            ));
        }
        Ok(())
    }

    fn take(&self) -> Result<Worker, SandboxError> {
        let mut pool = self.inner.pool.lock().expect("pool lock");
        loop {
            if let Some(mut w) = pool.idle.pop() {
                // A worker that died while idle is replaced, not handed out.
                if w.has_exited() {
                    pool.live -= 1;
                    drop(w);
                    continue;
                }
                return Ok(w);
            }
            if pool.live < self.inner.config.workers {
                pool.live += 1;
                drop(pool);
                return Worker::spawn(&self.inner.plan).inspect_err(|_| self.lost());
            }
            pool = self.inner.freed.wait(pool).expect("pool lock");
        }
    }

    fn put(&self, w: Worker) {
        self.inner.pool.lock().expect("pool lock").idle.push(w);
        self.inner.freed.notify_one();
    }

    fn lost(&self) {
        self.inner.pool.lock().expect("pool lock").live -= 1;
        self.inner.freed.notify_one();
    }

    /// Runs one program in a fresh child of a warm worker and reports how it ended. Blocks while
    /// all workers are busy. `Err` means the sandbox itself failed, never the program.
    pub fn run(&self, code: &str, limits: &Limits) -> Result<Outcome, SandboxError> {
        self.check(limits)?;
        let mut w = self.take()?;
        let started = std::time::Instant::now();
        match w.run(code, limits) {
            Ok(reply) => {
                if reply.retire {
                    drop(w);
                    self.lost();
                } else {
                    self.put(w);
                }
                Ok(reply.outcome)
            }
            Err(SandboxError::Timeout) => {
                // The worker itself stopped answering: it is killed, and the program with it.
                drop(w);
                self.lost();
                Ok(Outcome {
                    status: Status::Timeout,
                    stdout: String::new(),
                    stderr: "sandbox: stopped: the worker did not answer in time\n".into(),
                    seconds: started.elapsed().as_secs_f64(),
                })
            }
            Err(e) => {
                drop(w);
                self.lost();
                Err(e)
            }
        }
    }

    /// Opens a notebook-like session: cells share globals and a working directory, under the
    /// same restrictions as [`Sandbox::run`]. `limits.timeout` applies to each cell; memory
    /// to the whole session; CPU seconds to the whole session, [`SESSION_CPU_CELLS`] cells'
    /// worth. The session holds one worker until it is dropped.
    pub fn session(&self, limits: &Limits) -> Result<Session, SandboxError> {
        self.check(limits)?;
        let mut w = self.take()?;
        match w.open_session(&limits.for_session()) {
            Ok(false) => {}
            Ok(true) => {
                drop(w);
                self.lost();
                return Err(SandboxError::Worker("the worker could not clean its scratch".into()));
            }
            Err(e) => {
                drop(w);
                self.lost();
                return Err(e);
            }
        }
        Ok(Session { sandbox: self.clone(), worker: Some(w), limits: limits.clone() })
    }
}

/// State carried across cells, like a notebook kernel. Torn down when a cell times out, crashes
/// or is denied, and when dropped (the worker then goes back to the pool, clean).
pub struct Session {
    sandbox: Sandbox,
    worker: Option<Worker>,
    limits: Limits,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("alive", &self.is_alive()).finish()
    }
}

impl Session {
    /// Runs one cell in the session's globals. After a cell that ended the session (see
    /// [`Session::is_alive`]) every further call returns [`SandboxError::SessionEnded`].
    pub fn run_cell(&mut self, code: &str) -> Result<Outcome, SandboxError> {
        let w = self.worker.as_mut().ok_or(SandboxError::SessionEnded)?;
        let started = std::time::Instant::now();
        match w.cell(code, self.limits.timeout) {
            Ok(reply) => {
                if reply.retire {
                    self.discard();
                } else if !reply.alive {
                    self.end();
                }
                Ok(reply.outcome)
            }
            Err(SandboxError::Timeout) => {
                self.discard();
                Ok(Outcome {
                    status: Status::Timeout,
                    stdout: String::new(),
                    stderr: "sandbox: stopped: the worker did not answer in time\n".into(),
                    seconds: started.elapsed().as_secs_f64(),
                })
            }
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Whether cells can still run.
    pub fn is_alive(&self) -> bool {
        self.worker.is_some()
    }

    /// Ends the session now (dropping it does the same).
    pub fn close(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(mut w) = self.worker.take() {
            match w.close_session() {
                Ok(false) => self.sandbox.put(w),
                Ok(true) | Err(_) => {
                    drop(w);
                    self.sandbox.lost();
                }
            }
        }
    }

    fn discard(&mut self) {
        if let Some(w) = self.worker.take() {
            drop(w);
            self.sandbox.lost();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.end();
    }
}

/// What `hypatia exec [--timeout SECS] FILE.py` does: runs the file with default limits (and
/// the given timeout) in [`Sandbox::global`]. Print [`Outcome::to_json`].
pub fn exec_file(path: &Path, timeout: Option<Duration>) -> Result<Outcome, SandboxError> {
    let code = std::fs::read_to_string(path)?;
    let mut limits = Limits::default();
    if let Some(t) = timeout {
        limits.timeout = t;
    }
    Sandbox::global()?.run(&code, &limits)
}

/// Whether this kernel lets an unprivileged process create a user namespace (best guess from
/// the usual switches; the worker's spawn is the final word).
fn user_namespaces_allowed() -> bool {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return false;
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return false;
    }
    read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() != Some("1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn sandbox_is_send_and_sync() {
        assert_send_sync::<Sandbox>();
        fn assert_send<T: Send>() {}
        assert_send::<Session>();
    }

    #[test]
    fn status_names_match_the_exec_contract() {
        let names: Vec<String> = [
            Status::Ok,
            Status::Error,
            Status::Timeout,
            Status::Memory,
            Status::OutputLimit,
            Status::Denied,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                r#""ok""#,
                r#""error""#,
                r#""timeout""#,
                r#""memory""#,
                r#""output_limit""#,
                r#""denied""#
            ]
        );
    }

    #[test]
    fn limits_reject_what_the_workers_cannot_enforce() {
        let d = Limits::default();
        assert!(d.validate().is_ok());
        assert!(d.clone().with_timeout(Duration::ZERO).validate().is_err());
        assert!(Limits { open_files: 5000, ..d.clone() }.validate().is_err());
        assert!(Limits { processes: 1, ..d.clone() }.validate().is_err());
        assert!(Limits { output_bytes: 10, ..d }.validate().is_err());
    }

    #[test]
    fn filters_compile() {
        let f = filter::Filters::build().unwrap();
        assert!(f.program.len() > f.base.len());
        assert_eq!(filter::to_bytes(&f.program).len(), f.program.len() * 8);
    }
}
