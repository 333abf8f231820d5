//! End-to-end: strings beyond the 512-byte stack (the scratch map), the string
//! limit and its error, strncmp, join, `__data_loc` strings and full maps, on
//! the real kernel with syscalls whose strings the test chose.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A path of exactly `len` bytes under /tmp that does not exist, unique to
/// this test process and `tag`.
fn long_path(tag: &str, len: usize) -> String {
    let mut p = format!("/tmp/rtrace-{tag}-{}", std::process::id());
    let mut i = 0;
    while p.len() < len {
        p.push_str(&format!("/d{i:03}"));
        p.push_str(&"x".repeat(40));
        i += 1;
    }
    p.truncate(len);
    p
}

/// Open `path` (it does not exist: only the syscall matters).
fn try_open(path: &str) {
    let _ = std::fs::File::open(path);
}

/// `/bin/true` copied to a path the test chose, so exec events are recognisable.
fn copy_of_true(tag: &str) -> String {
    let path = format!("/tmp/rtrace-{tag}-{}", std::process::id());
    std::fs::copy("/bin/true", &path).expect("copy /bin/true");
    path
}

fn lines(out: &std::process::Output) -> Vec<String> {
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn a_1000_byte_user_string_prints_whole() {
    let path = long_path("long", 1000);
    let prefix = &path[..20];
    let script = format!(
        "config = {{ max_strlen = 1024 }}\n\
         tracepoint:syscalls:sys_enter_openat /strncmp(str(args->filename), \"{prefix}\", 20) == 0/ {{\n\
           printf(\"%s|%s\\n\", str(args->filename), str(args->filename, 12));\n\
           exit();\n\
         }}"
    );
    let out = trace_while(&["-e", &script], || try_open(&path), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = format!("{path}|{}", &path[..12]);
    assert!(
        lines(&out).contains(&expected),
        "expected the whole 1000-byte path:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn a_255_character_string_is_a_map_key_and_value_by_default() {
    // The default limit is 256 bytes: 255 characters and the NUL.
    let path = long_path("key", 255);
    let prefix = &path[..19];
    let script = format!(
        "tracepoint:syscalls:sys_enter_openat /strncmp(str(args->filename), \"{prefix}\", 19) == 0/ {{\n\
           @k[str(args->filename)] = count(); @v = str(args->filename); exit();\n\
         }}"
    );
    let out = trace_while(&["-e", &script], || try_open(&path), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = lines(&out);
    assert!(got.contains(&format!("@k[{path}]: 1")), "{}", stdout(&out));
    assert!(got.contains(&format!("@v: {path}")), "{}", stdout(&out));
}

#[test]
fn a_string_too_long_for_the_limit_is_an_error_with_its_span() {
    let script =
        "tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args->filename, 300)); }";
    let out = run(&["--dry-run", "-e", script], None);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("a string of 300 bytes is too long for the string limit of 256 bytes"),
        "{err}"
    );
    assert!(err.contains("BPFTRACE_STRLEN"), "{err}");
    // The caret points at the length argument.
    let caret_line = err.lines().find(|l| l.contains("^^^")).unwrap_or("");
    let source_line = err
        .lines()
        .find(|l| l.contains("str(args->filename, 300)"))
        .unwrap_or("");
    let col = source_line.find("300").expect("source line shown");
    assert_eq!(caret_line.find('^'), Some(col), "{err}");

    // BPFTRACE_STRLEN raises the limit; config too.
    let raised = Command::new(RTRACE)
        .args(["--dry-run", "-e", script])
        .env("BPFTRACE_STRLEN", "512")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(raised.status.success(), "{}", stderr(&raised));
    let config = format!("config = {{ max_strlen = 301 }} {script}");
    let out = run(&["--dry-run", "-e", &config], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // A limit out of range is an error too.
    let out = run(
        &[
            "--dry-run",
            "-e",
            "config = { max_strlen = 100000 } BEGIN { exit(); }",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`max_strlen` must be between 2 and 4096"));
}

#[test]
fn strncmp_compares_the_first_n_characters() {
    let script = "BEGIN { printf(\"%d %d %d %d %d\\n\", strncmp(\"abc\", \"abd\", 2), \
                  strncmp(\"abc\", \"abd\", 3), strncmp(\"abc\", \"abc\", 100), \
                  strncmp(\"ab\", \"abc\", 2), strncmp(\"ab\", \"abc\", 3)); exit(); }";
    let out = run(&["-e", script], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // bpftrace 0.17 prints the same line for this script.
    assert!(
        lines(&out).contains(&"0 1 0 0 1".to_string()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn join_prints_execve_arguments_on_one_line() {
    let prog = copy_of_true("join");
    let script = format!(
        "tracepoint:syscalls:sys_enter_execve /strncmp(str(args->filename), \"{prog}\", 200) == 0/ {{\n\
           join(args->argv); join(args->argv, \",\"); exit();\n\
         }}"
    );
    let exec = || {
        let mut copy = Command::new(&prog);
        copy.args(["alpha", "beta gamma", "delta"]);
        spawn_fresh_copy(&mut copy)
            .wait()
            .expect("run the copy of true");
    };
    let out = trace_while(&["-e", &script], exec, LIMIT);
    let got = lines(&out);
    let spaced = format!("{prog} alpha beta gamma delta");
    let commas = format!("{prog},alpha,beta gamma,delta");
    assert!(got.contains(&spaced), "{}\n{}", stdout(&out), stderr(&out));
    assert!(got.contains(&commas), "{}", stdout(&out));
    if let Some(bt) = bpftrace() {
        let theirs = trace_while_with(bt, &["-e", &script], exec, LIMIT);
        let theirs = lines(&theirs);
        assert!(theirs.contains(&spaced), "bpftrace: {theirs:?}");
        assert!(theirs.contains(&commas), "bpftrace: {theirs:?}");
    }
    let _ = std::fs::remove_file(&prog);
}

#[test]
fn a_data_loc_field_prints_the_exec_file_name() {
    let prog = copy_of_true("dataloc");
    // sched_process_exec's `filename` is a `__data_loc char[]` field.
    let script = format!(
        "tracepoint:sched:sched_process_exec /strncmp(args->filename, \"{prog}\", 200) == 0/ {{\n\
           printf(\"exec %s\\n\", args->filename); exit();\n\
         }}"
    );
    let out = trace_while(
        &["-e", &script],
        || {
            spawn_fresh_copy(&mut Command::new(&prog))
                .wait()
                .expect("run the copy of true");
        },
        LIMIT,
    );
    assert!(
        lines(&out).contains(&format!("exec {prog}")),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let _ = std::fs::remove_file(&prog);
}

#[test]
fn a_full_map_in_a_probe_is_reported() {
    let pid = std::process::id().to_string();
    let script = "config = { max_map_keys = 10 }\n\
         tracepoint:syscalls:sys_enter_getppid /pid == $1/ {\n\
           @k[@n] = 1; @n = @n + 1; if (@n == 20) { exit(); }\n\
         }";
    let calls = || {
        for _ in 0..20 {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
    };
    let out = trace_while(&["-e", script, &pid], calls, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let keys = lines(&out).iter().filter(|l| l.starts_with("@k[")).count();
    assert_eq!(keys, 10, "{}", stdout(&out));
    assert!(lines(&out).contains(&"@n: 20".to_string()));
    let err = stderr(&out);
    assert!(
        err.contains("WARNING: map @k is full (10 keys): new keys were dropped;"),
        "{err}"
    );
}

#[test]
fn a_full_map_in_begin_is_reported_and_the_env_var_sets_the_limit() {
    let script = "BEGIN { $i = 0; while ($i < 20) { @x[$i] = 1; $i++; } exit(); }";
    let out = Command::new(RTRACE)
        .args(["-e", script])
        .env("BPFTRACE_MAP_KEYS_MAX", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let keys = lines(&out).iter().filter(|l| l.starts_with("@x[")).count();
    assert_eq!(keys, 10, "{}", stdout(&out));
    assert!(stderr(&out).contains("WARNING: map @x is full (10 keys): 10 updates dropped;"));
    // Without the limit all 20 fit and nothing is reported.
    let out = run(&["-e", script], None);
    let keys = lines(&out).iter().filter(|l| l.starts_with("@x[")).count();
    assert_eq!(keys, 20);
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
}
