//! End-to-end: language forms of today's bpftrace tools, round 3 — `syscall_name(nr)`
//! as a printed value and map key (syscount.bt), and the errors for its misuse.

mod common;

use common::*;

/// Run a script that ends by itself.
fn run_script(script: &str) -> (bool, String, String) {
    run_script_file(script, &[])
}

/// The count printed for key `key` of a `@name[key]: N` map.
fn map_count(out: &str, map: &str, key: &str) -> Option<u64> {
    let prefix = format!("{map}[{key}]: ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|n| n.trim().parse().unwrap())
}

#[test]
fn syscall_name_keys_a_map_by_the_names_of_the_traced_calls() {
    let script = r#"
tracepoint:raw_syscalls:sys_enter /pid == $1/ { @calls[syscall_name(args.id)] = count(); }
tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }
"#;
    // Seven reads of fd 100 after the release (one more may be the blocked pipe read).
    let out = traced_reads(script, &[1, 2, 3, 4, 5, 6, 7]);
    let reads = map_count(&out, "@calls", "read").unwrap_or_else(|| panic!("{out}"));
    assert!((7..=8).contains(&reads), "{out}");
    assert_eq!(map_count(&out, "@calls", "exit_group"), Some(1), "{out}");
    // No key printed as a bare number: every call the workload makes has a name.
    assert!(
        !out.lines()
            .any(|l| l.starts_with("@calls[") && l[7..].starts_with(|c: char| c.is_ascii_digit())),
        "{out}"
    );
}

#[test]
fn syscall_name_prints_syscall_names_and_unknown_numbers_as_numbers() {
    let (ok, out, err) = run_script(
        r#"BEGIN {
  printf("<%s> <%s> <%s> <%s>\n", syscall_name(0), syscall_name(4), syscall_name(166), syscall_name(100000));
  $nr = 59;
  @by[syscall_name($nr)] = count();
  @by[syscall_name(1)] = count();
  @by[syscall_name(1)] = count();
  @last = syscall_name(257);
  exit();
}"#,
    );
    assert!(ok, "{err}");
    // Syscall names, not tracepoint names (`newstat`, `umount`).
    assert!(out.contains("<read> <stat> <umount2> <100000>\n"), "{out}");
    assert_eq!(map_count(&out, "@by", "execve"), Some(1), "{out}");
    assert_eq!(map_count(&out, "@by", "write"), Some(2), "{out}");
    assert!(out.contains("@last: openat\n"), "{out}");
}

#[test]
fn syscall_name_needs_one_integer_argument() {
    let (ok, _, err) = run_script("BEGIN {\n  print(syscall_name(\"read\"));\n}");
    assert!(!ok);
    assert!(
        err.contains("the argument of syscall_name() must be an integer"),
        "{err}"
    );
    assert!(err.contains("2:22"), "span: {err}");
    let (ok, _, err) = run_script("BEGIN { print(syscall_name()); }");
    assert!(!ok);
    assert!(err.contains("syscall_name() takes 1 argument"), "{err}");
    assert!(err.contains("1:15"), "span: {err}");
}

#[test]
fn casts_to_bare_record_names_find_structs_unions_and_script_structs() {
    let script = r#"
struct pair { int a; int b; }
tracepoint:syscalls:sys_enter_read /pid == $1 && args.fd == 100/ {
  $t = (task_struct *)curtask;
  $u = (bpf_attr *)0;
  $p = (pair *)0;
  printf("tgid %d pid %d\n", $t->tgid, pid);
  printf("union %d %d\n", sizeof(*$u), sizeof(union bpf_attr));
  printf("pair %d\n", sizeof(*$p));
  exit();
}
"#;
    let out = traced_reads(script, &[1]);
    let tgid = out
        .lines()
        .find(|l| l.starts_with("tgid "))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = tgid.split(' ').collect();
    assert_eq!(words[1], words[3], "{out}");
    assert_ne!(words[1], "0", "{out}");
    let union = out.lines().find(|l| l.starts_with("union ")).unwrap();
    let sizes: Vec<u64> = union[6..].split(' ').map(|n| n.parse().unwrap()).collect();
    assert!(sizes[0] > 0 && sizes[0] == sizes[1], "{out}");
    assert!(out.contains("pair 8\n"), "{out}");
}

#[test]
fn a_cast_to_an_unknown_bare_name_is_an_error_with_its_span() {
    let (ok, _, err) = run_script("BEGIN {\n  $x = (no_such_record_t *)0;\n}");
    assert!(!ok);
    assert!(err.contains("unknown type `no_such_record_t`"), "{err}");
    assert!(err.contains("2:9"), "span: {err}");
}

#[test]
fn integers_computed_from_kernel_pointers_stay_kernel_addresses_when_cast_back() {
    // In a syscall tracepoint, pointers made from plain integers point to user
    // memory; these integers come from a kernel pointer, so they must not.
    let script = r#"
tracepoint:syscalls:sys_enter_read /pid == $1 && args.fd == 100/ {
  $vfsmnt = curtask.fs.pwd.mnt;
  $mnt = (struct mount *)(((uint64)$vfsmnt) - offsetof(struct mount, mnt));
  $addr = (uint64)$vfsmnt;
  $back = $addr - offsetof(struct mount, mnt);
  $via_var = (struct mount *)$back;
  printf("root %d same %d %d\n", $vfsmnt.mnt_root != 0,
         $mnt.mnt.mnt_root == $vfsmnt.mnt_root, $via_var.mnt.mnt_root == $vfsmnt.mnt_root);
  exit();
}
"#;
    let out = traced_reads(script, &[1]);
    assert!(out.contains("root 1 same 1 1\n"), "{out}");
}

#[test]
fn string_indexing_reads_bytes_of_kernel_read_strings_and_literals() {
    let script = r#"
tracepoint:syscalls:sys_enter_read /pid == $1 && args.fd == 100/ {
  $c = comm;
  $path = "/proc";
  printf("first %d slash %d abs %d\n", $c[0], "/"[0], $path[0] == "/"[0]);
  printf("same %d\n", $c[0] == (uint8)str(comm)[0]);
  if ($path[1] != "/"[0]) { printf("second is %c\n", $path[1]); }
  printf("end %d\n", $path[5]);
  exit();
}
"#;
    let out = traced_reads(script, &[1]);
    // The workload is a fork of this test thread: its comm's first byte.
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let first = comm.as_bytes()[0];
    assert!(
        out.contains(&format!("first {first} slash 47 abs 1\n")),
        "{out}"
    );
    assert!(out.contains("same 1\n"), "{out}");
    assert!(out.contains("second is p\n"), "{out}");
    assert!(out.contains("end 0\n"), "{out}");
}

#[test]
fn string_index_errors_name_the_index() {
    let (ok, _, err) = run_script("BEGIN {\n  $s = \"ab\"; $i = 1;\n  print($s[$i]);\n}");
    assert!(!ok);
    assert!(err.contains("a string index must be a constant"), "{err}");
    assert!(err.contains("3:12"), "span: {err}");
    let (ok, _, err) = run_script("BEGIN { $s = \"ab\"; print($s[3]); }");
    assert!(!ok);
    assert!(
        err.contains("index 3 is out of bounds for a string of capacity 3"),
        "{err}"
    );
    assert!(err.contains("1:29"), "span: {err}");
}

#[test]
fn string_indexing_works_in_begin_blocks_too() {
    let (ok, out, err) =
        run_script("BEGIN { $s = \"/etc\"; printf(\"%d %d %c\\n\", $s[0] == \"/\"[0], $s[4], $s[1]); exit(); }");
    assert!(ok, "{err}");
    assert!(out.contains("1 0 e\n"), "{out}");
}
