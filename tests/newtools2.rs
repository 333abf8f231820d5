//! End-to-end: language forms of today's bpftrace tools, round 2 — `macro` definitions
//! (parameters bound by name or substituted), `getopt` with named program arguments,
//! word-valued `config` settings (`missing_probes = warn`), and the errors for their misuse.

mod common;

use common::*;
use std::time::Duration;

/// Read sizes the workload issues on fd 100: 1 twice, 2 three times, 3 once.
const SIZES: [usize; 6] = [1, 1, 2, 2, 2, 3];

const READS: &str = "tracepoint:syscalls:sys_enter_read /pid == $1 && args->fd == 100/";
const EXIT: &str = "tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }";

/// Run `script` (its `$1` is the workload's pid) around the read workload.
fn traced(script: &str) -> String {
    traced_reads(script, &SIZES)
}

#[test]
fn macros_in_a_kernel_probe_bind_maps_and_variables_by_name() {
    let script = format!(
        r#"
macro tally(size, @by_size, $total) {{
  @by_size[size] = count();
  $total = $total + size;
  $scratch = size * 2;
}}
macro twice(x) {{ x * 2 }}
{READS} {{
  $sum = 0;
  tally(args->count, @sizes, $sum);
  @sum = sum($sum);
  @doubled = sum(twice(args->count));
}}
{EXIT}
END {{
  for ($kv : @sizes) {{ printf("size %d %d\n", $kv.0, $kv.1); }}
  printf("sum %d doubled %d\n", @sum, @doubled);
  clear(@sizes); clear(@sum); clear(@doubled);
}}
"#
    );
    let out = traced(&script);
    let mut sizes = lines_with(&out, "size ");
    sizes.sort();
    assert_eq!(sizes, ["size 1 2", "size 2 3", "size 3 1"]);
    // 1+1+2+2+2+3 = 11; doubled through the value macro: 22.
    assert_eq!(lines_with(&out, "sum "), ["sum 11 doubled 22"]);
}

#[test]
fn macro_expression_parameter_is_substituted_as_written() {
    // The format string of printf must stay a literal: it is substituted, not copied
    // into a variable (syscount.bt's display_map).
    let (ok, out, err) = run_script_file(
        r#"macro show(description, @map) { printf(description); print(@map); clear(@map); }
macro inner($v) { $v = $v + 1; }
macro outer($v) { inner($v); inner($v); }
BEGIN { @a[1] = 5; show("Title:\n", @a);
  $n = 1; outer($n); $tmp = 7; $scratch = 9;
  printf("n=%d tmp=%d\n", $n, $tmp); exit(); }"#,
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Title:\n@a[1]: 5\n"), "{out}");
    assert!(out.contains("n=3 tmp=7\n"), "{out}");
}

#[test]
fn macro_misuse_is_an_error_with_its_span() {
    let (ok, _, err) = run_script_file("macro m($v) { $v = 1; }\nBEGIN { m(1 + 2); exit(); }", &[]);
    assert!(!ok);
    assert!(
        err.contains("macro `m` expects a variable (`$name`) for `$v`"),
        "{err}"
    );
    assert!(err.contains("2:11"), "span: {err}");
    let (ok, _, err) = run_script_file("macro m(a) { a }\nBEGIN { $x = m(); exit(); }", &[]);
    assert!(!ok);
    assert!(err.contains("macro `m` takes 1 argument, found 0"), "{err}");
    assert!(err.contains("2:14"), "span: {err}");
}

const GETOPT: &str = r#"BEGIN {
  printf("depth=%d name=%s flag=%d\n", getopt("depth", 35), getopt("name", "none"), getopt("flag"));
  if getopt("flag") { printf("flag on\n"); }
  exit();
}"#;

#[test]
fn getopt_uses_defaults_without_program_arguments() {
    let (ok, out, err) = run_script_file(GETOPT, &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().find(|l| l.starts_with("depth")),
        Some("depth=35 name=none flag=0")
    );
    assert!(!out.contains("flag on"), "{out}");
}

#[test]
fn getopt_reads_named_program_arguments_after_double_dash() {
    let (ok, out, err) = run_script_file(GETOPT, &["--", "--depth=7", "--name=abc", "--flag"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().find(|l| l.starts_with("depth")),
        Some("depth=7 name=abc flag=1")
    );
    assert!(out.contains("flag on"), "{out}");
}

#[test]
fn getopt_rejects_a_value_of_the_wrong_type() {
    let (ok, _, err) = run_script_file(GETOPT, &["--", "--depth=deep"]);
    assert!(!ok);
    assert!(
        err.contains("program argument `--depth` must be an integer"),
        "{err}"
    );
    assert!(err.contains("2:40"), "span: {err}");
}

#[test]
fn missing_probes_warn_skips_an_attach_point_that_does_not_exist() {
    let script = format!(
        r#"config = {{ missing_probes = warn; }}
tracepoint:syscalls:sys_enter_read,
tracepoint:syscalls:sys_enter_no_such_syscall_here
/pid == $1 && args->fd == 100/ {{ @reads = count(); }}
{EXIT}
END {{ printf("reads %d\n", @reads); clear(@reads); }}
"#
    );
    let path = script_file(&script);
    let work = ReadWorkload::spawn(&SIZES);
    let pid = work.pid.to_string();
    let out = trace_while(
        &[path.to_str().unwrap(), &pid],
        move || work.release(),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "rtrace failed: {}", stderr(&out));
    assert_eq!(lines_with(&stdout(&out), "reads "), ["reads 6"]);
    assert!(
        stderr(&out).contains("sys_enter_no_such_syscall_here"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_word_values_are_checked() {
    let (ok, _, err) = run_script_file(
        "config = { missing_probes = sometimes; }\nBEGIN { exit(); }",
        &[],
    );
    assert!(!ok);
    assert!(err.contains("invalid value for `missing_probes`"), "{err}");
    assert!(err.contains("1:29"), "span: {err}");
    let (ok, _, err) = run_script_file("config = { stack_mode = perf }\nBEGIN { exit(); }", &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("config setting `stack_mode` has no effect"),
        "{err}"
    );
}
