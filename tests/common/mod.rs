//! Shared helpers for the end-to-end tests: run the real `rtrace` binary against
//! the real kernel, with workloads whose syscalls the test knows exactly.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const RTRACE: &str = env!("CARGO_BIN_EXE_rtrace");

/// Tracing needs tracefs; mount it if this machine has not.
pub fn ensure_tracefs() {
    if !std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        let _ = Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status();
    }
}

/// Run rtrace to completion with a time limit; panics on timeout.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    ensure_tracefs();
    let mut child = Command::new(RTRACE)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rtrace");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    wait_output(child, Duration::from_secs(60))
}

pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    // Drain the pipes while waiting, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the tracer did not finish in {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.join().unwrap()),
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A child process that, once released, makes `read(2)` calls of exactly the
/// given sizes on fd 100 (/dev/zero), then exits. Created stopped on a pipe so
/// the tracer can attach first and filter on its pid.
pub struct ReadWorkload {
    pub pid: i32,
    go: std::fs::File,
}

pub const WORKLOAD_FD: i32 = 100;

impl ReadWorkload {
    pub fn spawn(sizes: &[usize]) -> ReadWorkload {
        let max = sizes.iter().copied().max().unwrap_or(1);
        let mut buf = vec![0u8; max];
        let sizes = sizes.to_vec();
        let mut fds = [0i32; 2];
        // SAFETY: plain syscalls on fds this function owns; the child only makes
        // async-signal-safe syscalls (read, close, _exit) on memory allocated before fork.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let zero = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY);
            assert!(zero >= 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                libc::dup2(zero, WORKLOAD_FD);
                let mut b = 0u8;
                libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                for s in &sizes {
                    libc::read(WORKLOAD_FD, buf.as_mut_ptr().cast(), *s);
                }
                libc::_exit(0);
            }
            libc::close(fds[0]);
            libc::close(zero);
            use std::os::fd::FromRawFd;
            ReadWorkload {
                pid,
                go: std::fs::File::from_raw_fd(fds[1]),
            }
        }
    }

    /// Let the child make its reads, and reap it.
    pub fn release(mut self) {
        self.go.write_all(b"g").unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

/// Start rtrace, wait until it has attached (its first stdout line), run
/// `workload`, then wait for rtrace to exit by itself (the script must end
/// itself, e.g. on the workload's exit) within `limit`.
pub fn trace_while(args: &[&str], workload: impl FnOnce(), limit: Duration) -> Output {
    trace_while_with(RTRACE, args, workload, limit)
}

/// `trace_while` with another tracer binary (bpftrace, for comparisons).
pub fn trace_while_with(
    tool: &str,
    args: &[&str],
    workload: impl FnOnce(),
    limit: Duration,
) -> Output {
    ensure_tracefs();
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rtrace");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        tx.send(()).unwrap();
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        first + &rest
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "{tool} never attached: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if tool != RTRACE {
        // bpftrace 0.17 prints "Attaching N probes..." before it attaches them.
        std::thread::sleep(Duration::from_secs(2));
    }
    workload();
    let mut out = wait_output(child, limit);
    out.stdout = reader.join().unwrap().into_bytes();
    out
}

/// Send a signal to a process.
pub fn kill(pid: u32, sig: i32) {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid as i32, sig) };
}

/// bpftrace 0.17, when installed, for side-by-side comparisons.
pub fn bpftrace() -> Option<&'static str> {
    Command::new("bpftrace")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "bpftrace")
}

/// Starts `cmd`, retrying while exec fails with ETXTBSY: a program the test just
/// copied stays "busy" while another test thread's fork still holds the
/// descriptor the copy was written through (until that child execs).
pub fn spawn_fresh_copy(cmd: &mut Command) -> Child {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.unwrap_or_else(|e| panic!("start {cmd:?}: {e}")),
        }
    }
    panic!("{cmd:?} stayed busy for two seconds");
}

/// Writes `script` to a file of its own (named by its content) in a directory of
/// this test process, for tools-style runs (`rtrace FILE args…`).
pub fn script_file(script: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rtrace-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = script.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("s-{hash:x}.bt"));
    std::fs::write(&path, script).unwrap();
    path
}

/// Runs the script file of `script` with `$1` = the pid of a [`ReadWorkload`]
/// of `sizes`, released once rtrace has attached; the script must end itself.
pub fn traced_reads(script: &str, sizes: &[usize]) -> String {
    let path = script_file(script);
    let work = ReadWorkload::spawn(sizes);
    let pid = work.pid.to_string();
    let out = trace_while(
        &[path.to_str().unwrap(), &pid],
        move || work.release(),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "rtrace failed: {}", stderr(&out));
    stdout(&out)
}

/// Runs the script file of `script` with `extra` words after it: (success, stdout, stderr).
pub fn run_script_file(script: &str, extra: &[&str]) -> (bool, String, String) {
    let path = script_file(script);
    let mut args = vec![path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args, None);
    (out.status.success(), stdout(&out), stderr(&out))
}

/// The lines of `out` that start with `prefix`.
pub fn lines_with(out: &str, prefix: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}
