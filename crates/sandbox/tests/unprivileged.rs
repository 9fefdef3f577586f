//! The sandbox as an ordinary user: user namespaces instead of root's privileges.
//!
//! When the tests run as root (CI), `works_as_an_ordinary_user` copies this test binary where
//! another user can run it and re-runs `unprivileged_checks` under `setpriv` as that user
//! (`$HYPATIA_TEST_USER`, else `hypatia-test`, else `nobody`), with its own `HYPATIA_HOME`, so
//! the venv is built again, by that user (needs PyPI, ~30 s). It is skipped, saying why, only
//! when no interpreter the user can run exists (`$HYPATIA_TEST_PYTHON`, else /usr/bin/python3
//! with its venv module).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hypatia_sandbox::{Limits, Sandbox, SandboxConfig, Status};

#[test]
fn works_as_an_ordinary_user() {
    if !nix::unistd::geteuid().is_root() {
        // Already unprivileged: the checks apply directly.
        return unprivileged_checks();
    }
    let name = std::env::var("HYPATIA_TEST_USER").ok().or_else(|| {
        ["hypatia-test", "nobody"]
            .into_iter()
            .find(|n| matches!(nix::unistd::User::from_name(n), Ok(Some(_))))
            .map(String::from)
    });
    let Some(name) = name else {
        println!("SKIPPED works_as_an_ordinary_user: no unprivileged user (create one: useradd hypatia-test)");
        return;
    };
    let user = nix::unistd::User::from_name(&name).unwrap().unwrap();
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    let as_user = |prog: &Path| {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg(prog)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        c
    };
    let python = std::env::var("HYPATIA_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let usable = as_user(Path::new(&python))
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !usable {
        println!(
            "SKIPPED works_as_an_ordinary_user: user {name} cannot run {python} with venv+ensurepip \
             (install python3-venv, or set HYPATIA_TEST_PYTHON)"
        );
        return;
    }

    let dir = tempfile::Builder::new().prefix("hypatia-unpriv-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("tests-bin");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home: PathBuf = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    nix::unistd::chown(&home, Some(user.uid), Some(user.gid)).unwrap();

    let out = as_user(&exe)
        .args(["unprivileged_checks", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("HOME", &home)
        .env("HYPATIA_HOME", home.join("hypatia"))
        .env("HYPATIA_PYTHON", &python)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "the checks failed as user {name}:\n{text}");
    assert!(text.contains("1 passed"), "the checks did not run:\n{text}");
}

#[test]
#[ignore = "run by works_as_an_ordinary_user under an unprivileged uid"]
fn unprivileged_checks() {
    assert!(!nix::unistd::geteuid().is_root());
    let sb = Sandbox::new(SandboxConfig { workers: 1, ..SandboxConfig::default() })
        .expect("the sandbox must start for an ordinary user");
    assert!(!sb.isolation().root);
    let run =
        |code: &str| sb.run(code, &Limits::default().with_timeout(Duration::from_secs(3))).unwrap();
    let check = |code: &str, status: Status| {
        let out = run(code);
        assert_eq!(out.status, status, "{code}: {out:?}");
        out
    };
    let me = nix::unistd::getuid().as_raw();
    let out = check("import os\nprint(os.getuid(), os.getpid(), os.getppid())", Status::Ok);
    assert_eq!(out.stdout, format!("{me} 2 1\n"));
    check("import sympy\nprint(sympy.sqrt(8))", Status::Ok);
    check("import socket\nsocket.getaddrinfo('example.com', 80)", Status::Denied);
    check("import os\nos.fork()", Status::Denied);
    check("open('/usr/evil', 'w')", Status::Error);
    check("import os\nos.execv('/bin/sh', ['sh'])", Status::Denied);
    check("import ctypes\nctypes.CDLL(None).shmget(0, 1 << 30, 0o1600)", Status::Denied);
    check("blocks = []\nwhile True:\n    blocks.append(b'x' * (50 << 20))", Status::Memory);
    check("import os\nos._exit(3)", Status::Error);
    check("while True: pass", Status::Timeout);
    check(
        "import resource\nresource.setrlimit(resource.RLIMIT_NPROC, (10**5, 10**5))",
        Status::Denied,
    );
    // The user's own files (this very test binary, its HYPATIA_HOME) stay out of sight.
    let exe = std::env::current_exe().unwrap();
    let out = check(&format!("import os\nprint(os.path.exists('{}'))", exe.display()), Status::Ok);
    assert_eq!(out.stdout, "False\n");
    let out = check(
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('alive')",
        Status::Ok,
    );
    assert_eq!(out.stdout, "alive\n");
    check("print(1+1)", Status::Ok);
    let mut s = sb.session(&Limits::default()).unwrap();
    s.run_cell("a = 2").unwrap();
    assert_eq!(s.run_cell("print(a * 21)").unwrap().stdout, "42\n");
}
