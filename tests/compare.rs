//! Side by side with bpftrace 0.17 (installed by `.ci/run`): the same script over
//! the same workload must print the same bytes.

mod common;

use common::*;
use std::time::Duration;

const SIZES: [usize; 9] = [0, 1, 7, 100, 1000, 1000, 4096, 5000, 70000];

/// Scripts valid in both bpftrace 0.17 and rtrace; `$1` is the workload's pid.
const SCRIPTS: &[&str] = &[
    r#"tracepoint:syscalls:sys_enter_read /pid == $1 && args->fd == 100/ {
        @c = count(); @s = sum(args->count); @a = avg(args->count);
        @mn = min(args->count); @mx = max(args->count); @st = stats(args->count);
        @h = hist(args->count); @l = lhist(args->count, 0, 8000, 1000);
        @k[(args->count > 500) + (args->count > 4000)] = count(); @t[comm, args->count > 500] = sum(args->count);
        printf("%-6d|%6d|%x|%s|%c\n", args->count, args->count, args->count, comm, 65);
    }
    tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }"#,
    r#"tracepoint:syscalls:sys_enter_read /pid == $1 && args->fd == 100/ {
        @bytes[comm] = hist(args->count); @lin[args->count > 1000] = lhist(args->count, 0, 100000, 10000);
        @stats[args->count & 1] = stats(args->count);
        $x = (int8)args->count; @neg[$x] = max(args->count);
        @str[comm] = max(args->count); @mnn[comm] = min((int64)args->count - 5000);
    }
    tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }"#,
];

fn trace(tool: &str, script: &str) -> String {
    let work = ReadWorkload::spawn(&SIZES);
    let pid = work.pid.to_string();
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let out = trace_while_with(
        tool,
        &["-e", script, &pid],
        move || work.release(),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{tool} failed: {}", stderr(&out));
    stdout(&out).replace(comm.trim(), "COMM")
}

#[test]
fn output_matches_bpftrace_byte_for_byte() {
    let bpftrace =
        bpftrace().expect("bpftrace 0.17 must be installed for this test (.ci/run installs it)");
    for script in SCRIPTS {
        let theirs = trace(bpftrace, script);
        let ours = trace(RTRACE, script);
        assert_eq!(ours, theirs, "script:\n{script}");
    }
}
