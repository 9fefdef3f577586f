//! Shared by the integration tests: one process-wide sandbox, and checks that the host is
//! untouched after a hostile program.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use hypatia_sandbox::{Limits, Outcome, Sandbox, Status};

/// The sandbox every test shares. The first call may build the venv (pip install sympy, about a
/// minute on a fresh machine); tests wait for it.
pub fn sandbox() -> &'static Sandbox {
    Sandbox::global().expect("the sandbox must start on the CI machine")
}

pub fn run(code: &str) -> Outcome {
    run_with(code, &Limits::default())
}

pub fn run_with(code: &str, limits: &Limits) -> Outcome {
    sandbox().run(code, limits).expect("the sandbox itself must not fail")
}

pub fn short() -> Limits {
    Limits::default().with_timeout(Duration::from_secs(2))
}

#[track_caller]
pub fn expect(out: &Outcome, status: Status) {
    assert_eq!(
        out.status, status,
        "wrong status; stdout: {:?}; stderr: {:?}",
        out.stdout, out.stderr
    );
}

/// A directory on the host, outside anything the sandbox exposes, holding one file with known
/// content. `intact` checks that nothing in it changed.
pub struct Canary {
    pub dir: tempfile::TempDir,
}

pub const CANARY_TEXT: &str = "canary-5f2b9c-do-not-leak";

impl Canary {
    pub fn new() -> Canary {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        std::fs::write(dir.path().join("canary.txt"), CANARY_TEXT).unwrap();
        Canary { dir }
    }

    pub fn file(&self) -> PathBuf {
        self.dir.path().join("canary.txt")
    }

    #[track_caller]
    pub fn assert_intact(&self) {
        let names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["canary.txt"], "something was written next to the canary");
        assert_eq!(std::fs::read_to_string(self.file()).unwrap(), CANARY_TEXT);
    }
}

/// After an attack: the sandbox still runs a program correctly.
#[track_caller]
pub fn assert_sandbox_healthy() {
    let out = run("print(6 * 7)");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "42\n");
}
