# Hypatia sandbox worker (embedded in hypatia-sandbox, run with `python -I -B -c`).
#
# It starts already confined: PID 1 of fresh namespaces, read-only minimal root, Landlock, the
# base seccomp filter, rlimits. It imports the heavy modules once, then serves requests (JSON
# lines on fd 0, answers on fd 1). Every program runs in a child forked from here, which sets
# its own limits, installs the program seccomp filter (argv[1], compiled by the Rust side) and
# only then runs untrusted code. Nothing a program does can reach this process's memory.
import builtins
import ctypes
import gc
import io
import json
import os
import resource
import select
import shutil
import signal
import stat
import sys
import time
import traceback

SCRATCH = "/tmp"
PROTO_IN = os.fdopen(0, "rb")
PROTO_OUT = os.fdopen(os.dup(1), "wb")
EXIT_OK, EXIT_ERROR, EXIT_SETUP = 0, 1, 70
# Set when the scratch directory could not be emptied: the worker answers the request in
# hand, tells the host to retire it, and exits.
UNFIT = False


def send(obj):
    PROTO_OUT.write(json.dumps(obj).encode() + b"\n")
    PROTO_OUT.flush()


libc = ctypes.CDLL(None, use_errno=True)
# Non-dumpable: a program (same uid) cannot open this process's /proc entries or fds.
libc.prctl(4, 0, 0, 0, 0)
signal.signal(signal.SIGINT, signal.SIG_IGN)
nul = os.open("/dev/null", os.O_RDWR)
os.dup2(nul, 1)
os.dup2(nul, 2)
os.close(nul)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


FILTER = ctypes.create_string_buffer(bytes.fromhex(sys.argv[1]))
FPROG = SockFprog(len(bytes.fromhex(sys.argv[1])) // 8, ctypes.addressof(FILTER))


def lock_down():
    """Installs the program filter; refuses to go on without it."""
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if libc.prctl(22, 2, ctypes.byref(FPROG), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "seccomp")


# The start-up cost programs must not pay again.
# Exact arithmetic is the point here; the wall clock bounds the cost of huge conversions.
sys.set_int_max_str_digits(0)
import cmath, collections, decimal, fractions, functools, itertools, math, numbers  # noqa
import random, re, statistics, string  # noqa
import sympy  # noqa

try:
    _x = sympy.Symbol("x")
    sympy.solve(_x**2 - 2, _x)
    sympy.simplify(sympy.sin(_x) ** 2 + sympy.cos(_x) ** 2)
    sympy.factorint(360)
    sympy.integrate(_x**2, _x)
    sympy.nsimplify(0.5)
    sympy.latex(_x**2)
    sympy.Matrix([[1, 2], [3, 4]]).det()
    del _x
except Exception:
    pass
gc.collect()
gc.freeze()  # keeps the collector off the shared pages after each fork


def wipe():
    """Empties the scratch directory, whatever a program left there: no recursion (a tree
    1,500 directories deep must not exhaust the stack) and a bounded number of open
    descriptors (each pass empties the top-level directories and lifts their
    subdirectories to the top, so depth never matters). Returns whether it is empty."""
    top = os.open(SCRATCH, os.O_RDONLY | os.O_DIRECTORY)
    lifted = 0
    try:
        for _ in range(1 << 20):
            names = os.listdir(top)
            if not names:
                return True
            for name in names:
                try:
                    st = os.stat(name, dir_fd=top, follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=top)
                    continue
                os.chmod(name, 0o700, dir_fd=top)
                d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                try:
                    for child in os.listdir(d):
                        cst = os.stat(child, dir_fd=d, follow_symlinks=False)
                        if stat.S_ISDIR(cst.st_mode):
                            while True:
                                lifted += 1
                                target = ".wipe-%d" % lifted
                                try:
                                    os.stat(target, dir_fd=top, follow_symlinks=False)
                                except FileNotFoundError:
                                    break
                            os.rename(child, target, src_dir_fd=d, dst_dir_fd=top)
                        else:
                            os.unlink(child, dir_fd=d)
                finally:
                    os.close(d)
                os.rmdir(name, dir_fd=top)
        return False
    except BaseException:  # noqa: B036 - a failed clean-up retires the worker, never crashes it
        return False
    finally:
        os.close(top)


def reap_all():
    # PID 1 of the namespace: kill(-1) reaches every process in it but us.
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.001)


def setup_child(lim, out_w, err_w, keep, cwd):
    """In the forked child: fds, limits, streams, filter. Runs before any untrusted code."""
    os.setpgid(0, 0)
    copies = [os.dup(fd) for fd in keep]
    nul = os.open("/dev/null", os.O_RDONLY)
    os.dup2(nul, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    for i, fd in enumerate(copies):
        os.dup2(fd, 3 + i)
    os.closerange(3 + len(copies), 1 << 20)
    os.chdir(cwd)
    mem, cpu = lim["memory_bytes"], lim["cpu_seconds"]
    for res, value in (
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_FSIZE, (lim["file_bytes"],) * 2),
        (resource.RLIMIT_NOFILE, (lim["open_files"],) * 2),
        (resource.RLIMIT_NPROC, (lim["processes"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(res, value)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.argv = ["program.py"]
    # Python ignores SIGXFSZ; restored, a write past RLIMIT_FSIZE kills the program, which
    # the supervisor sees (a program can raise `OSError(EFBIG)` itself, but not that).
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    lock_down()


def execute(code, glb, lim):
    """Runs a program. Its exit code says only whether it finished (0) or failed: statuses
    such as memory or denied come from what the supervisor observes, never from here."""
    try:
        exec(compile(code, "<program>", "exec"), glb)
        return EXIT_OK
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return EXIT_OK
        if not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        return EXIT_ERROR
    except BaseException as e:  # noqa: B036 - every failure is reported, not raised
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<program>":
            tb = tb.tb_next
        try:
            traceback.print_exception(type(e), e, tb)
        except BaseException:  # noqa: B036 - out of memory while printing, say
            try:
                os.write(2, ("%s\n" % type(e).__name__).encode())
            except BaseException:  # noqa: B036
                pass
        return EXIT_ERROR


def flush():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except BaseException:
            pass


def child_main(fn):
    try:
        code = fn()
    except BaseException:
        try:
            os.write(2, b"sandbox: the program could not be set up\n")
        except OSError:
            pass
        code = EXIT_SETUP
    flush()
    os._exit(code)


def new_globals():
    return {"__name__": "__main__", "__builtins__": builtins}


def read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def supervise(pid, pidfd, out_r, err_r, ctl_r, lim, t0):
    """Collects output until the program (or, in a session, the cell) ends, the wall clock
    runs out, or the output cap is hit. Returns (reason, cell_rc, exited, stdout, stderr)."""
    deadline = t0 + lim["timeout"]
    cap = lim["output_bytes"]
    bufs = {out_r: bytearray(), err_r: bytearray()}
    total = 0
    open_fds = {out_r, err_r}
    exited = False
    reason = None
    cell_rc = None
    ctl_r_open = ctl_r is not None
    while True:
        if ctl_r is None and exited and not open_fds:
            break
        if ctl_r is not None and (cell_rc is not None or exited):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reason = "timeout"
            break
        watch = list(open_fds) + [0] + ([] if exited else [pidfd]) + ([ctl_r] if ctl_r_open else [])
        ready, _, _ = select.select(watch, [], [], remaining)
        for fd in ready:
            if fd == 0:
                # The host went away (or broke protocol): take everything down with us.
                reap_all()
                os._exit(0)
            if fd == pidfd:
                exited = True
            elif fd == ctl_r:
                b = os.read(ctl_r, 1)
                if b:
                    cell_rc = b[0]
                else:
                    ctl_r_open = False  # the session died: its exit status tells why
            elif fd in open_fds:
                data = os.read(fd, 65536)
                if not data:
                    open_fds.discard(fd)
                    continue
                room = cap - total
                if room > 0:
                    bufs[fd] += data[:room]
                total += len(data)
        if total > cap:
            reason = "output_limit"
            break
    if reason is None and ctl_r is not None:
        # The cell flushed before signalling, so what it printed is already in the pipes.
        for fd in list(open_fds):
            while total <= cap:
                r, _, _ = select.select([fd], [], [], 0)
                if not r:
                    break
                data = os.read(fd, 65536)
                if not data:
                    break
                room = cap - total
                if room > 0:
                    bufs[fd] += data[:room]
                total += len(data)
        if total > cap:
            reason = "output_limit"
    return reason, cell_rc, exited, bytes(bufs[out_r]), bytes(bufs[err_r])


SIGNAL_NOTES = {
    signal.SIGSYS: ("denied", "sandbox: stopped: the program made a forbidden system call"),
    signal.SIGXCPU: ("timeout", "sandbox: stopped: CPU time limit"),
    signal.SIGXFSZ: ("denied", "sandbox: stopped: file size limit"),
}


def scratch_full():
    """Whether the scratch space is (nearly) full: a program that failed then was stopped by
    the space limit, not by a bug of its own."""
    try:
        st = os.statvfs(SCRATCH)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def verdict(reason, rc, wstatus, rusage, lim, full=False):
    """Returns (status, note for stderr), from what this supervisor observed: its own
    clocks and output count, the signal that ended the program, the CPU time and peak
    memory the kernel accounted to it, and the scratch space left. An exit code or an
    exception a program can choose only ever says "ok" (0) or "error"."""
    if reason == "timeout":
        return "timeout", "sandbox: stopped: wall-clock limit of %gs" % lim["timeout"]
    if reason == "output_limit":
        return "output_limit", "sandbox: stopped: output over %d bytes" % lim["output_bytes"]
    if rc is not None:
        return ("ok" if rc == EXIT_OK else "error"), ""
    if wstatus is None:
        return "error", ""
    peak = rusage.ru_maxrss * 1024 if rusage else 0
    # Peak resident memory at half the address-space limit or more: the program failed for
    # want of memory (an allocation past RLIMIT_AS, or the kernel's OOM killer).
    near_limit = peak >= lim["memory_bytes"] // 2
    memory_note = "sandbox: stopped: memory limit (peak %d MiB of %d MiB)" % (peak >> 20, lim["memory_bytes"] >> 20)
    if os.WIFEXITED(wstatus):
        if os.WEXITSTATUS(wstatus) == EXIT_OK:
            return "ok", ""
        if near_limit:
            return "memory", memory_note
        if full:
            return "denied", "sandbox: stopped: scratch space full"
        return "error", ""
    sig = os.WTERMSIG(wstatus)
    if sig in SIGNAL_NOTES:
        return SIGNAL_NOTES[sig]
    cpu = rusage.ru_utime + rusage.ru_stime if rusage else 0
    if sig == signal.SIGKILL and cpu >= lim["cpu_seconds"]:
        return "timeout", "sandbox: stopped: CPU time limit"
    if near_limit:
        return "memory", memory_note
    if sig == signal.SIGSEGV:
        return "error", "sandbox: the interpreter crashed (SIGSEGV; stack overflow?)"
    return "error", "sandbox: killed by signal %d" % sig


def outcome(status, out, err, note, seconds, **extra):
    err = err.decode("utf-8", "backslashreplace")
    if note:
        err = err + ("" if not err or err.endswith("\n") else "\n") + note + "\n"
    d = {"status": status, "stdout": out.decode("utf-8", "backslashreplace"), "stderr": err, "seconds": seconds}
    d.update(extra)
    if UNFIT:
        d["retire"] = True
    return d


def clean():
    global UNFIT
    if not wipe():
        UNFIT = True


def fresh_dir(name):
    clean()
    path = os.path.join(SCRATCH, name)
    os.mkdir(path, 0o700)
    return path


def run_program(req):
    lim = req["limits"]
    cwd = fresh_dir("run")
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        def body():
            setup_child(lim, out_w, err_w, [], cwd)
            return execute(req["code"], new_globals(), lim)
        child_main(body)
    os.close(out_w)
    os.close(err_w)
    pidfd = os.pidfd_open(pid)
    reason, _, _, out, err = supervise(pid, pidfd, out_r, err_r, None, lim, t0)
    if reason:
        os.kill(pid, signal.SIGKILL)
    _, wstatus, rusage = os.wait4(pid, 0)
    seconds = time.monotonic() - t0
    for fd in (out_r, err_r, pidfd):
        os.close(fd)
    reap_all()
    status, note = verdict(reason, None, wstatus, rusage, lim, scratch_full())
    # Clean up before answering, so the next program never meets this one's leftovers
    # and a worker that could not clean up is retired before it is handed out again.
    clean()
    send(outcome(status, out, err, note, seconds))


class Session:
    def __init__(self, lim):
        self.lim = lim
        cwd = fresh_dir("session")
        cmd_r, self.cmd_w = os.pipe()
        self.ctl_r, ctl_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            child_main(lambda: self.serve(out_w, err_w, cmd_r, ctl_w, cwd))
        for fd in (cmd_r, ctl_w, out_w, err_w):
            os.close(fd)
        self.pidfd = os.pidfd_open(self.pid)
        self.alive = True

    def serve(self, out_w, err_w, cmd_r, ctl_w, cwd):
        setup_child(self.lim, out_w, err_w, [cmd_r, ctl_w], cwd)
        glb = new_globals()
        while True:
            head = read_exact(3, 8)
            if head is None:
                return EXIT_OK
            code = read_exact(3, int.from_bytes(head, "little"))
            if code is None:
                return EXIT_OK
            rc = execute(code.decode("utf-8", "replace"), glb, self.lim)
            flush()
            os.write(4, bytes([rc]))

    def cell(self, req):
        lim = dict(self.lim, timeout=req["timeout"])
        if not self.alive:
            return outcome("error", b"", b"", "sandbox: this session has ended", 0.0, alive=False)
        t0 = time.monotonic()
        code = req["code"].encode("utf-8", "surrogatepass")
        try:
            frame = len(code).to_bytes(8, "little") + code
            while frame:
                frame = frame[os.write(self.cmd_w, frame):]
        except OSError:
            pass
        reason, rc, exited, out, err = supervise(self.pid, self.pidfd, self.out_r, self.err_r, self.ctl_r, lim, t0)
        wstatus = rusage = None
        if reason or exited:
            self.close()
            wstatus, rusage = self.wstatus, self.rusage
            rc = None
        status, note = verdict(reason, rc, wstatus, rusage, lim)
        if not self.alive:
            note = (note + "\n" if note else "") + "sandbox: the session has ended"
        return outcome(status, out, err, note, time.monotonic() - t0, alive=self.alive)

    def close(self):
        if self.alive:
            self.alive = False
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            _, self.wstatus, self.rusage = os.wait4(self.pid, 0)
            for fd in (self.cmd_w, self.ctl_r, self.out_r, self.err_r, self.pidfd):
                os.close(fd)
        reap_all()
        clean()


def main():
    import sympy as _s

    send({"ready": True, "python": sys.version.split()[0], "sympy": _s.__version__, "pid": os.getpid()})
    session = None
    while True:
        line = PROTO_IN.readline()
        if not line:
            if session:
                session.close()
            reap_all()
            return
        req = json.loads(line)
        op = req["op"]
        if op == "run":
            run_program(req)
        elif op == "open":
            if session:
                session.close()
            session = Session(req["limits"])
            send({"ok": True, "retire": UNFIT})
        elif op == "cell":
            if session is None:
                send(outcome("error", b"", b"", "sandbox: no session is open", 0.0, alive=False))
            else:
                send(session.cell(req))
        elif op == "close":
            if session:
                session.close()
            session = None
            send({"ok": True, "retire": UNFIT})
        else:
            send({"fatal": "unknown op %r" % op})
        if UNFIT:
            # The host drops a worker whose reply says "retire"; nothing may run here again.
            if session:
                session.close()
            reap_all()
            os._exit(0)


try:
    main()
except BaseException:
    try:
        send({"fatal": traceback.format_exc()})
    except BaseException:
        pass
    os._exit(1)
