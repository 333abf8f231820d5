//! The C test programs of this directory, built with the system `gcc`, and
//! helpers to drive them and a running tracer: probe tests need processes whose
//! calls, arguments and return values the test knows exactly.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub const RTRACE: &str = env!("CARGO_BIN_EXE_rtrace");

/// Where built programs go.
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rtrace-test-programs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// A name for a build of `source` with `flags` that changes when either does,
/// so builds are reused across test runs and never mixed up.
fn build_name(name: &str, source: &Path, flags: &[String]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(source)
        .unwrap_or_else(|e| panic!("{}: {e}", source.display()))
        .hash(&mut h);
    flags.hash(&mut h);
    format!("{name}-{:016x}", h.finish())
}

/// Compile `src` to `out` unless it exists; concurrent tests each write their
/// own temporary file and rename it into place.
fn compile(src: &Path, out: &Path, flags: &[String]) {
    if out.exists() {
        return;
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let tmp = out.with_extension(format!("tmp{}-{n}", std::process::id()));
    let mut args: Vec<String> = vec!["-O2".into(), "-g".into(), "-o".into()];
    args.push(tmp.display().to_string());
    args.push(src.display().to_string());
    args.extend(flags.iter().cloned());
    gcc(&args);
    std::fs::rename(&tmp, out).unwrap();
}

/// Build `tests/programs/<name>.c` into an executable (`-O2 -g`, `extra`
/// appended).
pub fn build(name: &str, extra: &[&str]) -> PathBuf {
    let src = source(&format!("{name}.c"));
    let flags: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let out = out_dir().join(build_name(name, &src, &flags));
    compile(&src, &out, &flags);
    out
}

/// Build `tests/programs/<name>.c` into a shared library `lib<name>.so`.
pub fn build_shared(name: &str) -> PathBuf {
    let src = source(&format!("{name}.c"));
    let flags = vec!["-shared".to_string(), "-fPIC".to_string()];
    let dir = out_dir().join(build_name(name, &src, &flags));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("lib{name}.so"));
    compile(&src, &out, &flags);
    out
}

fn gcc(args: &[String]) {
    let out = Command::new("gcc").args(args).output().unwrap_or_else(|e| {
        panic!(
            "these tests build C programs with gcc, which cannot be run ({e}); \
             install it with: apt-get install gcc"
        )
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("sys/sdt.h") {
        panic!(
            "the USDT test programs need <sys/sdt.h>; install it with: \
             apt-get install systemtap-sdt-dev\n{stderr}"
        );
    }
    assert!(out.status.success(), "gcc {args:?} failed:\n{stderr}");
}

/// Lines read from a pipe on a thread, so reads can time out.
pub struct Lines {
    rx: Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    pub fn new(pipe: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The next line that starts with `prefix` (others are kept in `seen`).
    pub fn expect(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line starting with {prefix:?} within {limit:?}; lines so far: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Every remaining line until the pipe closes.
    pub fn rest(&mut self) -> Vec<String> {
        let mut all = std::mem::take(&mut self.seen);
        all.extend(self.rx.iter());
        all
    }
}

/// A process driven line by line over its stdin and stdout.
pub struct LineProcess {
    pub child: Child,
    stdin: Option<ChildStdin>,
    pub out: Lines,
}

impl LineProcess {
    pub fn spawn(program: &Path, args: &[&str]) -> LineProcess {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let out = Lines::new(child.stdout.take().unwrap());
        LineProcess {
            stdin: child.stdin.take(),
            child,
            out,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Send `line` and return the answer starting with `prefix`.
    pub fn ask(&mut self, line: &str, prefix: &str) -> String {
        self.send(line);
        self.out.expect(prefix, Duration::from_secs(10))
    }

    /// Close stdin and wait for the exit.
    pub fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

/// A running rtrace, started and waited for until it printed `Attaching N probes...`.
pub struct Tracer {
    child: Child,
    pub out: Lines,
    err: std::thread::JoinHandle<String>,
    pub attach_line: String,
}

/// What a finished tracer printed.
#[derive(Debug)]
pub struct Traced {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Tracer {
    pub fn start(args: &[&str]) -> Tracer {
        ensure_tracefs();
        let mut child = Command::new(RTRACE)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rtrace");
        let mut stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut out = Lines::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        let attach_line = loop {
            match out.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) if line.starts_with("Attaching ") => break line,
                Ok(line) => out.seen.push(line),
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("rtrace never attached: {}", err.join().unwrap());
                }
                Err(_) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        panic!(
                            "rtrace exited ({status}) before attaching: {}",
                            err.join().unwrap()
                        );
                    }
                }
            }
        };
        Tracer {
            child,
            out,
            err,
            attach_line,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, then wait for the exit (END, maps).
    pub fn stop(self) -> Traced {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.wait(Duration::from_secs(30))
    }

    /// Wait for rtrace to end by itself.
    pub fn wait(mut self, limit: Duration) -> Traced {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "rtrace did not end within {limit:?}; output so far: {:?}",
                    self.out.rest()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Traced {
            status,
            stdout: self.out.rest(),
            stderr: self.err.join().unwrap(),
        }
    }
}

/// Run rtrace to completion (for listings, errors, `-c`).
pub fn rtrace(args: &[&str]) -> Traced {
    ensure_tracefs();
    let child = Command::new(RTRACE)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rtrace");
    let out = wait_with_limit(child, Duration::from_secs(120));
    Traced {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Wait for `child` with a time limit, draining its pipes (shared with the e2e tests).
fn wait_with_limit(child: Child, limit: Duration) -> std::process::Output {
    crate::common::wait_output(child, limit)
}

/// Tracing needs tracefs; mount it if this machine has not.
pub fn ensure_tracefs() {
    if !Path::new("/sys/kernel/tracing/events").is_dir() {
        let _ = Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status();
    }
}

/// The lines printed after the blank lines rtrace prints at exit (the maps).
pub fn maps_section(stdout: &[String]) -> Vec<String> {
    match stdout.iter().rposition(|l| l.is_empty()) {
        Some(i) => stdout[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The output of a `-l` listing with bpftrace 0.17 (its first line is a
/// harmless RLIMIT_MEMLOCK error on stderr).
pub fn bpftrace_list(args: &[&str]) -> Vec<String> {
    let out = Command::new("bpftrace")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("bpftrace 0.17 is needed for comparisons and cannot be run: {e}")
        });
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
