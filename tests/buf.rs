//! End-to-end: `buf()` printed with `%r`, as a map key and value, `strcontains()`
//! in a probe and in BEGIN, and their checker errors, on the real kernel with
//! bytes this test process writes itself.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Bytes covering NUL, DEL, 0xff, quotes, backslash and a newline.
const BYTES: &[u8] = b"a\"b\\c\x00\x7f\xff\x01 ~Z\n";
/// How bpftrace 0.17 prints `BYTES` with `%r`.
const ESCAPED: &str = "a\"b\\c\\x00\\x7f\\xff\\x01 ~Z\\x0a";

/// One write(2) of `data` to /dev/null.
fn write_null(data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    f.write_all(data).expect("write");
}

/// A script that catches this process's write of `len` bytes.
fn on_write(len: usize, body: &str) -> String {
    format!(
        "tracepoint:syscalls:sys_enter_write /pid == {} && args->count == {len}/ {{ {body} }}",
        std::process::id()
    )
}

fn lines(out: &std::process::Output) -> Vec<String> {
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn percent_r_escapes_non_printable_bytes_like_bpftrace() {
    let script = on_write(
        BYTES.len(),
        r#"printf("[%r]\n", buf(args->buf, args->count)); @v = buf(args->buf, 5); print(buf(args->buf, 2)); exit();"#,
    );
    let out = trace_while(&["-e", &script], || write_null(BYTES), LIMIT);
    let got = lines(&out);
    let want = [
        format!("[{ESCAPED}]"),
        "a\"".to_string(),
        "@v: a\"b\\c".to_string(),
    ];
    for w in &want {
        assert!(
            got.contains(w),
            "missing {w:?} in {got:?}\n{}",
            stderr(&out)
        );
    }
    if let Some(bt) = bpftrace() {
        let theirs = trace_while_with(bt, &["-e", &script], || write_null(BYTES), LIMIT);
        let theirs = lines(&theirs);
        for w in &want {
            assert!(theirs.contains(w), "bpftrace: {theirs:?}");
        }
    }
}

#[test]
fn a_runtime_length_beyond_the_string_limit_is_clipped() {
    let data = vec![b'q'; 40];
    let script = format!(
        "config = {{ max_strlen = 16 }}\n{}",
        on_write(
            data.len(),
            r#"printf("<%r>\n", buf(args->buf, args->count)); exit();"#
        )
    );
    let out = trace_while(&["-e", &script], || write_null(&data), LIMIT);
    let want = format!("<{}>", "q".repeat(16));
    assert!(
        lines(&out).contains(&want),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn buffers_are_map_keys_by_content() {
    let script = on_write(
        7,
        r#"@[buf(args->buf, 3)] = count(); if (@[buf(args->buf, 3)] == 2) { exit(); }"#,
    );
    let out = trace_while(
        &["-e", &script],
        || {
            write_null(b"x\x00wqqqq");
            write_null(b"x\x00yzzzz");
            write_null(b"x\x00yqqqq");
        },
        LIMIT,
    );
    let got = lines(&out);
    assert!(
        got.contains(&"@[x\\x00y]: 2".to_string()),
        "{got:?}\n{}",
        stderr(&out)
    );
    assert!(got.contains(&"@[x\\x00w]: 1".to_string()), "{got:?}");
}

#[test]
fn strcontains_in_a_probe() {
    let script = on_write(
        11,
        r#"$s = str(args->buf, 11); printf("%d %d %d %d\n", strcontains($s, "lo wo"), strcontains($s, "low"), strcontains($s, ""), strcontains(str($s, 4), comm)); exit();"#,
    );
    let out = trace_while(&["-e", &script], || write_null(b"hello world"), LIMIT);
    assert!(
        lines(&out).contains(&"1 0 1 0".to_string()),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn strcontains_in_begin() {
    let script = r#"BEGIN { $h = "hello world"; $n = "o w"; $m = "ow"; $e = "";
        printf("%d %d %d %d %d %d %d\n", strcontains($h, "world"), strcontains($h, "worlds"),
          strcontains($h, $n), strcontains($h, $m), strcontains($h, $e), strcontains("", "a"),
          strcontains($h, "hello world")); exit(); }"#;
    let out = run(&["-e", script], None);
    assert!(
        stdout(&out).contains("1 0 1 0 1 0 1\n"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn checker_rejects_bad_buf_and_strcontains_arguments() {
    let cases = [
        (
            r#"BEGIN { printf("%r\n", buf("ab", 2)); }"#,
            "buf() reads memory at an address, not a string[3]",
        ),
        (
            r#"BEGIN { printf("%r\n", buf(0, 1000)); }"#,
            "a buffer of 1000 bytes is too long for the limit of 256 bytes",
        ),
        (
            r#"BEGIN { printf("%r\n", buf(0, 0)); }"#,
            "the length of buf() must be at least 1",
        ),
        (
            r#"BEGIN { printf("%s\n", buf(0, 2)); }"#,
            "%s specifier expects a value of type string (buffer supplied)",
        ),
        (
            r#"BEGIN { printf("%d\n", strcontains(1, "a")); }"#,
            "strcontains() searches strings, not int64",
        ),
        (
            r#"BEGIN { $a = str(0); $b = str(0); printf("%d\n", strcontains($a, $b)); }"#,
            "byte compares",
        ),
    ];
    for (script, msg) in cases {
        let out = run(&["--dry-run", "-e", script], None);
        assert!(!out.status.success(), "{script} was accepted");
        let err = stderr(&out);
        assert!(err.contains(msg), "{script}: {err}");
        // One error each, with a source line.
        assert_eq!(err.matches("error:").count(), 1, "{script}: {err}");
        assert!(err.contains("stdin:1:"), "{script}: {err}");
    }
}

#[test]
fn undump_passes_a_dry_run() {
    let out = run(&["--dry-run", "/usr/sbin/undump.bt"], None);
    assert!(out.status.success(), "{}", stderr(&out));
}
