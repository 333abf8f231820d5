//! `kstack` / `ustack` on the real kernel: a test program with a known call
//! chain (main → st_outer → st_middle → st_inner → getpid), its kernel stack
//! from the getpid tracepoint, its user stack from a uprobe, in every mode,
//! with limits, in printf and as map keys printed after the process exited.

mod common;
mod programs;

use programs::*;

/// The stack test program, with frame pointers so the kernel can walk it.
fn target() -> String {
    build("stack_target", &["-fno-omit-frame-pointer"])
        .display()
        .to_string()
}

/// The lines of the stack printed as `@name[` … `]: N`, without the indent.
fn key_stack(stdout: &[String], name: &str) -> Vec<String> {
    let start = stdout
        .iter()
        .position(|l| l == &format!("{name}["))
        .unwrap_or_else(|| panic!("no {name}[ in {stdout:#?}"));
    stdout[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with(']') && !l.starts_with(", "))
        .cloned()
        .collect()
}

/// `name+123` → `name`.
fn function_of(frame: &str) -> &str {
    frame
        .trim()
        .rsplit_once('+')
        .map_or(frame.trim(), |(f, _)| f)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn kernel_stack_of_a_syscall_in_every_mode_and_depth() {
    let bin = target();
    let script = "tracepoint:syscalls:sys_enter_getpid /pid == cpid/ {
        @full[kstack] = count();
        @three[kstack(3)] = count();
        @perf[kstack(perf, 2)] = count();
        @raw[kstack(raw, 2)] = count();
    }";
    let out = rtrace(&["-c", &bin, "-e", script]);
    assert!(out.status.success(), "{out:?}");
    let full = key_stack(&out.stdout, "@full");
    // From the tracepoint's handler down to the syscall entry, by kallsyms name.
    let names: Vec<&str> = full.iter().map(|f| function_of(f)).collect();
    assert_eq!(names.first(), Some(&"perf_syscall_enter"), "{full:?}");
    assert!(names.contains(&"do_syscall_64"), "{full:?}");
    assert!(
        names.last().unwrap().starts_with("entry_SYSCALL_64"),
        "{full:?}"
    );
    for frame in &full {
        let (name, off) = frame.trim().rsplit_once('+').unwrap();
        assert!(frame.starts_with("    ") && !frame.starts_with("     "));
        assert!(!name.is_empty() && off.parse::<u64>().is_ok(), "{frame}");
    }
    // kstack(3) keeps the first three frames of the same stack.
    assert_eq!(key_stack(&out.stdout, "@three"), full[..3].to_vec());
    // perf: a tab, the address, the symbol; raw: the same addresses alone.
    let perf = key_stack(&out.stdout, "@perf");
    let raw = key_stack(&out.stdout, "@raw");
    assert_eq!((perf.len(), raw.len()), (2, 2), "{perf:?} {raw:?}");
    for i in 0..2 {
        let (addr, sym) = perf[i].strip_prefix('\t').unwrap().split_once(' ').unwrap();
        assert!(is_hex(addr) && addr.len() == 16, "{}", perf[i]);
        assert_eq!(sym, full[i].trim());
        assert_eq!(raw[i], format!("    {addr}"));
    }
    assert!(out.stdout.contains(&"]: 1".to_string()), "{out:?}");
}

#[test]
fn user_stack_names_the_call_chain_in_printf_and_perf_mode() {
    let bin = target();
    // The program sleeps after the probed call, so the event is handled while
    // it is alive; the map is printed after it exited.
    let script = format!(
        "uprobe:{bin}:st_inner {{
            printf(\"[%s]\\n\", ustack);
            printf(\"<%s>\\n\", ustack(perf, 3));
            @[ustack(4), comm] = count();
        }}"
    );
    let out = rtrace(&["-c", &format!("{bin} 200"), "-e", &script]);
    assert!(out.status.success(), "{out:?}");
    let s = &out.stdout;
    let open = s.iter().position(|l| l == "[").expect("printf of ustack");
    let frames: Vec<&str> = s[open + 1..]
        .iter()
        .take_while(|l| *l != "]")
        .map(String::as_str)
        .collect();
    assert_eq!(frames[0], "        st_inner+0", "{s:#?}");
    let names: Vec<&str> = frames.iter().map(|f| function_of(f)).collect();
    assert_eq!(&names[..4], ["st_inner", "st_middle", "st_outer", "main"]);
    assert!(
        frames.iter().all(|f| f.starts_with("        ")),
        "{frames:?}"
    );

    let perf_at = s.iter().position(|l| l == "<").expect("perf printf");
    let perf: Vec<&String> = s[perf_at + 1..].iter().take_while(|l| *l != ">").collect();
    assert_eq!(perf.len(), 3, "{perf:?}");
    for (line, name) in perf.iter().zip(["st_inner", "st_middle", "st_outer"]) {
        let rest = line
            .strip_prefix('\t')
            .expect("perf frames start with a tab");
        let (addr, rest) = rest.split_once(' ').unwrap();
        assert!(is_hex(addr), "{line}");
        assert!(rest.starts_with(&format!("{name}+")), "{line}");
        assert!(rest.ends_with(&format!(" ({bin})")), "{line}");
    }

    // The process is gone when maps print: the stack still resolves.
    let key = key_stack(s, "@");
    let names: Vec<&str> = key.iter().map(|f| function_of(f)).collect();
    assert_eq!(
        names,
        ["st_inner", "st_middle", "st_outer", "main"],
        "{s:#?}"
    );
    assert!(key
        .iter()
        .all(|f| f.starts_with("    ") && !f.starts_with("     ")));
    let file = std::path::Path::new(&bin)
        .file_name()
        .unwrap()
        .to_string_lossy();
    let comm: String = file.chars().take(15).collect();
    assert!(s.contains(&format!(", {comm}]: 1")), "{s:#?}");
}

#[test]
fn bad_stack_arguments_are_errors_with_spans() {
    for (script, msg) in [
        (
            "profile:hz:99 { @[kstack(fancy)] = count(); }",
            "unknown stack mode `fancy`",
        ),
        (
            "profile:hz:99 { @[ustack(perf, 0)] = count(); }",
            "a stack limit must be between 1 and 127, not 0",
        ),
        (
            "profile:hz:99 { @[kstack(500)] = count(); }",
            "a stack limit must be between 1 and 127, not 500",
        ),
        (
            "BEGIN { print(kstack); }",
            "`kstack` is only available in kernel probes",
        ),
    ] {
        let out = rtrace(&["--dry-run", "-e", script]);
        assert!(!out.status.success(), "{script}");
        assert!(out.stderr.contains(msg), "{script}: {}", out.stderr);
    }
}
