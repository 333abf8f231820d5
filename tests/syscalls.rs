//! Many syscall tracepoints at once: a block naming 8 or more `sys_enter_*` /
//! `sys_exit_*` tracepoints runs as one program on the `sys_enter` / `sys_exit`
//! raw tracepoint. These tests hold it to the tracepoints' semantics with a
//! workload whose syscalls are known exactly.

mod common;
mod programs;

use common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// ia32 `getpid` is 20, which on x86-64 is `writev`.
const IA32_GETPID: i64 = 20;

/// A forked child blocked in `read(2)` on a pipe until released; then it makes
/// exactly: 7 getpid, reads of 11, 22 and 33 bytes from /dev/zero, writes of 5
/// and 6 bytes to /dev/null, 5 close (2 good, 3 on fd -1), 4 ia32 getpid
/// through `int $0x80`, and exit_group.
struct SyscallWorkload {
    pid: i32,
    go: std::fs::File,
}

impl SyscallWorkload {
    fn spawn() -> SyscallWorkload {
        let mut fds = [0i32; 2];
        let mut buf = [0u8; 64];
        // SAFETY: plain syscalls on fds this function owns; the child makes only
        // raw syscalls on memory that exists before the fork, then _exit.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let zero = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            assert!(zero >= 0 && null >= 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                libc::syscall(libc::SYS_read, fds[0], buf.as_mut_ptr(), 1);
                for _ in 0..7 {
                    libc::syscall(libc::SYS_getpid);
                }
                for n in [11usize, 22, 33] {
                    libc::syscall(libc::SYS_read, zero, buf.as_mut_ptr(), n);
                }
                for n in [5usize, 6] {
                    libc::syscall(libc::SYS_write, null, buf.as_ptr(), n);
                }
                libc::syscall(libc::SYS_close, zero);
                libc::syscall(libc::SYS_close, null);
                for _ in 0..3 {
                    libc::syscall(libc::SYS_close, -1);
                }
                for _ in 0..4 {
                    ia32_syscall(IA32_GETPID);
                }
                libc::syscall(libc::SYS_exit_group, 0);
            }
            libc::close(fds[0]);
            libc::close(zero);
            libc::close(null);
            use std::os::fd::FromRawFd;
            let w = SyscallWorkload {
                pid,
                go: std::fs::File::from_raw_fd(fds[1]),
            };
            w.wait_blocked();
            w
        }
    }

    /// Wait until the child sleeps in `read` (syscall 0): its read's entry then
    /// happens before any tracer attaches, its return after.
    fn wait_blocked(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let syscall =
                std::fs::read_to_string(format!("/proc/{}/syscall", self.pid)).unwrap_or_default();
            if syscall.split_whitespace().next() == Some("0") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "workload never blocked: {syscall}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn release(mut self) {
        self.go.write_all(b"g").unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

/// A 32-bit system call from this 64-bit process (`int $0x80`, ia32 numbers).
fn ia32_syscall(nr: i64) -> i64 {
    let mut ret = nr;
    // SAFETY: int $0x80 enters the kernel's ia32 syscall path; getpid takes no
    // arguments and touches no memory. The compat entry clobbers r8-r11.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inout("rax") ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    ret
}

/// `@name[key]: value` lines of the map section, as key → value.
fn map_entries(stdout: &str, name: &str) -> BTreeMap<String, i64> {
    let prefix = format!("{name}[");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.rsplit_once("]: "))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap()))
        .collect()
}

fn expected(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Run `script` (with `$PID` replaced) over the workload; rtrace ends on `-p`.
fn trace_workload(script: &str) -> String {
    let w = SyscallWorkload::spawn();
    let pid = w.pid.to_string();
    let script = script.replace("$PID", &pid);
    let out = trace_while(
        &["-p", &pid, "-e", &script],
        || w.release(),
        Duration::from_secs(60),
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    text
}

fn tp(names: &[&str], direction: &str) -> String {
    names
        .iter()
        .map(|n| format!("tracepoint:syscalls:sys_{direction}_{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn wildcard_counts_are_exact_per_syscall() {
    let text = trace_workload(
        "tracepoint:syscalls:sys_enter_* { @enter[probe] = count(); }
         tracepoint:syscalls:sys_exit_* { @exit[probe] = count(); }",
    );
    let names = |pairs: &[(&str, i64)], dir: &str| -> BTreeMap<String, i64> {
        pairs
            .iter()
            .map(|(n, v)| (format!("tracepoint:syscalls:sys_{dir}_{n}"), *v))
            .collect()
    };
    // No writev (the ia32 getpid's number in the 64-bit table), no getpid extra.
    let enter = [
        ("getpid", 7),
        ("read", 3),
        ("write", 2),
        ("close", 5),
        ("exit_group", 1),
    ];
    assert_eq!(
        map_entries(&text, "@enter"),
        names(&enter, "enter"),
        "{text}"
    );
    // The blocked read returns after attaching; exit_group never returns.
    let exit = [("getpid", 7), ("read", 4), ("write", 2), ("close", 5)];
    assert_eq!(map_entries(&text, "@exit"), names(&exit, "exit"), "{text}");
}

#[test]
fn single_tracepoints_count_the_same() {
    // Below the merge threshold: ordinary perf-event tracepoints.
    let text = trace_workload(
        "tracepoint:syscalls:sys_enter_getpid,tracepoint:syscalls:sys_enter_writev,
         tracepoint:syscalls:sys_exit_close { @[probe] = count(); }",
    );
    let want = expected(&[
        ("tracepoint:syscalls:sys_enter_getpid", 7),
        ("tracepoint:syscalls:sys_exit_close", 5),
    ]);
    assert_eq!(map_entries(&text, "@"), want, "{text}");
}

#[test]
fn arguments_and_return_values_through_the_dispatch() {
    let with_count = [
        "read",
        "write",
        "pread64",
        "pwrite64",
        "readahead",
        "getdents64",
        "getdents",
        "eventfd",
    ];
    let script = format!(
        "{} {{ @count[probe, args.count] = count(); @nr[probe] = max(args.__syscall_nr); }}
         tracepoint:syscalls:sys_exit_* {{ @ret[probe, args.ret] = count(); }}",
        tp(&with_count, "enter")
    );
    let text = trace_workload(&script);
    let enter = |n: &str| format!("tracepoint:syscalls:sys_enter_{n}");
    let want = expected(&[
        (&format!("{}, 11", enter("read")), 1),
        (&format!("{}, 22", enter("read")), 1),
        (&format!("{}, 33", enter("read")), 1),
        (&format!("{}, 5", enter("write")), 1),
        (&format!("{}, 6", enter("write")), 1),
    ]);
    assert_eq!(map_entries(&text, "@count"), want, "{text}");
    let want = expected(&[(&enter("read"), 0), (&enter("write"), 1)]);
    assert_eq!(map_entries(&text, "@nr"), want, "{text}");
    let ret = map_entries(&text, "@ret");
    let exit = |n: &str, v: i64| format!("tracepoint:syscalls:sys_exit_{n}, {v}");
    for (n, v, times) in [
        ("read", 1, 1),
        ("read", 11, 1),
        ("read", 22, 1),
        ("read", 33, 1),
        ("write", 5, 1),
        ("write", 6, 1),
        ("close", 0, 2),
        ("close", -9, 3),
    ] {
        assert_eq!(ret.get(&exit(n, v)), Some(&times), "{n} {v}: {text}");
    }
    let getpid: Vec<_> = ret.keys().filter(|k| k.contains("getpid")).collect();
    assert_eq!(getpid.len(), 1, "getpid returns one pid: {text}");
}

#[test]
fn predicates_filter_inside_the_dispatch() {
    // No -p here: the predicate alone must keep other processes out.
    let w = SyscallWorkload::spawn();
    let pid = w.pid.to_string();
    let script = format!(
        "tracepoint:syscalls:sys_enter_* /pid == {pid}/ {{ @[probe] = count(); }}
         tracepoint:syscalls:sys_enter_* /pid == {pid} && args.__syscall_nr == 3/ {{ @close = count(); }}
         tracepoint:syscalls:sys_enter_exit_group /pid == {pid}/ {{ exit(); }}"
    );
    let out = trace_while(&["-e", &script], || w.release(), Duration::from_secs(60));
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let want = expected(&[
        ("tracepoint:syscalls:sys_enter_getpid", 7),
        ("tracepoint:syscalls:sys_enter_read", 3),
        ("tracepoint:syscalls:sys_enter_write", 2),
        ("tracepoint:syscalls:sys_enter_close", 5),
        ("tracepoint:syscalls:sys_enter_exit_group", 1),
    ]);
    assert_eq!(map_entries(&text, "@"), want, "{text}");
    assert!(text.contains("@close: 5"), "{text}");
}

/// BPF program ids a process holds, from its fdinfo.
fn programs_held_by(pid: u32) -> Vec<u64> {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap()
        .flatten()
    {
        let info = std::fs::read_to_string(fd.path()).unwrap_or_default();
        ids.extend(
            info.lines()
                .filter_map(|l| l.strip_prefix("prog_id:"))
                .map(|id| id.trim().parse::<u64>().unwrap()),
        );
    }
    ids.sort();
    ids.dedup();
    ids
}

fn program_exists(id: u64) -> bool {
    std::process::Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .expect("bpftool")
        .status
        .success()
}

#[test]
fn hundreds_of_syscalls_attach_and_leave_quickly() {
    let tracer = programs::Tracer::start(&[
        "-e",
        "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }
         tracepoint:syscalls:sys_exit_* { @x[probe] = count(); }
         interval:ms:300 { exit(); }",
    ]);
    let n: usize = tracer
        .attach_line
        .trim_start_matches("Attaching ")
        .trim_end_matches(" probes...")
        .parse()
        .unwrap();
    let available = std::fs::read_dir("/sys/kernel/tracing/events/syscalls")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("sys_"))
        .count();
    assert_eq!(n, available + 1, "{}", tracer.attach_line);
    let held = programs_held_by(tracer.pid());
    // One program per direction (and the interval runs in user space).
    assert_eq!(held.len(), 2, "programs held: {held:?}");
    let done = tracer.wait(Duration::from_secs(30));
    assert!(done.status.success(), "{}", done.stderr);
    assert!(done
        .stdout
        .iter()
        .any(|l| l.starts_with("@[tracepoint:syscalls:sys_enter_")));
    let mut left = held.clone();
    for _ in 0..50 {
        left.retain(|id| program_exists(*id));
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(left.is_empty(), "still loaded after exit: {left:?}");
}

#[test]
fn counts_match_bpftrace() {
    let Some(bpftrace) = bpftrace() else {
        // Without bpftrace the comparison has nothing to compare with; the exact
        // counts are checked by the other tests.
        return;
    };
    let script = "tracepoint:syscalls:sys_enter_get*, tracepoint:syscalls:sys_enter_read*,
                  tracepoint:syscalls:sys_enter_write*, tracepoint:syscalls:sys_enter_close*,
                  tracepoint:syscalls:sys_enter_exit*, tracepoint:syscalls:sys_enter_writev /pid == $PID/ { @[probe] = count(); }
                  tracepoint:syscalls:sys_enter_exit_group /pid == $PID/ { exit(); }";
    let run = |tool: &str| {
        let w = SyscallWorkload::spawn();
        let script = script.replace("$PID", &w.pid.to_string());
        let out = trace_while_with(
            tool,
            &["-e", &script],
            || w.release(),
            Duration::from_secs(120),
        );
        let text = stdout(&out);
        assert!(out.status.success(), "{tool}: {text}\n{}", stderr(&out));
        map_entries(&text, "@")
    };
    let ours = run(RTRACE);
    assert_eq!(ours.get("tracepoint:syscalls:sys_enter_getpid"), Some(&7));
    assert_eq!(ours, run(bpftrace));
}
