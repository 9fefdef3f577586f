//! Sessions: notebook-like state across cells, same limits, torn down on timeout and drop.

mod common;

use std::time::Duration;

use common::*;
use hypatia_sandbox::{Limits, SandboxError, Status};

#[test]
fn state_persists_across_cells() {
    let mut s = sandbox().session(&Limits::default()).unwrap();
    expect(
        &s.run_cell("from sympy import *\nx = symbols('x')\nsols = solve(x**2 - 9, x)").unwrap(),
        Status::Ok,
    );
    let out = s.run_cell("print(sols, len(sols))").unwrap();
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "[-3, 3] 2\n");
    // Each cell's output is its own.
    let out = s.run_cell("print('third')").unwrap();
    assert_eq!(out.stdout, "third\n");
    // Files persist too, in the session's own directory.
    expect(&s.run_cell("open('notes.txt', 'w').write('kept')").unwrap(), Status::Ok);
    assert_eq!(s.run_cell("print(open('notes.txt').read())").unwrap().stdout, "kept\n");
}

#[test]
fn an_exception_keeps_the_session() {
    let mut s = sandbox().session(&Limits::default()).unwrap();
    s.run_cell("a = 5").unwrap();
    let out = s.run_cell("1 / 0").unwrap();
    expect(&out, Status::Error);
    assert!(out.stderr.contains("ZeroDivisionError"));
    assert!(s.is_alive());
    assert_eq!(s.run_cell("print(a)").unwrap().stdout, "5\n");
}

#[test]
fn a_timeout_tears_the_session_down() {
    let limits = Limits::default().with_timeout(Duration::from_secs(1));
    let mut s = sandbox().session(&limits).unwrap();
    s.run_cell("a = 1").unwrap();
    let out = s.run_cell("while True:\n    pass").unwrap();
    expect(&out, Status::Timeout);
    assert!(!s.is_alive());
    assert!(matches!(s.run_cell("print(a)"), Err(SandboxError::SessionEnded)));
    drop(s);
    assert_sandbox_healthy();
}

#[test]
fn sessions_are_restricted_like_programs() {
    let mut s = sandbox().session(&Limits::default()).unwrap();
    expect(&s.run_cell("import socket\nsocket.socket()").unwrap(), Status::Denied);
    assert!(!s.is_alive());
    let mut s = sandbox().session(&Limits::default()).unwrap();
    // Errors the program could raise itself are errors, and the session goes on.
    let out = s.run_cell("open('/usr/x', 'w')").unwrap();
    expect(&out, Status::Error);
    assert!(out.stderr.contains("Read-only file system"), "{}", out.stderr);
    let out = s.run_cell("x = bytearray(4 * 1024**3)").unwrap();
    expect(&out, Status::Error);
    assert!(out.stderr.contains("MemoryError"), "{}", out.stderr);
    assert!(s.is_alive());
    let out = s.run_cell("while True:\n    print('y' * 1000)").unwrap();
    expect(&out, Status::OutputLimit);
    assert!(!s.is_alive());
}

#[test]
fn sessions_do_not_see_each_other() {
    let mut a = sandbox().session(&Limits::default()).unwrap();
    a.run_cell("secret = 41\nopen('mine.txt', 'w').write('a')").unwrap();
    drop(a);
    let mut b = sandbox().session(&Limits::default()).unwrap();
    let out = b.run_cell("import os\nprint('secret' in globals(), os.listdir('.'))").unwrap();
    assert_eq!(out.stdout, "False []\n");
    // And a plain run after a session sees nothing of it either.
    drop(b);
    assert_eq!(run("print('secret' in globals())").stdout, "False\n");
}
