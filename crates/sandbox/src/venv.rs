//! The Python environment Hypatia manages: `$HYPATIA_HOME/python/venv` with pinned sympy.
//!
//! Built on first use. Two processes may arrive at once (two `hypatia` commands, parallel
//! tests), so building happens under an exclusive `flock`, in a temporary directory that is
//! renamed into place only after a marker file describing it has been written: a directory at
//! the final path with a marker is complete by construction, and one without is never used.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::SandboxError;

/// The packages installed into the venv, pinned; changing them rebuilds the venv.
pub const PINNED: &[&str] = &["sympy==1.14.0", "mpmath==1.3.0"];

const MARKER: &str = "hypatia-venv.json";

/// A ready venv and where its interpreter really lives (the sandbox must expose both).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PythonEnv {
    /// `venv/bin/python`: the interpreter workers run.
    pub python: PathBuf,
    /// The venv directory.
    pub venv: PathBuf,
    /// `sys.base_prefix`: the installation the venv was made from (stdlib, libpython).
    pub base_prefix: PathBuf,
    /// Directory of the real interpreter binary the venv's `python` link points to.
    pub executable_dir: PathBuf,
    /// Python's version, e.g. `3.11.7`.
    pub version: String,
    /// What was installed (equals [`PINNED`] for a usable venv).
    pub packages: Vec<String>,
}

/// `$HYPATIA_HOME`, or `~/.cache/hypatia`.
pub fn default_home() -> PathBuf {
    if let Some(h) = std::env::var_os("HYPATIA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
    home.join(".cache").join("hypatia")
}

fn load(venv: &Path) -> Option<PythonEnv> {
    let text = fs::read_to_string(venv.join(MARKER)).ok()?;
    let env: PythonEnv = serde_json::from_str(&text).ok()?;
    let current = env.packages.iter().map(String::as_str).eq(PINNED.iter().copied());
    (current && env.python.exists() && env.venv == venv).then_some(env)
}

/// Returns the managed venv under `home`, building it with `interpreter` if needed.
pub fn ensure(home: &Path, interpreter: &OsStr) -> Result<PythonEnv, SandboxError> {
    let dir = home.join("python");
    let venv = dir.join("venv");
    if let Some(env) = load(&venv) {
        return Ok(env);
    }
    fs::create_dir_all(&dir)?;
    let lock = fs::File::create(dir.join("venv.lock"))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| SandboxError::Io(e.into()))?;
    // Whoever held the lock before us may have finished the job.
    if let Some(env) = load(&venv) {
        return Ok(env);
    }
    // Leftovers of an interrupted build or an outdated venv: never used, removed here.
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("venv.tmp-") || name.starts_with("venv.old-") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let tmp = dir.join(format!("venv.tmp-{}", std::process::id()));
    build(&tmp, interpreter)?;
    let mut env = describe(&tmp)?;
    env.python = venv.join("bin").join("python");
    env.venv = venv.clone();
    fs::write(tmp.join(MARKER), serde_json::to_vec_pretty(&env).expect("serializable"))?;
    if venv.exists() {
        let old = dir.join(format!("venv.old-{}", std::process::id()));
        fs::rename(&venv, &old)?;
        let _ = fs::remove_dir_all(&old);
    }
    fs::rename(&tmp, &venv)?;
    load(&venv).ok_or_else(|| SandboxError::Python("the new venv failed its own check".into()))
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, SandboxError> {
    // World-readable files: as root the sandbox runs the venv as `nobody`.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        let mut msg = String::from_utf8_lossy(&out.stderr).into_owned();
        if msg.trim().is_empty() {
            msg = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        let tail: String =
            msg.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(SandboxError::Python(format!("{what} failed ({}): {tail}", out.status)));
    }
    Ok(out.stdout)
}

fn build(tmp: &Path, interpreter: &OsStr) -> Result<(), SandboxError> {
    let probe = Command::new(interpreter).args(["-c", "import venv"]).stdin(Stdio::null()).output();
    match probe {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SandboxError::PythonMissing(format!(
                "`{}` was not found: install CPython 3.9 or newer (with its venv module), \
                 or point HYPATIA_PYTHON at an interpreter",
                interpreter.to_string_lossy()
            )));
        }
        Err(e) => return Err(e.into()),
        Ok(o) if !o.status.success() => {
            return Err(SandboxError::PythonMissing(format!(
                "`{}` has no venv module (on Debian: apt-get install python3-venv)",
                interpreter.to_string_lossy()
            )));
        }
        Ok(_) => {}
    }
    let _ = fs::remove_dir_all(tmp);
    run(
        Command::new(interpreter).arg("-m").arg("venv").arg(tmp),
        "creating the venv (python3 -m venv)",
    )?;
    run(
        Command::new(tmp.join("bin").join("python"))
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"])
            .args(PINNED),
        "installing sympy into the venv (pip install)",
    )?;
    Ok(())
}

fn describe(tmp: &Path) -> Result<PythonEnv, SandboxError> {
    let script = "import json, os, sys, sympy, mpmath\n\
        print(json.dumps({'base_prefix': sys.base_prefix, \
        'exe': os.path.realpath(sys.executable), 'version': sys.version.split()[0], \
        'packages': ['sympy==' + sympy.__version__, 'mpmath==' + mpmath.__version__]}))";
    let out = run(
        Command::new(tmp.join("bin").join("python")).args(["-I", "-c", script]),
        "checking the venv",
    )?;
    #[derive(Deserialize)]
    struct Probe {
        base_prefix: PathBuf,
        exe: PathBuf,
        version: String,
        packages: Vec<String>,
    }
    let p: Probe = serde_json::from_slice(&out)
        .map_err(|e| SandboxError::Python(format!("unexpected venv probe output: {e}")))?;
    Ok(PythonEnv {
        python: tmp.join("bin").join("python"),
        venv: tmp.to_path_buf(),
        base_prefix: p.base_prefix,
        executable_dir: p.exe.parent().unwrap_or(Path::new("/")).to_path_buf(),
        version: p.version,
        packages: p.packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_env(venv: &Path, packages: &[&str]) -> PythonEnv {
        PythonEnv {
            python: venv.join("bin").join("python"),
            venv: venv.to_path_buf(),
            base_prefix: "/usr".into(),
            executable_dir: "/usr/bin".into(),
            version: "3.11.0".into(),
            packages: packages.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_venv_without_its_marker_is_never_used() {
        let home = std::env::temp_dir().join(format!("hypatia-venv-test-{}", std::process::id()));
        let venv = home.join("venv");
        fs::create_dir_all(venv.join("bin")).unwrap();
        fs::write(venv.join("bin").join("python"), "").unwrap();
        assert!(load(&venv).is_none(), "half-built: no marker");

        let stale = fake_env(&venv, &["sympy==0.0.1"]);
        fs::write(venv.join(MARKER), serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(load(&venv).is_none(), "outdated pins");

        let good = fake_env(&venv, PINNED);
        fs::write(venv.join(MARKER), serde_json::to_vec(&good).unwrap()).unwrap();
        assert_eq!(load(&venv).unwrap().packages, PINNED);

        // A marker copied along with a moved directory does not describe the new place.
        let moved = home.join("moved");
        fs::rename(&venv, &moved).unwrap();
        assert!(load(&moved).is_none());
        fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn a_missing_interpreter_is_a_clear_error() {
        let home = std::env::temp_dir().join(format!("hypatia-nopy-test-{}", std::process::id()));
        let err = ensure(&home, OsStr::new("/nonexistent/python3")).unwrap_err();
        assert!(matches!(err, SandboxError::PythonMissing(_)), "{err}");
        assert!(err.to_string().contains("HYPATIA_PYTHON"), "{err}");
        let _ = fs::remove_dir_all(&home);
    }
}
