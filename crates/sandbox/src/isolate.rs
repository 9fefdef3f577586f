//! Starting a worker inside its own namespaces, on a minimal read-only root, with Landlock,
//! the base seccomp filter and rlimits applied before Python's `execve`.
//!
//! This is hand-written on top of `libc`/`nix` rather than delegated to bubblewrap so that the
//! sandbox has no system package to install and works the same as root (CI) and as a user.
//! Everything the forked child needs is computed here first ([`Plan::new`]); the `pre_exec` hook
//! then mostly issues raw system calls. It does allocate a little (Landlock's crate, error
//! messages): glibc's `fork` resets malloc's locks in the child, which makes that safe in
//! practice even when the host is multi-threaded.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, ABI,
};

use crate::filter::Filters;
use crate::venv::PythonEnv;
use crate::SandboxError;

/// Where the worker's private tmpfs is mounted; programs run in a fresh directory below it.
pub(crate) const SCRATCH: &str = "/tmp";

/// Where the venv is bound inside the sandbox.
const VENV: &str = "/venv";

/// Host directories the interpreter may need, bound read-only at the same path when present.
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// Single host files worth exposing: the loader cache (speed) and harmless devices.
const SYSTEM_FILES: &[&str] =
    &["/etc/ld.so.cache", "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];
/// Mount points tried for building the new root in the worker's private mount namespace.
const ROOT_CANDIDATES: &[&str] = &["/mnt", "/media", "/srv", "/opt", "/boot", "/run", "/var"];

#[derive(Debug)]
enum Node {
    /// Bind `src` read-only (a directory) or as is (a file, e.g. `/dev/null`).
    Bind {
        src: CString,
        dst: CString,
        dir: bool,
        keep: libc::c_ulong,
    },
    Symlink {
        target: CString,
        dst: CString,
    },
}

/// What [`Plan::command`]'s `pre_exec` hook does, computed ahead of the fork.
#[derive(Debug)]
pub(crate) struct Plan {
    python: PathBuf,
    privileged: bool,
    new_root: CString,
    dirs: Vec<CString>,
    nodes: Vec<Node>,
    scratch: CString,
    scratch_opts: CString,
    root_opts: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    run_as: (libc::uid_t, libc::gid_t),
    rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    filters: Filters,
    landlock_abi: Option<i32>,
}

fn cstr(p: impl AsRef<OsStr>) -> CString {
    CString::new(p.as_ref().as_bytes()).expect("paths from the OS have no NUL")
}

/// The Landlock ABI the running kernel offers, if any (raw probe: the crate does not expose it).
pub(crate) fn landlock_abi() -> Option<i32> {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a NULL attr only returns a number.
    let v = unsafe {
        libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32)
    };
    (v > 0).then_some(v as i32)
}

/// Mount flags of `path` that an unprivileged bind remount must keep ("locked" flags).
fn locked_flags(path: &Path) -> libc::c_ulong {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return 0;
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = 0;
    for (have, ms) in [
        (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
        (FsFlags::ST_NOATIME, libc::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, libc::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f.contains(have) {
            out |= ms;
        }
    }
    out
}

impl Plan {
    pub fn new(
        env: &PythonEnv,
        tmp_bytes: u64,
        caps: &crate::Limits,
    ) -> Result<Plan, SandboxError> {
        let privileged = nix::unistd::geteuid().is_root();
        let filters = Filters::build()?;

        // Directories to bind: the system ones, the interpreter's installation and the venv.
        // Canonical paths, and none nested in another (a read-only parent can't take a mount
        // point).
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
        for d in SYSTEM_DIRS {
            let p = Path::new(d);
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.file_type().is_symlink() => {
                    links.push((p.to_path_buf(), std::fs::read_link(p)?));
                }
                Ok(m) if m.is_dir() => dirs.push(p.to_path_buf()),
                _ => {}
            }
        }
        for p in [&env.base_prefix, &env.executable_dir] {
            let p = p.canonicalize()?;
            if p.starts_with(SCRATCH) {
                return Err(SandboxError::Unsupported(format!(
                    "the Python installation {} is under {SCRATCH}, which the sandbox replaces",
                    p.display()
                )));
            }
            dirs.push(p);
        }
        dirs.sort();
        dirs.dedup();
        let mut kept: Vec<PathBuf> = Vec::new();
        for d in dirs {
            if !kept.iter().any(|k| d.starts_with(k)) {
                kept.push(d);
            }
        }

        let new_root = ROOT_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|r| {
                r.is_dir()
                    && !r.is_symlink()
                    && !kept.iter().chain([&env.venv]).any(|k| k.starts_with(r) || r.starts_with(k))
            })
            .ok_or_else(|| {
                SandboxError::Unsupported("no directory to build the sandbox root on".into())
            })?
            .to_path_buf();
        let under = |p: &Path| new_root.join(p.strip_prefix("/").unwrap_or(p));

        let mut mkdirs: Vec<PathBuf> = Vec::new();
        let mut want_dir = |p: &Path| {
            for a in p.ancestors() {
                if a != Path::new("/") && !mkdirs.iter().any(|m| m == a) {
                    mkdirs.push(a.to_path_buf());
                }
            }
        };
        let mut nodes = Vec::new();
        for d in &kept {
            want_dir(d);
            nodes.push(Node::Bind {
                src: cstr(d),
                dst: cstr(under(d)),
                dir: true,
                keep: locked_flags(d),
            });
        }
        // The venv appears at a fixed path: its host path may be anywhere, /tmp included
        // (tests), and a venv only needs its own bin/python to find its site-packages.
        want_dir(Path::new(VENV));
        nodes.push(Node::Bind {
            src: cstr(env.venv.canonicalize()?),
            dst: cstr(under(Path::new(VENV))),
            dir: true,
            keep: locked_flags(&env.venv),
        });
        for f in SYSTEM_FILES {
            let p = Path::new(f);
            if p.exists() && !p.is_dir() {
                want_dir(p.parent().unwrap_or(Path::new("/")));
                nodes.push(Node::Bind { src: cstr(p), dst: cstr(under(p)), dir: false, keep: 0 });
            }
        }
        for (link, target) in links {
            nodes.push(Node::Symlink { target: cstr(target), dst: cstr(under(&link)) });
        }
        want_dir(Path::new(SCRATCH));
        mkdirs.sort_by_key(|p| p.components().count());
        let dirs = mkdirs.iter().map(|p| cstr(under(p))).collect();

        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        // As root the worker drops to an unprivileged id; `nobody` unless configured.
        let run_as = (65534, 65534);
        let owner =
            if privileged { format!(",uid={},gid={}", run_as.0, run_as.1) } else { String::new() };
        let inodes = (tmp_bytes / 4096).max(1024);
        Ok(Plan {
            python: Path::new(VENV).join("bin").join("python"),
            privileged,
            scratch: cstr(under(Path::new(SCRATCH))),
            scratch_opts: cstr(format!("size={tmp_bytes},nr_inodes={inodes},mode=0700{owner}")),
            root_opts: cstr("size=1m,nr_inodes=4096,mode=0755"),
            new_root: cstr(&new_root),
            dirs,
            nodes,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            run_as,
            rlimits: vec![
                (libc::RLIMIT_NOFILE, caps.open_files),
                (libc::RLIMIT_NPROC, caps.processes),
                (libc::RLIMIT_FSIZE, caps.file_bytes),
                (libc::RLIMIT_CORE, 0),
            ],
            filters,
            landlock_abi: landlock_abi(),
        })
    }

    pub fn privileged(&self) -> bool {
        self.privileged
    }

    pub fn landlock(&self) -> Option<i32> {
        self.landlock_abi
    }

    pub fn program_filter(&self) -> &[seccompiler::sock_filter] {
        &self.filters.program
    }

    /// The worker's command: the venv's interpreter, isolated (`-I`), with an empty environment
    /// and the isolation applied between `fork` and `execve`.
    pub fn command(self: &std::sync::Arc<Self>, script: &str, arg: &str) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-I")
            .arg("-B")
            .arg("-c")
            .arg(script)
            .arg(arg)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("HOME", SCRATCH)
            .env("TMPDIR", SCRATCH)
            .current_dir("/");
        let plan = self.clone();
        // SAFETY: the hook runs in the forked child before execve; see the module doc.
        unsafe {
            cmd.pre_exec(move || plan.enter());
        }
        cmd
    }

    /// Runs in the forked child. Returns only in the process that goes on to exec Python.
    fn enter(&self) -> io::Result<()> {
        // Own session and process group: the host kills the whole group on a lost worker.
        check(unsafe { libc::setsid() }, "setsid")?;
        let mut ns = libc::CLONE_NEWNS
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS;
        if !self.privileged {
            ns |= libc::CLONE_NEWUSER;
        }
        check(unsafe { libc::unshare(ns) }, "unshare (namespaces)")?;
        if !self.privileged {
            write_file(c"/proc/self/uid_map", &self.uid_map)?;
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/gid_map", &self.gid_map)?;
        }
        // The worker must be PID 1 of the new PID namespace: then no program can see or signal
        // anything outside it, kill(-1) cleans up after each program, and when the worker dies
        // the kernel kills everything left in the namespace. This process stays outside as a
        // reaper that mirrors the worker's exit.
        let pid = unsafe { libc::fork() };
        check(pid, "fork into the PID namespace")?;
        if pid > 0 {
            unsafe {
                libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
                let mut status = 0;
                while libc::waitpid(pid, &mut status, 0) < 0 {}
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                libc::_exit(code);
            }
        }
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) }, "pdeathsig")?;
        self.build_root()?;
        if self.privileged {
            let (u, g) = self.run_as;
            check(unsafe { libc::setgroups(0, std::ptr::null()) }, "setgroups")?;
            check(unsafe { libc::setresgid(g, g, g) }, "setresgid")?;
            check(unsafe { libc::setresuid(u, u, u) }, "setresuid")?;
            // Root's sandbox gets a user namespace too, once unprivileged: RLIMIT_NPROC is then
            // counted per namespace instead of against every `nobody` process on the host.
            check(unsafe { libc::unshare(libc::CLONE_NEWUSER) }, "unshare (user)")?;
        }
        for &(res, v) in &self.rlimits {
            let lim = libc::rlimit { rlim_cur: v, rlim_max: v };
            check(unsafe { libc::setrlimit(res, &lim) }, "setrlimit")?;
        }
        self.restrict_landlock()?;
        for f in [&self.filters.base, &self.filters.no_clone3] {
            seccompiler::apply_filter(f).map_err(|e| fail(&format!("seccomp: {e}")))?;
        }
        Ok(())
    }

    /// A tmpfs root holding only the interpreter, the venv, system libraries, a few devices and
    /// a private scratch tmpfs; everything read-only but the scratch. No /proc, no /home, no
    /// /etc beyond the loader cache, no project files.
    fn build_root(&self) -> io::Result<()> {
        let none = std::ptr::null::<libc::c_char>();
        let mount = |src: *const libc::c_char,
                     dst: &CString,
                     fs: *const libc::c_char,
                     flags: libc::c_ulong,
                     data: *const libc::c_char,
                     what: &str| {
            check(
                unsafe { libc::mount(src, dst.as_ptr(), fs, flags, data as *const libc::c_void) },
                what,
            )
        };
        mount(none, &c"/".into(), none, libc::MS_REC | libc::MS_PRIVATE, none, "make / private")?;
        let tmpfs = c"tmpfs".as_ptr();
        let base = libc::MS_NOSUID | libc::MS_NODEV;
        mount(tmpfs, &self.new_root, tmpfs, base, self.root_opts.as_ptr(), "mount root tmpfs")?;
        for d in &self.dirs {
            let r = unsafe { libc::mkdir(d.as_ptr(), 0o755) };
            if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                return Err(fail(&format!("mkdir {d:?}")));
            }
        }
        for n in &self.nodes {
            match n {
                Node::Bind { src, dst, dir, keep } => {
                    if !dir {
                        let fd = unsafe {
                            libc::open(
                                dst.as_ptr(),
                                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                                0o644,
                            )
                        };
                        check(fd, "create mount point")?;
                        unsafe { libc::close(fd) };
                    }
                    mount(src.as_ptr(), dst, none, libc::MS_BIND | libc::MS_REC, none, "bind")?;
                    if *dir {
                        let ro = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | base | keep;
                        mount(none, dst, none, ro, none, "remount read-only")?;
                    }
                }
                Node::Symlink { target, dst } => {
                    check(unsafe { libc::symlink(target.as_ptr(), dst.as_ptr()) }, "symlink")?;
                }
            }
        }
        mount(
            tmpfs,
            &self.scratch,
            tmpfs,
            base,
            self.scratch_opts.as_ptr(),
            "mount scratch tmpfs",
        )?;
        check(unsafe { libc::chdir(self.new_root.as_ptr()) }, "chdir new root")?;
        let dot = c".".as_ptr();
        check(unsafe { libc::syscall(libc::SYS_pivot_root, dot, dot) } as i32, "pivot_root")?;
        // The old root is stacked under the new one; detach it so nothing of the host remains.
        check(unsafe { libc::umount2(dot, libc::MNT_DETACH) }, "detach old root")?;
        check(unsafe { libc::chdir(c"/".as_ptr()) }, "chdir /")?;
        let ro = libc::MS_REMOUNT | libc::MS_RDONLY | base;
        mount(none, &c"/".into(), none, ro, none, "remount root read-only")?;
        Ok(())
    }

    /// Landlock as a second wall behind the mount namespace: read-only everywhere, writable
    /// scratch, no TCP, no signals or abstract sockets outside the sandbox. Best effort on
    /// older kernels (the crate drops what the kernel lacks).
    fn restrict_landlock(&self) -> io::Result<()> {
        if self.landlock_abi.is_none() {
            return Ok(());
        }
        let abi = ABI::V6;
        let pe = |e: landlock::PathFdError| fail(&format!("landlock: {e}"));
        let (root, dev, scratch) = (
            PathFd::new("/").map_err(pe)?,
            PathFd::new("/dev").map_err(pe)?,
            PathFd::new(SCRATCH).map_err(pe)?,
        );
        let read = AccessFs::from_read(abi);
        let apply = || -> Result<_, landlock::RulesetError> {
            Ruleset::default()
                .set_compatibility(CompatLevel::BestEffort)
                .handle_access(AccessFs::from_all(abi))?
                .handle_access(AccessNet::from_all(abi))?
                .scope(Scope::from_all(abi))?
                .create()?
                .add_rule(PathBeneath::new(root, read))?
                .add_rule(PathBeneath::new(dev, read | AccessFs::WriteFile))?
                .add_rule(PathBeneath::new(scratch, AccessFs::from_all(abi)))?
                .restrict_self()
        };
        apply().map_err(|e| fail(&format!("landlock: {e}")))?;
        Ok(())
    }
}

fn fail(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    // The host reads the worker's stderr when a spawn fails; this line says which step it was.
    let msg = format!("hypatia-sandbox: {what}: {e}\n");
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    e
}

fn check(r: i32, what: &str) -> io::Result<()> {
    if r < 0 {
        Err(fail(what))
    } else {
        Ok(())
    }
}

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    check(fd, "open id map")?;
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    unsafe { libc::close(fd) };
    if n != data.len() as isize {
        return Err(fail("write id map"));
    }
    Ok(())
}
