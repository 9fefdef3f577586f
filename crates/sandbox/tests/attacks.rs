//! The attack suite: hostile programs, each contained with the right status and the host
//! untouched. Statuses follow one rule: they come from what the supervisor observed, never
//! from what the program chose. `denied` when the sandbox stopped it (a killed system call,
//! the file size limit, a failure with the scratch space full), `timeout`/`memory`/
//! `output_limit` for limits it saw reached, `error` for everything else, a read-only or
//! permission error the program did not handle included (its traceback says so).

mod common;

use std::time::Duration;

use common::*;
use hypatia_sandbox::{Limits, Status};

// ---- network ---------------------------------------------------------------------------

#[test]
fn tcp_connect_is_denied() {
    let out =
        run("import socket\ns = socket.socket()\ns.connect(('1.1.1.1', 80))\nprint('connected')");
    expect(&out, Status::Denied);
    assert!(!out.stdout.contains("connected"));
}

#[test]
fn unix_and_udp_sockets_are_denied() {
    for code in [
        "import socket\nsocket.socket(socket.AF_UNIX)",
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))",
        "import socket\nsocket.socketpair()",
    ] {
        expect(&run(code), Status::Denied);
    }
}

#[test]
fn dns_lookup_is_denied() {
    let out = run("import socket\nprint(socket.getaddrinfo('example.com', 443))");
    expect(&out, Status::Denied);
    assert!(out.stdout.is_empty());
}

#[test]
fn http_request_is_denied() {
    let out = run("import urllib.request\nprint(urllib.request.urlopen('http://example.com', timeout=1).read())");
    expect(&out, Status::Denied);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn raw_socket_syscall_through_ctypes_is_denied() {
    // socket(AF_INET, SOCK_STREAM, 0) without Python's socket module.
    let out = run("import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.syscall(41, 2, 1, 0))");
    expect(&out, Status::Denied);
}

// ---- reading what is not the program's -------------------------------------------------

#[test]
fn etc_shadow_is_not_there() {
    let out = run("print(open('/etc/shadow').read())");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("FileNotFoundError"), "{}", out.stderr);
    assert!(!out.stdout.contains("root:"));
}

#[test]
fn home_and_ssh_keys_are_not_there() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let code = format!(
        "import os, glob\nprint(os.path.expanduser('~'))\n\
         print(glob.glob('{home}/.ssh/*') + glob.glob('/home/*/.ssh/*') + glob.glob('{home}/.bash_history'))\n\
         open('{home}/.ssh/id_rsa').read()"
    );
    let out = run(&code);
    expect(&out, Status::Error);
    assert_eq!(out.stdout, "/tmp\n[]\n");
}

#[test]
fn host_files_next_to_the_project_are_not_there() {
    let canary = Canary::new();
    let project = env!("CARGO_MANIFEST_DIR");
    let code = format!(
        "import os\nprint(os.path.exists('{project}'))\nprint(open('{}').read())",
        canary.file().display()
    );
    let out = run(&code);
    expect(&out, Status::Error);
    assert_eq!(out.stdout, "False\n");
    assert!(!out.stdout.contains(CANARY_TEXT));
    canary.assert_intact();
}

#[test]
fn environment_secrets_are_scrubbed() {
    // The test process runs with cargo's and the CI's variables; none may reach a program.
    let out = run("import os\nprint(sorted(os.environ))");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "['HOME', 'LANG', 'PATH', 'TMPDIR']\n");
}

#[test]
fn proc_of_the_parent_is_not_there() {
    let out = run(
        "import os\nppid = os.getppid()\nprint(ppid)\n\
         for p in (f'/proc/{ppid}/environ', f'/proc/{ppid}/mem', '/proc/self/status', '/proc/1/cmdline'):\n    \
         try:\n        open(p, 'rb').read(); print('READ', p)\n    except OSError as e:\n        print(type(e).__name__)",
    );
    expect(&out, Status::Ok);
    assert!(!out.stdout.contains("READ"), "{}", out.stdout);
    // The parent is the worker, PID 1 of the sandbox's own PID namespace.
    assert!(out.stdout.starts_with("1\n"), "{}", out.stdout);
}

#[test]
fn the_filesystem_is_minimal() {
    let out = run("import os\nprint(sorted(os.listdir('/')))\nprint(sorted(os.listdir('/etc')))");
    expect(&out, Status::Ok);
    for absent in ["'home'", "'proc'", "'sys'", "'work'", "'var'", "passwd", "'shadow'"] {
        assert!(!out.stdout.contains(absent), "{absent} visible: {}", out.stdout);
    }
}

// ---- writing outside the scratch directory ---------------------------------------------

#[test]
fn writing_system_and_venv_files_fails() {
    for code in [
        "open('/usr/lib/evil.so', 'w').write('x')",
        "open('/etc/passwd', 'a').write('evil::0:0::/:/bin/sh')",
        "import sys\nopen(sys.prefix + '/evil.pth', 'w').write('import os')",
        "import os, sympy\nopen(os.path.join(os.path.dirname(sympy.__file__), '__init__.py'), 'a').write('#')",
        "import os\nos.mkdir('/evil')",
    ] {
        let out = run(code);
        expect(&out, Status::Error);
        assert!(
            out.stderr.contains("Read-only file system") || out.stderr.contains("Permission denied"),
            "{code}: {}",
            out.stderr
        );
    }
    let out = run("import sys, os\nprint(os.path.exists(sys.prefix + '/evil.pth'))");
    assert_eq!(out.stdout, "False\n");
}

#[test]
fn writing_into_a_host_directory_fails() {
    let canary = Canary::new();
    let dir = canary.dir.path().display();
    let code = format!(
        "import os\nos.makedirs('{dir}', exist_ok=True)\nopen('{dir}/pwned', 'w').write('x')\n\
         open('{dir}/canary.txt', 'w').write('x')"
    );
    expect(&run(&code), Status::Error);
    canary.assert_intact();
}

#[test]
fn files_do_not_survive_the_program() {
    let out = run("import os\nopen('left.txt', 'w').write('x')\nopen('/tmp/also.txt', 'w').write('y')\nprint(os.getcwd())");
    expect(&out, Status::Ok);
    let out = run("import os\nprint(os.listdir('.'), os.listdir('/tmp'))");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "[] ['run']\n");
}

#[test]
fn filling_the_disk_is_stopped() {
    // One big file: RLIMIT_FSIZE (16 MiB).
    let out =
        run("f = open('big', 'wb')\nwhile True:\n    f.write(b'0' * (1 << 20))\n    f.flush()");
    expect(&out, Status::Denied);
    assert!(out.stderr.contains("file size limit"), "{}", out.stderr);
    // Many smaller ones: the scratch tmpfs is capped (64 MiB).
    let out =
        run("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'0' * (8 << 20))\n    i += 1");
    expect(&out, Status::Denied);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
    assert!(out.stderr.contains("scratch space full"), "{}", out.stderr);
    assert_sandbox_healthy();
}

// ---- processes -----------------------------------------------------------------------

#[test]
fn fork_bomb_is_denied() {
    let out = run("import os\nwhile True:\n    os.fork()");
    expect(&out, Status::Denied);
    assert_sandbox_healthy();
}

#[test]
fn os_system_is_denied() {
    let out = run("import os\nos.system('echo pwned')\nprint('after')");
    expect(&out, Status::Denied);
    assert!(!out.stdout.contains("pwned"));
}

#[test]
fn subprocess_is_denied() {
    let out = run("import subprocess\nprint(subprocess.run(['id'], capture_output=True).stdout)");
    expect(&out, Status::Denied);
}

#[test]
fn exec_is_denied() {
    let out = run("import os\nos.execv('/bin/sh', ['sh', '-c', 'echo pwned'])");
    expect(&out, Status::Denied);
    let out = run("import os\nos.posix_spawn('/bin/sh', ['sh'], {})");
    expect(&out, Status::Denied);
}

#[test]
fn thread_bomb_is_bounded() {
    let out = run_with(
        "import threading, time\nn = 0\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n    n += 1",
        &short(),
    );
    expect(&out, Status::Error);
    assert!(out.stderr.contains("can't start new thread"), "{}", out.stderr);
    assert_sandbox_healthy();
}

#[test]
fn killing_the_parent_and_everyone_fails() {
    let out = run(
        "import os, signal\n\
         for pid, sig in ((os.getppid(), signal.SIGKILL), (1, signal.SIGTERM), (1, signal.SIGINT)):\n    os.kill(pid, sig)\n\
         try:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    pass\nprint('alive')",
    );
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "alive\n");
    // The worker (the parent it tried to kill) is still serving.
    assert_sandbox_healthy();
}

#[test]
fn the_host_process_is_out_of_reach() {
    let host = std::process::id();
    let out = run(&format!("import os\nos.kill({host}, 9)"));
    expect(&out, Status::Error);
    assert!(out.stderr.contains("ProcessLookupError"), "{}", out.stderr);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn ptrace_and_friends_through_ctypes_are_denied() {
    for call in [
        "libc.ptrace(16, os.getppid(), 0, 0)",    // PTRACE_ATTACH
        "libc.syscall(165, 0, b'/tmp', 0, 0, 0)", // mount
        "libc.syscall(272, 0x10000000)",          // unshare(CLONE_NEWUSER)
        "libc.syscall(321, 0, 0, 0)",             // bpf
        "libc.syscall(250, 0, 0, 0)",             // keyctl
        "libc.syscall(425, 8, 0)",                // io_uring_setup
        "libc.syscall(246, 0, 0, 0, 0)",          // kexec_load
        "libc.setuid(0)",
        "libc.syscall(0x40000000 | 39)", // getpid through the x32 ABI
    ] {
        let out = run(&format!("import ctypes, os\nlibc = ctypes.CDLL(None)\nprint({call})"));
        expect(&out, Status::Denied);
    }
}

#[test]
fn ctypes_crash_is_an_error() {
    let out = run("import ctypes\nctypes.string_at(0)");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("SIGSEGV"), "{}", out.stderr);
    assert_sandbox_healthy();
}

#[test]
fn raising_its_own_limits_is_denied() {
    for code in [
        "import resource\nresource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))",
        "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))",
        "import resource\nresource.prlimit(0, resource.RLIMIT_NPROC, (10**6, 10**6))",
    ] {
        expect(&run(code), Status::Denied);
    }
    // Reading them is fine, and they are what Limits says.
    let out = run("import resource\nprint(resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_NOFILE))");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "(1073741824, 1073741824) (64, 64)\n");
}

#[test]
fn identity_changes_are_denied() {
    expect(&run("import os\nos.setuid(0)"), Status::Denied);
    expect(&run("import os\nos.setsid()"), Status::Denied);
}

// ---- limits -----------------------------------------------------------------------------

#[test]
fn memory_bomb_is_stopped() {
    // Memory the program fills: its peak resident set reaches the limit, which the
    // supervisor sees in the kernel's accounting.
    let out = run("blocks = []\nwhile True:\n    blocks.append(b'x' * (50 * 1024**2))");
    expect(&out, Status::Memory);
    assert!(out.stderr.contains("memory limit"), "{}", out.stderr);
    // One allocation past the address-space limit fails at once and never fills memory:
    // the program raised MemoryError, an error like any other, and says so.
    let out = run("x = bytearray(4 * 1024**3)");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("MemoryError"), "{}", out.stderr);
    assert_sandbox_healthy();
}

#[test]
fn a_program_cannot_choose_its_status() {
    for code in [
        "import os\nos._exit(3)",
        "import os\nos._exit(2)",
        "import os\nos._exit(70)",
        "raise PermissionError('pretend the sandbox refused')",
        "import errno\nraise OSError(errno.EROFS, 'Read-only file system')",
        "raise MemoryError",
        "import sys\nsys.exit(3)",
    ] {
        let out = run(code);
        expect(&out, Status::Error);
        assert!(!out.stderr.contains("sandbox: stopped"), "{code}: {}", out.stderr);
    }
    // Killing itself is not "most likely out of memory".
    let out = run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("killed by signal 9"), "{}", out.stderr);
    expect(&run("import sys\nsys.exit(0)"), Status::Ok);
}

#[test]
fn infinite_loop_times_out() {
    let out = run_with("while True:\n    pass", &short());
    expect(&out, Status::Timeout);
    assert!(out.seconds >= 1.9 && out.seconds < 5.0, "{}", out.seconds);
}

#[test]
fn ignoring_sigterm_does_not_help() {
    let out = run_with(
        "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass",
        &short(),
    );
    expect(&out, Status::Timeout);
}

#[test]
fn spinning_threads_time_out() {
    let out = run_with(
        "import threading\ndef spin():\n    while True:\n        pass\nts = [threading.Thread(target=spin) for _ in range(4)]\n\
         [t.start() for t in ts]\n[t.join() for t in ts]",
        &short(),
    );
    expect(&out, Status::Timeout);
    assert_sandbox_healthy();
}

#[test]
fn sleeping_past_the_timeout_is_stopped() {
    let out = run_with("import time\nprint('start', flush=True)\ntime.sleep(600)", &short());
    expect(&out, Status::Timeout);
    assert!(out.seconds < 5.0);
    // What was printed before the timeout is kept.
    assert_eq!(out.stdout, "start\n");
}

#[test]
fn closing_its_output_and_spinning_still_times_out() {
    let out = run_with("import os\nos.close(1)\nos.close(2)\nwhile True:\n    pass", &short());
    expect(&out, Status::Timeout);
}

#[test]
fn deep_recursion_is_an_error() {
    let out = run("def f(n):\n    return f(n + 1)\nf(0)");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("RecursionError"));
    // With the guard raised, recursion in C (repr of a deeply nested list) overflows the
    // stack: the child crashes, the worker does not.
    let out = run("import sys\nsys.setrecursionlimit(10**8)\nl = []\nfor _ in range(10**6):\n    l = [l]\nprint(repr(l))");
    expect(&out, Status::Error);
    assert_sandbox_healthy();
}

#[test]
fn huge_output_is_capped() {
    let out = run("while True:\n    print('x' * 1000)");
    expect(&out, Status::OutputLimit);
    assert!(out.stdout.len() <= 64 << 10 && out.stdout.len() > 60 << 10, "{}", out.stdout.len());
    let out = run("import sys\nsys.stderr.write('e' * 10**7)");
    expect(&out, Status::OutputLimit);
    assert!(out.stderr.len() < (64 << 10) + 200);
    let small = Limits { output_bytes: 1024, ..Limits::default() };
    let out = run_with("print('y' * 5000)", &small);
    expect(&out, Status::OutputLimit);
}

#[test]
fn opening_too_many_files_is_an_error() {
    let out = run("fs = [open('/dev/null') for _ in range(1000)]");
    expect(&out, Status::Error);
    assert!(out.stderr.contains("Too many open files"), "{}", out.stderr);
}

#[test]
fn timeouts_in_a_row_leave_the_pool_healthy() {
    let l = Limits::default().with_timeout(Duration::from_millis(300));
    for _ in 0..4 {
        expect(&run_with("while True: pass", &l), Status::Timeout);
    }
    assert_sandbox_healthy();
}

// ---- one program must not harm the next ---------------------------------------------

#[test]
fn system_v_ipc_is_denied() {
    for call in [
        "libc.shmget(0, 1200 * 1024 * 1024, 0o1600)", // IPC_PRIVATE, 1.2 GB, IPC_CREAT
        "libc.msgget(0, 0o1600)",
        "libc.semget(0, 1, 0o1600)",
        "libc.mq_open(b'/q', 0o102, 0o600, None)",
    ] {
        let out = run(&format!("import ctypes\nlibc = ctypes.CDLL(None)\nprint({call})"));
        expect(&out, Status::Denied);
    }
    // Nothing was left behind for a later program to find.
    let out = run("import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.shmat(0, None, 0))");
    expect(&out, Status::Denied);
    assert_sandbox_healthy();
}

#[test]
fn a_deep_directory_tree_is_cleaned_up() {
    let out = run("import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n\
         open('leaf', 'w').write('x')\nos.chmod('.', 0)\nprint('deep')");
    expect(&out, Status::Ok);
    // The next program starts in an empty scratch, on a healthy worker.
    let out = run("import os\nprint(os.listdir('.'), os.listdir('/tmp'))");
    expect(&out, Status::Ok);
    assert_eq!(out.stdout, "[] ['run']\n");
    assert_sandbox_healthy();
}
