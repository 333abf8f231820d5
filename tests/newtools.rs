//! End-to-end: language forms that today's bpftrace tools (newer than 0.17) use,
//! each exercised by a small script of its own on the real kernel: `delete(@m, key)`
//! (key possibly a tuple), script `#define` constants, casts to a script-defined
//! struct named without `struct`, and the checker's errors for their misuse.

mod common;

use common::*;

/// Read sizes the workload issues on fd 100: 1 twice, 2 three times, 3 once.
const SIZES: [usize; 6] = [1, 1, 2, 2, 2, 3];

const READS: &str = "tracepoint:syscalls:sys_enter_read /pid == $1 && args->fd == 100/";
const EXIT: &str = "tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }";

/// Run `script` (its `$1` is the workload's pid) around the read workload.
fn traced(script: &str) -> String {
    traced_reads(script, &SIZES)
}

/// Run a script that ends by itself.
fn run_script(script: &str) -> (bool, String, String) {
    run_script_file(script, &[])
}

/// The lines of `out` that start with `prefix`, in order.

#[test]
fn delete_with_key_argument_in_kernel_probes() {
    let script = format!(
        r#"{READS} {{
    @n[args->count] = count();
    @pair[args->fd, args->count] = count();
    $key = (args->fd, args->count);
    if (args->count == 3) {{
        delete(@n, 1);
        delete(@pair, $key);
    }}
}}
{EXIT}
END {{
    for ($kv : @n) {{ printf("n %d %d\n", $kv.0, $kv.1); }}
    for ($kv : @pair) {{ printf("pair %d,%d %d\n", $kv.0.0, $kv.0.1, $kv.1); }}
    clear(@n); clear(@pair);
}}
"#
    );
    let out = traced(&script);
    // The read of 3 bytes deleted @n[1] and its own (100, 3) entry.
    assert_eq!(lines_with(&out, "n "), ["n 2 3", "n 3 1"]);
    assert_eq!(lines_with(&out, "pair "), ["pair 100,2 3", "pair 100,1 2"]);
}

#[test]
fn delete_with_key_argument_in_begin() {
    let (ok, out, err) = run_script(
        r#"BEGIN { @a[1] = 10; @a[2] = 20; @b[1, "x"] = 5; @b[2, "y"] = 6;
  delete(@a, 1); delete(@b, (2, "y"));
  print(@a); print(@b); clear(@a); clear(@b); exit(); }"#,
    );
    assert!(ok, "{err}");
    let entries: Vec<&str> = out.lines().filter(|l| l.starts_with('@')).collect();
    assert_eq!(entries, ["@a[2]: 20", "@b[1, x]: 5"]);
}

#[test]
fn delete_rejects_a_key_given_twice() {
    let (ok, _, err) = run_script("BEGIN { @a[1] = 1; delete(@a[1], 1); exit(); }");
    assert!(!ok);
    assert!(err.contains("delete() got a key twice"), "{err}");
    assert!(err.contains("1:20"), "span: {err}");
}

#[test]
fn script_defines_are_integer_constants() {
    let script = format!(
        r#"#include <linux/fs.h>
#define SIZE_TWO 0x2
#define MINUS (-7)
#define SAME SIZE_TWO
#define MAX(a, b) ((a) > (b) ? (a) : (b))
{READS} {{ if (args->count == SIZE_TWO) {{ @two = count(); }} }}
{EXIT}
END {{ printf("two %d %d %d\n", @two, MINUS, SAME); clear(@two); }}
"#
    );
    let out = traced(&script);
    assert_eq!(lines_with(&out, "two "), ["two 3 -7 2"]);
}

#[test]
fn function_like_define_stays_unknown() {
    let (ok, _, err) = run_script(
        "#define MAX(a, b) ((a) > (b) ? (a) : (b))\nBEGIN { printf(\"%d\\n\", MAX); exit(); }",
    );
    assert!(!ok);
    assert!(err.contains("unknown identifier `MAX`"), "{err}");
}

/// The NUMA node of the CPU `cpu`, from sysfs (`nodeN/cpuM` links).
fn numa_node_of(cpu: u32) -> u32 {
    std::fs::read_dir("/sys/devices/system/node")
        .expect("/sys/devices/system/node")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let node: u32 = name.strip_prefix("node")?.parse().ok()?;
            e.path().join(format!("cpu{cpu}")).exists().then_some(node)
        })
        .next()
        .expect("every CPU belongs to a node")
}

#[test]
fn numaid_is_the_node_of_the_cpu_in_probes_and_user_space() {
    let script = format!(
        "{READS} {{ @node[cpu] = numaid; }}\n{EXIT}\n\
         BEGIN {{ printf(\"begin %d\\n\", numaid); }}"
    );
    let out = traced(&script);
    let cpus: Vec<(u32, u32)> = out
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("@node[")?;
            let (cpu, node) = rest.split_once("]: ")?;
            Some((cpu.parse().ok()?, node.trim().parse().ok()?))
        })
        .collect();
    assert!(!cpus.is_empty(), "{out}");
    for (cpu, node) in cpus {
        assert_eq!(node, numa_node_of(cpu), "cpu {cpu}: {out}");
    }
    let begin = lines_with(&out, "begin ");
    assert_eq!(begin.len(), 1, "{out}");
    let node: u32 = begin[0]["begin ".len()..].parse().unwrap();
    assert!(
        std::path::Path::new(&format!("/sys/devices/system/node/node{node}")).exists(),
        "{out}"
    );
}
