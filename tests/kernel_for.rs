//! End-to-end: `for ($kv : @map)` and `len(@map)` inside kernel probes
//! (`bpf_for_each_map_elem` with a callback subprogram) on the real kernel.
//! The probe fires on the read workload's first read, fills maps with known
//! keys and values, iterates them and exits; sums and counts are exact
//! whatever order the kernel visits the hash buckets in.

mod common;

use common::*;
use std::time::Duration;

fn traced(script: &str) -> String {
    let dir = std::env::temp_dir().join(format!("rtrace-kfor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One file per call: tests run in parallel threads of this process.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = dir.join(format!("kfor-{n}.rt"));
    std::fs::write(&path, script).unwrap();
    let work = ReadWorkload::spawn(&[1, 2, 3]);
    let pid = work.pid.to_string();
    let out = trace_while(
        &[path.to_str().unwrap(), &pid],
        move || work.release(),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "rtrace failed: {}", stderr(&out));
    stdout(&out)
}

const FILL: &str = "@a[1] = 10; @a[2] = 20; @a[3] = 30; @a[4] = 40;";

#[test]
fn iterates_sums_writes_maps_and_counts() {
    let out = traced(&format!(
        "tracepoint:syscalls:sys_enter_read /pid == $1/ {{ {FILL} @c[7] = count(); @c[7] = count(); \
         $s = 0; for ($kv : @a) {{ $s += $kv.1; printf(\"k%d=%d\\n\", $kv.0, $kv.1); \
         if ($kv.0 == 2) {{ if ($kv.1 == 20) {{ @w[$kv.0] = $kv.1 * 2; }} }} }} \
         for ($x : @c) {{ printf(\"c %d %d\\n\", $x.0, $x.1); }} \
         printf(\"sum=%d len=%d\\n\", $s, len(@a)); exit(); }}"
    ));
    for k in 1..=4 {
        assert!(out.contains(&format!("k{k}={}\n", k * 10)), "{out}");
    }
    assert!(out.contains("c 7 2\n"), "{out}");
    assert!(out.contains("sum=100 len=4\n"), "{out}");
    assert!(out.contains("@w[2]: 40\n"), "{out}");
}

#[test]
fn break_continue_and_return_in_the_body() {
    let out = traced(&format!(
        "tracepoint:syscalls:sys_enter_read /pid == $1/ {{ {FILL} $n = 0; $s = 0; \
         for ($kv : @a) {{ $n++; break; }} \
         for ($kv : @a) {{ if ($kv.0 == 2) {{ continue; }} $s += $kv.1; }} \
         printf(\"n=%d s=%d\\n\", $n, $s); exit(); \
         for ($kv : @a) {{ return; }} printf(\"not reached\\n\"); }}"
    ));
    assert!(out.contains("n=1 s=80\n"), "{out}");
    assert!(!out.contains("not reached"), "{out}");
}

#[test]
fn return_inside_the_body_ends_the_probe() {
    // The workload waits for its release inside a read(2), so the first
    // sys_exit_read may come before any sys_enter_read: exit only once the
    // first probe has run (it fills @a).
    let out = traced(&format!(
        "tracepoint:syscalls:sys_enter_read /pid == $1/ {{ {FILL} \
         for ($kv : @a) {{ if ($kv.0 > 0) {{ @ret = 1; return; }} }} \
         @after = 1; }} \
         tracepoint:syscalls:sys_exit_read /pid == $1 && @a[1] == 10/ {{ exit(); }}"
    ));
    assert!(out.contains("@ret: 1\n"), "{out}");
    assert!(!out.contains("@after"), "{out}");
}

fn rejected(script: &str) -> String {
    let out = run(&["-e", script], None);
    assert!(!out.status.success(), "accepted: {script}");
    stderr(&out)
}

#[test]
fn unsupported_bodies_are_refused_clearly() {
    let e = rejected(
        "tracepoint:syscalls:sys_enter_getppid { @a[1] = 1; @b[2] = 2; \
         for ($kv : @a) { for ($x : @b) { } } }",
    );
    assert!(
        e.contains("a `for` loop over a map cannot be nested in another one inside a kernel probe")
            && e.contains("stdin:1:80"),
        "{e}"
    );
    let e = rejected(
        "tracepoint:syscalls:sys_enter_openat { @a[1] = 1; for ($kv : @a) { printf(\"%d\\n\", args.flags); } }",
    );
    assert!(e.contains("cannot read the probe's context"), "{e}");
}
