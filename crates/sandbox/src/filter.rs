//! The seccomp filters, compiled with `seccompiler` (no hand-written BPF except the x32 guard).
//!
//! Two layers, because the worker itself must keep `fork` while the programs it forks must not:
//!
//! * the **base** filter is installed before the worker's `execve` and is inherited by everything
//!   below it. It answers `EPERM` so that a probe in a library fails softly instead of killing
//!   the worker, and `ENOSYS` for `clone3` so that glibc falls back to `clone`, whose flags a
//!   filter can read.
//! * the **program** filter is installed by each forked child right before the program's first
//!   line runs. It kills the whole process (`SIGSYS`), which the worker reports as
//!   [`Status::Denied`](crate::Status::Denied): a denial nobody can catch and print "ok" over.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::SandboxError;

/// System calls no math program needs and that reach past the sandbox: the network, other
/// processes' memory, the mount table, the kernel's keyrings and modules, identity changes,
/// new namespaces, io_uring (which would bypass this very filter), and so on.
const FORBIDDEN: &[libc::c_long] = &[
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_quotactl,
    libc::SYS_acct,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    libc::SYS_fanotify_init,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_setuid,
    libc::SYS_setgid,
    libc::SYS_setreuid,
    libc::SYS_setregid,
    libc::SYS_setresuid,
    libc::SYS_setresgid,
    libc::SYS_setfsuid,
    libc::SYS_setfsgid,
    libc::SYS_setgroups,
    libc::SYS_capset,
    libc::SYS_personality,
    // System V IPC and POSIX message queues: objects that outlive the program in the
    // worker's IPC namespace, so one program could leave data (or gigabytes of shared
    // memory, which RLIMIT_AS does not count) for the next request's program.
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_notify,
    libc::SYS_mq_getsetattr,
    libc::SYS_mbind,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    libc::SYS_set_mempolicy,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_modify_ldt,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ustat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_sysfs,
];

/// Refused to programs only: the worker needs these to fork and set up each child.
const PROGRAM_ONLY: &[libc::c_long] = &[
    libc::SYS_execve,
    libc::SYS_execveat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    libc::SYS_setsid,
    libc::SYS_setpgid,
    // Pages of a memfd are not address space until mapped: a memory bomb around RLIMIT_AS.
    libc::SYS_memfd_create,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_setrlimit,
];

/// The compiled filters, ready to install.
#[derive(Clone, Debug)]
pub(crate) struct Filters {
    /// `EPERM` for [`FORBIDDEN`]; installed before the worker's `execve`.
    pub base: BpfProgram,
    /// `ENOSYS` for `clone3`; installed with `base`.
    pub no_clone3: BpfProgram,
    /// Kill for everything above plus [`PROGRAM_ONLY`], new processes and raised limits.
    pub program: BpfProgram,
}

fn arch() -> Result<TargetArch, SandboxError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(SandboxError::Unsupported(
            "seccomp filters are built for x86_64 and aarch64 only".into(),
        ))
    }
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
    guard: u32,
) -> Result<BpfProgram, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Setup(format!("seccomp filter: {e}"));
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch()?).map_err(err)?;
    let program: BpfProgram = filter.try_into().map_err(err)?;
    Ok(with_x32_guard(program, guard))
}

/// On x86_64 the x32 ABI reaches the same kernel entry points under numbers with bit 30 set and
/// the same audit arch, so a deny list keyed by number would miss them. seccompiler has no range
/// rule; these three hand-written instructions refuse every such number before its program runs.
fn with_x32_guard(program: BpfProgram, ret: u32) -> BpfProgram {
    if !cfg!(target_arch = "x86_64") {
        return program;
    }
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut out = vec![
        sock_filter { code: LD_W_ABS, jt: 0, jf: 0, k: 0 }, // seccomp_data.nr
        sock_filter { code: JGE_K, jt: 0, jf: 1, k: 0x4000_0000 },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: ret },
    ];
    out.extend(program);
    out
}

fn plain(list: &[libc::c_long]) -> BTreeMap<i64, Vec<SeccompRule>> {
    list.iter().map(|&nr| (nr, Vec::new())).collect()
}

fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Setup(format!("seccomp rule: {e}"));
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(err)?;
    SeccompRule::new(vec![cond]).map_err(err)
}

impl Filters {
    pub fn build() -> Result<Filters, SandboxError> {
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let kill = libc::SECCOMP_RET_KILL_PROCESS;
        let base = compile(plain(FORBIDDEN), SeccompAction::Errno(libc::EPERM as u32), eperm)?;
        let no_clone3 =
            compile(plain(&[libc::SYS_clone3]), SeccompAction::Errno(libc::ENOSYS as u32), eperm)?;

        let mut rules = plain(FORBIDDEN);
        rules.extend(plain(PROGRAM_ONLY));
        // A thread shares the process (and its limits); anything else is a new process.
        let thread = libc::CLONE_THREAD as u64;
        rules.insert(libc::SYS_clone, vec![rule(0, SeccompCmpOp::MaskedEq(thread), 0)?]);
        // prlimit64(pid, resource, new, old): reading is fine, setting is not.
        rules.insert(libc::SYS_prlimit64, vec![rule(2, SeccompCmpOp::Ne, 0)?]);
        let program = compile(rules, SeccompAction::KillProcess, kill)?;
        Ok(Filters { base, no_clone3, program })
    }
}

/// The raw `struct sock_filter` array, as the Python worker hands it to `prctl`.
pub(crate) fn to_bytes(program: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for ins in program {
        out.extend_from_slice(&ins.code.to_ne_bytes());
        out.push(ins.jt);
        out.push(ins.jf);
        out.extend_from_slice(&ins.k.to_ne_bytes());
    }
    out
}
