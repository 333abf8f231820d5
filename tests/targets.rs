//! Process targets and the probe types that need no binary: `-c CMD` (started
//! after attaching, `cpid`, tracing ends with it), `-p PID` (a filter for every
//! probe, tracing ends with the process), software and hardware perf events,
//! raw tracepoints, and how attach failures among many probes are reported.

mod common;
mod programs;

use programs::*;
use std::path::Path;
use std::time::Duration;

fn workload() -> String {
    build("workload", &[]).display().to_string()
}

#[test]
fn command_starts_after_attach_exposes_cpid_and_ends_tracing() {
    let script = "tracepoint:syscalls:sys_enter_execve /pid == cpid/ { @execs = count(); }
                  tracepoint:syscalls:sys_enter_write /pid == cpid/ { @writes = count(); }
                  END { printf(\"cpid=%d\\n\", cpid); }";
    let out = rtrace(&["-c", "sh -c 'echo child $$'", "-e", script]);
    assert!(out.status.success(), "{out:?}");
    let child = out
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("child "))
        .unwrap_or_else(|| panic!("the command did not run: {out:?}"))
        .to_string();
    // END ran once the command exited, with cpid the command's pid.
    assert!(out.stdout.contains(&format!("cpid={child}")), "{out:?}");
    // The exec happened after the probes were attached.
    assert!(out.stdout.contains(&"@execs: 1".to_string()), "{out:?}");
    assert!(out.stdout.contains(&"@writes: 1".to_string()), "{out:?}");
    assert_eq!(out.stdout[0], "Attaching 3 probes...");
}

#[test]
fn command_binary_is_the_default_for_uprobes() {
    let bin = build("uprobe_target", &[]).display().to_string();
    let out = rtrace(&[
        "-c",
        &format!("{bin} 6"),
        "-e",
        "uprobe:rt_add { @adds = count(); }",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(&"@adds: 6".to_string()), "{out:?}");
}

#[test]
fn bad_commands_and_pids_are_explained() {
    let out = rtrace(&["-c", "no-such-command-xyz", "-e", "BEGIN { }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("-c: command not found: no-such-command-xyz"),
        "{out:?}"
    );
    let out = rtrace(&["-e", "BEGIN { printf(\"%d\\n\", cpid); }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("`cpid` needs a command to trace"),
        "{out:?}"
    );
    // pid_max is at most 2^22 on x86-64: this pid cannot exist.
    let out = rtrace(&["-p", "99999999", "-e", "tracepoint:sched:sched_switch { }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("-p 99999999"), "{out:?}");
}

#[test]
fn pid_filters_every_probe_and_ends_with_the_process() {
    let bin = build("uprobe_target", &[]);
    let mut traced = LineProcess::spawn(&bin, &["2"]);
    let pid = traced.pid();
    let tracer = Tracer::start(&[
        "-p",
        &pid.to_string(),
        "-e",
        "tracepoint:raw_syscalls:sys_enter { @[pid] = count(); }",
    ]);
    traced.send("go");
    traced.out.expect("done", Duration::from_secs(10));
    traced.finish();
    let out = tracer.wait(Duration::from_secs(20));
    assert!(out.status.success(), "{out:?}");
    let keys: Vec<&String> = out.stdout.iter().filter(|l| l.starts_with("@[")).collect();
    assert_eq!(keys.len(), 1, "only the traced process: {out:?}");
    assert!(keys[0].starts_with(&format!("@[{pid}]: ")), "{out:?}");
}

#[test]
fn software_events_count_what_the_workload_does() {
    // 2000 fresh pages, 7 getppid() calls, 300 ms on the CPU.
    let script = "s:page-faults:1 /pid == cpid/ { @faults = count(); }
                  software:page-faults:100 /pid == cpid/ { @faults_per_100 = count(); }
                  s:cpu-clock:10000000 /pid == cpid/ { @clock_10ms = count(); }
                  s:cs:1 /pid == cpid/ { @switches = count(); }";
    let out = rtrace(&["-c", &format!("{} 2000 7 300", workload()), "-e", script]);
    assert!(out.status.success(), "{out:?}");
    let value = |name: &str| -> u64 {
        let prefix = format!("@{name}: ");
        out.stdout
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name}: {out:?}"))
            .parse()
            .unwrap()
    };
    let faults = value("faults");
    assert!((2000..2400).contains(&faults), "{faults} page faults");
    let sampled = value("faults_per_100");
    assert!(sampled >= 20 && sampled <= faults / 100 + 1, "{sampled}");
    // 300 ms of busy loop sampled every 10 ms of CPU clock; on a loaded machine the
    // loop gets less of the CPU, so allow down to a third of the samples.
    let clock = value("clock_10ms");
    assert!((10..=40).contains(&clock), "{clock} cpu-clock samples");
    assert!(value("switches") >= 1);
}

#[test]
fn raw_tracepoint_arguments() {
    // raw sys_enter: arg0 is the pt_regs pointer, arg1 the syscall number.
    let script = "rawtracepoint:sys_enter /pid == cpid && arg1 == 110/ { @getppid = count(); }
                  rt:sched_process_exit /pid == cpid/ { @exits = count(); }";
    let out = rtrace(&["-c", &format!("{} 0 7 0", workload()), "-e", script]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(&"@getppid: 7".to_string()), "{out:?}");
    assert!(out.stdout.contains(&"@exits: 1".to_string()), "{out:?}");
}

#[test]
fn hardware_events_count_or_say_why_they_cannot_attach() {
    // A machine with hardware counters shows a `cpu` PMU; this VM has none.
    let has_pmu = Path::new("/sys/bus/event_source/devices/cpu").exists();
    let out = rtrace(&[
        "-c",
        &format!("{} 0 0 100", workload()),
        "-e",
        "hardware:cycles:100000 /pid == cpid/ { @cycles = count(); }",
    ]);
    if has_pmu {
        assert!(out.status.success(), "{out:?}");
        assert!(
            out.stdout.iter().any(|l| l.starts_with("@cycles: ")),
            "{out:?}"
        );
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        out.stderr.trim_end(),
        "error: cannot attach hardware:cycles:100000: hardware event cpu-cycles is not \
         available: this machine exposes no hardware performance counters (no PMU, as in \
         most virtual machines); use a software event such as cpu-clock instead"
    );
    // Nothing ran: no output, and the command was never started.
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn a_probe_that_cannot_attach_is_named_with_the_reason() {
    // Named exactly: an error, nothing runs.
    let out = rtrace(&[
        "-e",
        "tracepoint:sock:sock_send_length { } rawtracepoint:no_such_tracepoint_xyz { }",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        out.stderr.trim_end(),
        "error: cannot attach rawtracepoint:no_such_tracepoint_xyz: raw tracepoint \
         no_such_tracepoint_xyz does not exist"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    // From a wildcard, next to probes that attach: each failure is named, and
    // tracing goes on with the rest.
    let kprobes = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    let out = rtrace(&[
        "-c",
        &format!("{} 0 3 0", workload()),
        "-e",
        "kprobe:tcp_sendms* { } rt:sys_enter /pid == cpid && arg1 == 110/ { @getppid = count(); }",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(&"@getppid: 3".to_string()), "{out:?}");
    let warning = "WARNING: cannot attach kprobe:tcp_sendmsg: this kernel has no kprobe support";
    assert_eq!(out.stderr.contains(warning), !kprobes, "{out:?}");
}
