//! `rtrace -l [pattern]` and `-lv`: what this machine offers, line for line as
//! bpftrace 0.17 prints it where bpftrace can list that probe type here.

mod common;
mod programs;

use programs::*;

fn list(args: &[&str]) -> Vec<String> {
    let out = rtrace(args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    out.stdout
}

/// `tracepoint:<category>:<name>` for every event of a tracefs category.
fn tracefs_category(category: &str) -> Vec<String> {
    ensure_tracefs();
    let dir = format!("/sys/kernel/tracing/events/{category}");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .filter(|e| e.path().join("format").exists())
        .map(|e| format!("tracepoint:{category}:{}", e.file_name().to_string_lossy()))
        .collect();
    names.sort();
    names
}

#[test]
fn tracepoints_of_a_category() {
    let lines = list(&["-l", "tracepoint:sock:*"]);
    assert_eq!(lines, tracefs_category("sock"));
    assert!(lines.contains(&"tracepoint:sock:sock_send_length".to_string()));
    assert_eq!(lines, bpftrace_list(&["-l", "tracepoint:sock:*"]));
    // Short alias and a partial name.
    assert_eq!(
        list(&["-l", "t:sock:sock_send*"]),
        ["tracepoint:sock:sock_send_length"]
    );
}

#[test]
fn tracepoint_fields_with_types() {
    assert_eq!(
        list(&["-lv", "tracepoint:sock:sock_send_length"]),
        [
            "tracepoint:sock:sock_send_length",
            "    void * sk",
            "    __u16 family",
            "    __u16 protocol",
            "    int ret",
            "    int flags",
        ]
    );
    assert_eq!(
        list(&["-lv", "tracepoint:irq:irq_handler_entry"]),
        [
            "tracepoint:irq:irq_handler_entry",
            "    int irq",
            "    __data_loc char[] name",
        ]
    );
}

#[test]
fn every_tracepoint_with_fields_matches_bpftrace() {
    let ours = list(&["-lv", "tracepoint:*"]);
    let theirs = bpftrace_list(&["-lv", "tracepoint:*"]);
    assert!(ours.len() > 1000, "{}", ours.len());
    assert_eq!(ours, theirs);
}

#[test]
fn postgres_usdt_probes_are_listed_once_each() {
    let bindir = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("PostgreSQL 15 (pg_config) is needed for the USDT listing");
    let postgres = format!(
        "{}/postgres",
        String::from_utf8_lossy(&bindir.stdout).trim()
    );
    let pattern = format!("usdt:{postgres}:*");
    let lines = list(&["-l", &pattern]);
    // 71 probe sites, 57 distinct probes: a listing names each probe once.
    assert_eq!(lines.len(), 57, "{lines:?}");
    assert!(lines.contains(&format!("usdt:{postgres}:postgresql:query__start")));
    assert_eq!(lines, bpftrace_list(&["-l", &pattern]));
    let query = list(&["-l", &format!("usdt:{postgres}:postgresql:query__st*")]);
    assert_eq!(query, [format!("usdt:{postgres}:postgresql:query__start")]);
}

#[test]
fn usdt_arguments_under_v() {
    let bin = build("usdt_target", &[]).display().to_string();
    assert_eq!(
        list(&["-lv", &format!("usdt:{bin}:*")]),
        [
            format!("usdt:{bin}:rtrace_test:locations"),
            "    int32 arg0".to_string(),
            "    int32 arg1".to_string(),
            "    int64 arg2".to_string(),
            "    int8 arg3".to_string(),
            format!("usdt:{bin}:rtrace_test:narrow"),
            "    int16 arg0".to_string(),
            "    int8 arg1".to_string(),
            format!("usdt:{bin}:rtrace_test:tick"),
            "    int64 arg0".to_string(),
            "    int32 arg1".to_string(),
            "    uint64 arg2".to_string(),
        ]
    );
}

#[test]
fn uprobes_of_a_library_by_short_name() {
    let ours = list(&["-l", "uprobe:libc:get*"]);
    assert!(
        ours.iter().any(|l| l.ends_with(".so.6:getaddrinfo")),
        "{ours:?}"
    );
    assert!(ours.iter().all(|l| l.starts_with("uprobe:/")));
    assert_eq!(ours, bpftrace_list(&["-l", "uprobe:libc:get*"]));
    let bin = build("uprobe_target", &[]).display().to_string();
    assert_eq!(
        list(&["-l", &format!("uprobe:{bin}:rt_*")]),
        [
            format!("uprobe:{bin}:rt_add"),
            format!("uprobe:{bin}:rt_greet"),
            format!("uprobe:{bin}:rt_negate"),
        ]
    );
}

#[test]
fn software_hardware_kprobes_and_raw_tracepoints() {
    let software = list(&["-l", "software:*"]);
    for event in ["cpu-clock", "page-faults", "context-switches", "task-clock"] {
        assert!(
            software.contains(&format!("software:{event}:")),
            "{software:?}"
        );
    }
    assert!(list(&["-l", "h:*"]).contains(&"hardware:cpu-cycles:".to_string()));
    // Kernel functions come from kallsyms.
    assert!(list(&["-l", "kprobe:tcp_sendm*"]).contains(&"kprobe:tcp_sendmsg".to_string()));
    let raw = list(&["-l", "rawtracepoint:sched_sw*"]);
    assert!(
        raw.contains(&"rawtracepoint:sched_switch".to_string()),
        "{raw:?}"
    );
    // A bare word matches probe names of every kernel probe type.
    let bare = list(&["-l", "sock_send_len*"]);
    assert_eq!(
        bare,
        [
            "rawtracepoint:sock_send_length",
            "tracepoint:sock:sock_send_length"
        ]
    );
}

#[test]
fn everything_without_a_pattern() {
    let all = list(&["-l"]);
    let tracepoints: Vec<String> = all
        .iter()
        .filter(|l| l.starts_with("tracepoint:"))
        .cloned()
        .collect();
    let theirs: Vec<String> = bpftrace_list(&["-l"])
        .into_iter()
        .filter(|l| l.starts_with("tracepoint:"))
        .collect();
    assert_eq!(tracepoints, theirs);
    assert!(all.iter().any(|l| l.starts_with("kprobe:")));
    assert!(all.contains(&"software:cpu-clock:".to_string()));
}

#[test]
fn listing_errors() {
    let out = rtrace(&["-l", "uprobe:/no/such/file:*"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("/no/such/file does not exist"),
        "{out:?}"
    );
    let out = rtrace(&["-l", "bogus:x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("unknown probe type `bogus`"), "{out:?}");
}
