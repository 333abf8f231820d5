//! The bpftrace tools corpus: Debian's `bpftrace` package installs the 0.17 tools as
//! `/usr/sbin/*.bt`. They are run in place, never copied: every one must pass
//! `rtrace --dry-run` (kprobe tools included: compiled and accepted by this kernel's
//! verifier), and the ones whose probes this kernel supports run for real under a
//! workload the test generates, their output checked for what the workload did.

mod common;
mod programs;

use programs::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

const TOOLS_DIR: &str = "/usr/sbin";

/// Tools that do not pass yet, with the error they must give until they do (so this list
/// cannot go stale: a tool that starts passing fails the test until it leaves the list).
const KNOWN_GAPS: &[(&str, &str)] = &[];

fn tools() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(TOOLS_DIR)
        .expect("/usr/sbin")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    found.sort();
    assert!(
        found.len() >= 30,
        "the bpftrace package's tools are missing from {TOOLS_DIR} (apt-get install bpftrace)"
    );
    found
}

fn tool(name: &str) -> String {
    let path = Path::new(TOOLS_DIR).join(name);
    assert!(path.exists(), "{} is not installed", path.display());
    path.display().to_string()
}

#[test]
fn every_installed_tool_passes_dry_run() {
    let mut failures = Vec::new();
    let mut passed = 0;
    for path in tools() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = rtrace(&["--dry-run", &path.display().to_string()]);
        let gap = KNOWN_GAPS.iter().find(|(n, _)| *n == name);
        match (out.status.success(), gap) {
            (true, None) => {
                assert!(
                    out.stderr.contains("accepted by the verifier"),
                    "{name}: {}",
                    out.stderr
                );
                passed += 1;
            }
            (false, Some((_, why))) if out.stderr.contains(why) => {}
            (true, Some(_)) => {
                failures.push(format!("{name} passes now: remove it from KNOWN_GAPS"))
            }
            (false, _) => failures.push(format!("{name}: {}", out.stderr)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(passed + KNOWN_GAPS.len() >= 30);
}

/// Start `tool`, run `workload` once attached, stop with Ctrl-C, return stdout.
fn run_tool(name: &str, workload: impl FnOnce()) -> Vec<String> {
    let tracer = Tracer::start(&[&tool(name)]);
    workload();
    sleep(Duration::from_millis(300));
    let out = tracer.stop();
    assert!(out.status.success(), "{name}: {out:?}");
    out.stdout
}

fn sh(script: &str) {
    let status = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(status.success(), "{script}");
}

fn has_line(lines: &[String], what: impl Fn(&str) -> bool) -> bool {
    lines.iter().any(|l| what(l))
}

#[test]
fn execsnoop_shows_the_arguments_of_a_command() {
    let out = run_tool("execsnoop.bt", || {
        sh("/bin/echo rtrace-tools exec marker >/dev/null")
    });
    assert_eq!(out[0], "TIME(ms)   PID   ARGS", "{out:?}");
    assert!(
        has_line(&out, |l| l.ends_with("/bin/echo rtrace-tools exec marker")),
        "{out:#?}"
    );
}

#[test]
fn opensnoop_and_statsnoop_show_a_known_path() {
    let dir = std::env::temp_dir().join("rtrace-tools-open-marker");
    std::fs::write(&dir, b"x").unwrap();
    let path = dir.display().to_string();
    let out = run_tool("opensnoop.bt", || {
        std::fs::read(&dir).unwrap();
    });
    assert!(out[1].starts_with("PID    COMM"), "{out:?}");
    assert!(has_line(&out, |l| l.ends_with(&path)), "{out:#?}");
    let out = run_tool("statsnoop.bt", || sh(&format!("stat {path} >/dev/null")));
    assert!(has_line(&out, |l| l.ends_with(&path)), "{out:#?}");
}

#[test]
fn killsnoop_shows_a_signal_and_its_target() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let out = run_tool("killsnoop.bt", || {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    });
    let _ = child.wait();
    let fields = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let hit = out
        .iter()
        .map(|l| fields(l))
        .any(|f| f.len() >= 6 && f[3] == "15" && f[4] == pid.to_string() && f[5] == "0");
    assert!(hit, "no `SIG 15 TPID {pid} RESULT 0` line: {out:#?}");
}

#[test]
fn syscount_counts_the_workload_by_process_name() {
    let out = run_tool("syscount.bt", || {
        // 40,000 syscalls: among the top ten whatever else the machine does.
        sh("cp /bin/dd /tmp/rtrace-sc-marker && /tmp/rtrace-sc-marker if=/dev/zero of=/dev/null bs=1 count=20000 2>/dev/null");
    });
    assert!(out.iter().any(|l| l.starts_with("@syscall[")), "{out:#?}");
    assert!(
        has_line(&out, |l| l.starts_with("@process[rtrace-sc-mark")),
        "{out:#?}"
    );
}

#[test]
fn naptime_shows_a_one_second_sleep() {
    // glibc's nanosleep() uses clock_nanosleep; naptime traces nanosleep(2) itself.
    let out = run_tool("naptime.bt", || {
        let ts = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: nanosleep(2) with a valid timespec and no remainder pointer.
        let rc =
            unsafe { libc::syscall(libc::SYS_nanosleep, &ts, std::ptr::null::<libc::timespec>()) };
        assert_eq!(rc, 0);
    });
    assert!(
        has_line(&out, |l| l.contains(" naptime_shows_")
            && l.trim_end().ends_with(" 1.000")),
        "{out:#?}"
    );
}

#[test]
fn syncsnoop_and_pidpersec_see_their_events() {
    let out = run_tool("syncsnoop.bt", || sh("sync"));
    assert!(has_line(&out, |l| l.contains(" sync ")), "{out:#?}");
    let out = run_tool("pidpersec.bt", || {
        for _ in 0..20 {
            sh("true");
        }
        sleep(Duration::from_millis(1200));
    });
    let per_second: Vec<u64> = out
        .iter()
        .filter_map(|l| l.rsplit_once("@: ").map(|(_, n)| n.trim().parse().unwrap()))
        .collect();
    assert!(per_second.iter().sum::<u64>() >= 20, "{out:#?}");
}

#[test]
fn runqlat_and_cpuwalk_print_histograms() {
    let out = run_tool("runqlat.bt", || sleep(Duration::from_millis(700)));
    assert!(has_line(&out, |l| l == "@usecs: "), "{out:#?}");
    assert!(
        has_line(&out, |l| l.starts_with('[') && l.contains('|')),
        "{out:#?}"
    );
    let out = run_tool("cpuwalk.bt", || sleep(Duration::from_millis(700)));
    assert!(has_line(&out, |l| l == "@cpu: "), "{out:#?}");
}

#[test]
fn gethostlatency_times_a_lookup() {
    let out = run_tool("gethostlatency.bt", || {
        sh("getent ahosts localhost >/dev/null");
    });
    assert!(
        has_line(&out, |l| l.contains("getent") && l.contains("localhost")),
        "{out:#?}"
    );
}

#[test]
fn wildcard_attach_points_matching_nothing_next_to_others_are_warnings() {
    let out = rtrace(&[
        "--dry-run",
        "-e",
        "tracepoint:syscalls:sys_enter_getpid, tracepoint:nosuchcategory:x* { exit(); }",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("warning: no tracepoint matches `nosuchcategory:x*`")
            && out
                .stderr
                .contains("skipped: the probe's other attach points matched"),
        "{}",
        out.stderr
    );
    let alone = rtrace(&["-e", "tracepoint:nosuchcategory:x* { exit(); }"]);
    assert!(!alone.status.success());
    assert!(
        alone.stderr.contains("error: no tracepoint matches"),
        "{}",
        alone.stderr
    );
}

#[test]
fn setuids_shows_setuid_and_setresuid_with_their_arguments() {
    let out = run_tool("setuids.bt", || {
        sh("python3 -c 'import os; os.setresuid(0, 0, 0); os.setuid(0)'");
    });
    assert!(
        has_line(&out, |l| l.contains(" python3 ")
            && l.ends_with("setuid    uid=0 (0)")),
        "{out:#?}"
    );
    assert!(
        has_line(&out, |l| l.contains(" python3 ")
            && l.ends_with("setresuid ruid=0 euid=0 suid=0 (0)")),
        "{out:#?}"
    );
}

#[test]
fn bitesize_histograms_direct_writes_by_process() {
    let file = std::env::temp_dir().join(format!("rtrace-bitesize-{}", std::process::id()));
    let path = file.display().to_string();
    let out = run_tool("bitesize.bt", || {
        // 32 direct 64 KiB writes reach the block layer as requests of that size.
        sh(&format!(
            "cp /bin/dd /tmp/rtrace-bs-dd && /tmp/rtrace-bs-dd if=/dev/zero of={path} bs=64k count=32 oflag=direct,sync 2>/dev/null"
        ));
    });
    let _ = std::fs::remove_file(&file);
    let at = out
        .iter()
        .position(|l| l == "@[rtrace-bs-dd]: ")
        .unwrap_or_else(|| panic!("no histogram for the writer: {out:#?}"));
    let rows: Vec<&String> = out[at + 1..]
        .iter()
        .take_while(|l| l.starts_with('['))
        .collect();
    let in_64k: u64 = rows
        .iter()
        .filter(|l| l.starts_with("[64K, 128K)"))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum();
    assert!(in_64k >= 32, "32 writes of 64 KiB: {rows:#?}");
}

#[test]
fn writeback_reports_a_sync_of_dirty_pages() {
    let file = std::env::temp_dir().join(format!("rtrace-writeback-{}", std::process::id()));
    let out = run_tool("writeback.bt", || {
        std::fs::write(&file, vec![7u8; 1 << 20]).unwrap();
        sh("sync");
    });
    let _ = std::fs::remove_file(&file);
    // `HH:MM:SS  DEVICE PAGES REASON ms`: a sync writes back with reason "sync".
    let synced = out.iter().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() == 5 && f[3] == "sync" && f[2].parse::<u64>().is_ok() && f[4].contains('.')
    });
    assert!(synced, "{out:#?}");
}
