//! End-to-end: language forms of today's bpftrace tools, round 4 — kernel structs
//! held by value in variables (filelife.bt: `$d_name = $dentry->d_name;
//! str($d_name.name)`), and the errors for using a whole struct copy.

mod common;

use common::*;

/// The workload runs in the test's directory: its last path component.
fn cwd_name() -> String {
    let cwd = std::env::current_dir().unwrap();
    cwd.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn a_struct_copied_into_a_variable_reads_its_fields_from_the_copy() {
    // `struct path` (two pointers) and `struct qstr` (anonymous union with
    // `len`, then the `name` pointer) held by value, as filelife.bt does.
    let script = r#"
tracepoint:syscalls:sys_enter_read /pid == $1/ {
  $pwd = curtask->fs->pwd;
  $d_name = $pwd.dentry->d_name;
  printf("cwd=%s len=%d same=%d\n", str($d_name.name), $d_name.len,
         $pwd.dentry == curtask->fs->pwd.dentry);
  exit();
}
"#;
    let out = traced_reads(script, &[1]);
    let name = cwd_name();
    let want = format!("cwd={name} len={} same=1", name.len());
    assert!(out.lines().any(|l| l == want), "want {want:?} in {out}");
}

#[test]
fn a_struct_member_of_a_copy_is_itself_a_copy() {
    // `$fs.pwd` is a struct inside the copy of `struct fs_struct`'s head: read
    // through two levels of copies, compared with the direct pointer walk.
    let script = r#"
tracepoint:syscalls:sys_enter_read /pid == $1/ {
  $task_fs = *curtask->fs;
  $pwd = $task_fs.pwd;
  printf("match=%d nonzero=%d\n", $pwd.mnt == curtask->fs->pwd.mnt, $pwd.mnt != 0);
  exit();
}
"#;
    let out = traced_reads(script, &[1]);
    assert!(out.lines().any(|l| l == "match=1 nonzero=1"), "{out}");
}

fn dry_run_errors(script: &str) -> String {
    let path = script_file(script);
    let out = run(&["--dry-run", path.to_str().unwrap()], None);
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        stdout(&out)
    );
    stderr(&out)
}

#[test]
fn a_whole_struct_copy_cannot_be_printed_or_kept_in_a_map() {
    let err = dry_run_errors(
        r#"
tracepoint:syscalls:sys_enter_read {
  $n = curtask->fs->pwd;
  print($n);
  @m[$n] = 1;
  @v = $n;
}
"#,
    );
    assert!(err.contains("a struct copy cannot be printed"), "{err}");
    assert!(err.contains("a struct copy cannot be a map key"), "{err}");
    assert!(
        err.contains("a struct copy cannot be stored in a map"),
        "{err}"
    );
    assert!(err.contains("--> "), "errors carry a source span: {err}");
}

#[test]
fn a_struct_too_large_for_the_stack_is_refused_with_a_hint() {
    let err = dry_run_errors("tracepoint:syscalls:sys_enter_read { $t = *curtask; }\n");
    assert!(err.contains("is too large to copy"), "{err}");
    assert!(err.contains("read the fields you need instead"), "{err}");
}
