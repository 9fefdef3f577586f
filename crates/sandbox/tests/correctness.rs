//! Programs that should simply work, and the shape of what comes back.

mod common;

use std::time::Duration;

use common::*;
use hypatia_sandbox::{exec_file, Limits, Status};

#[test]
fn print_one_plus_one() {
    let out = run("print(1+1)");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "2\n");
    assert_eq!(out.stderr, "");
    assert!(out.seconds > 0.0 && out.seconds < 5.0);
}

#[test]
fn sympy_solves_and_simplifies() {
    let out = run("from sympy import *\nx, y = symbols('x y')\n\
         print(solve([x + y - 10, x - y - 2], [x, y]))\n\
         print(solve(x**2 - 5*x + 6, x))\n\
         print(simplify((x**2 - 1)/(x - 1)))\n\
         print(integrate(x**2, (x, 0, 3)))\n\
         print(Rational(1, 3) + Rational(1, 6))\n\
         print(factorint(360))");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "{x: 6, y: 4}\n[2, 3]\nx + 1\n9\n1/2\n{2: 3, 3: 2, 5: 1}\n");
}

#[test]
fn fractions_and_exact_arithmetic() {
    let out = run("from fractions import Fraction\nimport math, itertools\n\
         print(sum(Fraction(1, n) for n in range(1, 11)))\n\
         print(math.comb(52, 5), math.gcd(84, 36))\n\
         print(len(list(itertools.permutations(range(5)))))");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "7381/2520\n2598960 12\n120\n");
}

#[test]
fn big_integers() {
    let out = run("import math\nprint(len(str(2**100000)))\nprint(math.factorial(30))\nprint(pow(3, 10**6, 10**9 + 7))");
    expect(&out, Status::Ok);
    // 3^1000000 mod 1e9+7, computed independently here.
    let m: u64 = 1_000_000_007;
    let (mut r, mut b, mut e) = (1u64, 3u64, 1_000_000u64);
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % m;
        }
        b = b * b % m;
        e >>= 1;
    }
    assert_eq!(out.stdout, format!("30103\n265252859812191058636308480000000\n{r}\n"));
}

#[test]
fn printing_unicode_stderr_and_no_newline() {
    let out =
        run("import sys\nprint('π ≈', 3.14159)\nsys.stderr.write('warn\\n')\nprint('end', end='')");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "π ≈ 3.14159\nend");
    assert_eq!(out.stderr, "warn\n");
}

#[test]
fn exceptions_are_errors_with_a_traceback() {
    let out = run("print('before')\nx = 1 / 0");
    expect(&out, Status::Error);
    assert_eq!(out.stdout, "before\n");
    assert!(out.stderr.contains("ZeroDivisionError: division by zero"), "{}", out.stderr);
    assert!(out.stderr.contains("File \"<program>\", line 2"), "{}", out.stderr);
    // The sandbox's own frames are not shown.
    assert!(!out.stderr.contains("execute"), "{}", out.stderr);
}

#[test]
fn syntax_errors_are_errors() {
    let out = run("print(1 +)");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("SyntaxError"), "{}", out.stderr);
}

#[test]
fn exit_codes() {
    expect(&run("import sys\nprint('x')\nsys.exit(0)"), Status::Ok);
    expect(&run("import sys\nsys.exit(3)"), Status::Error);
    let out = run("raise SystemExit('bad input')");
    expect(&out, Status::Error);
    assert_eq!(out.stderr, "bad input\n");
}

#[test]
fn input_sees_end_of_file() {
    let out = run("input()");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("EOFError"));
}

#[test]
fn no_state_leaks_between_programs() {
    let out = run("import sympy, math\nsympy.LEAK = 1\nmath.pi = 3\nimport builtins\nbuiltins.LEAK = 1\nprint('set')");
    expect(&out, Status::Ok);
    for _ in 0..3 {
        let out = run("import sympy, math, builtins\nprint(hasattr(sympy, 'LEAK'), math.pi, hasattr(builtins, 'LEAK'))");
        expect(&out, Status::Ok);
        assert_eq!(out.stdout, "False 3.141592653589793 False\n");
    }
}

#[test]
fn many_threads_share_one_sandbox() {
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|i| {
                s.spawn(move || {
                    (0..5).map(|j| run(&format!("print({i} * {j})"))).collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, outs) in results.iter().enumerate() {
        for (j, out) in outs.iter().enumerate() {
            expect(out, Status::Ok);
            assert_eq!(out.stdout, format!("{}\n", i * j));
        }
    }
}

#[test]
fn invalid_limits_are_refused_before_running() {
    let bad = Limits { memory_bytes: 1 << 20, ..Limits::default() };
    assert!(sandbox().run("print(1)", &bad).is_err());
}

#[test]
fn smaller_memory_limits_apply() {
    let l = Limits { memory_bytes: 512 << 20, ..Limits::default() };
    // Filling 600 MiB under a 512 MiB limit: the supervisor sees the peak memory.
    let fill = "blocks = [b'x' * (16 * 1024**2) for _ in range(600 // 16)]\nprint(len(blocks))";
    let out = run_with(fill, &l);
    expect(&out, Status::Memory);
    // The same under the default 1 GiB limit fits.
    let out = run(fill);
    expect(&out, Status::Ok);
    let out = run_with("x = bytearray(100 * 1024**2)\nprint(len(x))", &l);
    expect(&out, Status::Ok);
}

#[test]
fn exec_file_prints_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.py");
    std::fs::write(&path, "print(2**10)\n").unwrap();
    let out = exec_file(&path, Some(Duration::from_secs(5))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.to_json()).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["seconds", "status", "stderr", "stdout"]);
    assert_eq!(obj["status"], "ok");
    assert_eq!(obj["stdout"], "1024\n");
    assert!(obj["seconds"].is_f64());

    std::fs::write(&path, "while True: pass\n").unwrap();
    let out = exec_file(&path, Some(Duration::from_millis(500))).unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap()["status"], "timeout");
}

#[test]
fn isolation_report() {
    let iso = sandbox().isolation();
    assert!(iso.namespaces && iso.seccomp);
    assert!(iso.python.contains("sympy==1.14.0"), "{}", iso.python);
    println!("{}", serde_json::to_string(&iso).unwrap());
}
