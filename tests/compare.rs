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

/// Scripts that run entirely in BEGIN/END (user space in rtrace, in the kernel in
/// bpftrace 0.17): formats, sorting, clear/zero/delete, print with top and div.
const BEGIN_SCRIPTS: &[&str] = &[
    r#"tracepoint:syscalls:sys_enter_getppid /pid == 1/ { @c = count(); @s = sum(1); @m = max(1); @a = avg(1); @h = hist(1); }
       BEGIN { @x = count(); clear(@x); @y[1] = count(); clear(@y); exit(); }"#,
    r#"BEGIN { @a[1] = 10; @a[2] = 30; @a[3] = 20; print(@a, 2); print(@a, 0, 10); @b["x", 1] = (1, "two"); @c = "str";
       @neg = -7; @u = (uint64)-1; @t = (uint8)300; @sh = (int16)70000; delete(@a[2]); exit(); }"#,
    r#"BEGIN { printf("%d|%5d|%-5d|%05d|%x|%X|%o|%c|%s|%10s|%-10s|%u|%llu\n", -42, 42, 42, 42, 255, 255, 8, 66, "str", "right", "left", -1, -1);
       printf("%lx %ld %lu %hhd %hd\n", -1, -1, -1, 300, 70000); exit(); }"#,
    r#"BEGIN { @h = hist(0); @h = hist(1); @h = hist(-5); @h = hist(1024); @h = hist(1 << 20);
       @l = lhist(-1, 0, 4096, 1024); @l = lhist(3000, 0, 4096, 1024); @l = lhist(99999, 0, 4096, 1024);
       @s = stats(10); @s = stats(-3); @mn = min(-4); @mn = min(9); @mx = max(4); @mx = max(9);
       @k["a"] = count(); @k["a"] = count(); zero(@k); @z = sum(5); exit(); }
       END { @e = 1; }"#,
];

fn run_script(tool: &str, script: &str) -> String {
    let out = std::process::Command::new(tool)
        .args(["-e", script])
        .output()
        .expect("run tracer");
    assert!(
        out.status.success(),
        "{tool} failed on {script}: {}",
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn begin_end_scripts_match_bpftrace_byte_for_byte() {
    let bpftrace =
        bpftrace().expect("bpftrace 0.17 must be installed for this test (.ci/run installs it)");
    ensure_tracefs();
    for script in BEGIN_SCRIPTS {
        assert_eq!(
            run_script(RTRACE, script),
            run_script(bpftrace, script),
            "script:\n{script}"
        );
        let json = |tool| {
            let out = std::process::Command::new(tool)
                .args(["-f", "json", "-e", script])
                .output()
                .unwrap();
            stdout(&out)
        };
        assert_eq!(json(RTRACE), json(bpftrace), "json, script:\n{script}");
    }
}
