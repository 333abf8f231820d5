//! C type definitions in scripts: a struct the script declares itself is laid out by
//! the C rules and read on the real kernel (a uprobe on a test program whose record
//! the test knows), and it shadows the kernel's BTF type of the same name.

mod common;
mod programs;

use programs::*;

const DEFINITIONS: &str = "
#include <linux/types.h>
struct inner { short a; int b; };
struct rec {
    char tag;
    long value;
    unsigned int low : 3, high : 9;
    struct inner pairs[2];
    char name[6];
    const char *label;
};
";

#[test]
fn a_script_struct_reads_a_known_record_field_by_field() {
    let bin = build("cdefs_target", &[]).display().to_string();
    let script = format!(
        "{DEFINITIONS}
         uprobe:{bin}:rt_take {{
             $r = (struct rec *)arg0;
             printf(\"%c %d %d %d %d %d %s %s %d\\n\", $r->tag, $r->value, $r->low, $r->high,
                    $r->pairs[1].a, $r->pairs[1].b, $r->name, str($r->label), sizeof(struct rec));
         }}"
    );
    let out = rtrace(&["-c", &bin, "-e", &script]);
    assert!(out.status.success(), "{out:?}");
    // The program prints its own `sizeof` (gcc's layout) when it is done.
    assert!(out.stdout.iter().any(|l| l == "done 56"), "{out:?}");
    let lines: Vec<&str> = out
        .stdout
        .iter()
        .map(String::as_str)
        .filter(|l| !l.is_empty() && !l.starts_with("done"))
        .collect();
    assert_eq!(
        lines,
        [
            "Attaching 1 probe...",
            "b -1000 1 101 -7 70000 n1 odd 56",
            "c -2000 2 102 -14 140000 n2 even 56",
            "d -3000 3 103 -21 210000 n3 odd 56",
        ],
        "{}",
        out.stderr
    );
}

#[test]
fn a_script_definition_shadows_the_kernel_type() {
    // The kernel's `struct file` is far larger; the script's own wins, as in bpftrace.
    let out = rtrace(&[
        "--dry-run",
        "-e",
        "struct file { int only; char rest[12]; }
         BEGIN { printf(\"%d %d\\n\", sizeof(struct file), offsetof(struct file, rest)); exit(); }",
    ]);
    assert!(out.status.success(), "{out:?}");
    let run = rtrace(&[
        "-e",
        "struct file { int only; char rest[12]; }
         BEGIN { printf(\"%d %d\\n\", sizeof(struct file), offsetof(struct file, rest)); exit(); }",
    ]);
    assert_eq!(run.stdout[..2], ["Attaching 1 probe...", "16 4"], "{run:?}");
}

#[test]
fn a_bad_definition_is_an_error_at_its_text() {
    let out = rtrace(&["-e", "struct x { struct nosuch y; };\nBEGIN { exit(); }"]);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("unknown type `struct nosuch` in C definition")
            && out.stderr.contains("stdin:1:12"),
        "{}",
        out.stderr
    );
}
