//! Symbol values on the real kernel: `usym(addr)` resolved through the
//! probed process's memory map (`usym(reg("ip"))`, `usym(arg0)` of a
//! function pointer argument), and `ksymoff(addr)`.

mod common;
mod programs;

use programs::*;

fn target() -> String {
    build("syms_target", &[]).display().to_string()
}

#[test]
fn usym_names_the_probed_function_and_a_function_pointer_argument() {
    let bin = target();
    // The program sleeps after the probed call, as in bpftrace's own use:
    // the event is handled while the process lives; maps print after it exited.
    let script = format!(
        "uprobe:{bin}:sy_apply {{
            printf(\"<%s> <%s>\\n\", usym(reg(\"ip\")), usym(arg0));
            @fn[usym(arg0)] = count();
            @ip = usym(reg(\"ip\"));
        }}"
    );
    let out = rtrace(&["-c", &format!("{bin} 200"), "-e", &script]);
    assert!(out.status.success(), "{out:?}");
    let s = &out.stdout;
    // bpftrace 0.17 prints the bare name, without an offset.
    assert!(s.contains(&"<sy_apply> <sy_double>".to_string()), "{s:#?}");
    assert!(s.contains(&"@fn[sy_double]: 1".to_string()), "{s:#?}");
    assert!(s.contains(&"@ip: sy_apply".to_string()), "{s:#?}");
}

#[test]
fn usym_of_an_unknown_address_is_hex() {
    // BEGIN runs in rtrace itself: address 0x10 is in no mapping of it.
    let out = rtrace(&["-e", "BEGIN { printf(\"%s\\n\", usym(0x10)); exit(); }"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(&"0x10".to_string()), "{out:?}");
}

/// `name+0xoff/0xsize [kernel]` for `addr`, computed straight from
/// /proc/kallsyms: the last text symbol at or below `addr`, its size the
/// distance to the next text symbol of the kernel image.
fn expected_ksymoff(addr: u64) -> String {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let mut syms: Vec<(u64, String)> = text
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let a = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            let name = f.next()?.to_string();
            let text_symbol = !"bBdDrR".contains(kind);
            (a != 0 && text_symbol && f.next().is_none()).then_some((a, name))
        })
        .collect();
    syms.sort_by_key(|s| s.0);
    let i = syms.partition_point(|s| s.0 <= addr) - 1;
    let (start, name) = &syms[i];
    let size = syms[i + 1..]
        .iter()
        .find(|s| s.0 > *start)
        .map(|s| s.0 - start)
        .unwrap();
    format!("{name}+{:#x}/{size:#x} [kernel]", addr - start)
}

fn kallsyms_address(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (a, _, n) = (f.next()?, f.next()?, f.next()?);
            (n == name).then(|| u64::from_str_radix(a, 16).unwrap())
        })
        .unwrap()
}

#[test]
fn ksymoff_of_kaddr_plus_an_offset_matches_kallsyms() {
    let script = "BEGIN {
        printf(\"<%s>\\n\", ksymoff(kaddr(\"tcp_v4_rcv\") + 0xaa));
        @at = ksymoff(kaddr(\"vfs_read\"));
        exit();
    }";
    let out = rtrace(&["-e", script]);
    assert!(out.status.success(), "{out:?}");
    let tcp = expected_ksymoff(kallsyms_address("tcp_v4_rcv") + 0xaa);
    assert!(tcp.starts_with("tcp_v4_rcv+0xaa/0x"), "{tcp}");
    assert!(out.stdout.contains(&format!("<{tcp}>")), "{out:?}");
    let read = expected_ksymoff(kallsyms_address("vfs_read"));
    assert!(read.starts_with("vfs_read+0x0/0x"), "{read}");
    assert!(out.stdout.contains(&format!("@at: {read}")), "{out:?}");
}

#[test]
fn ksymoff_of_kernel_stack_frames_names_the_same_functions_as_kstack() {
    // The frames of a getpid syscall, as `address symbol+decimal offset`.
    let bin = build("stack_target", &[]).display().to_string();
    let script =
        "tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { printf(\"%s\", kstack(perf, 3)); }";
    let out = rtrace(&["-c", &bin, "-e", script]);
    assert!(out.status.success(), "{out:?}");
    let frames: Vec<(u64, String)> = out
        .stdout
        .iter()
        .filter_map(|l| {
            let (addr, sym) = l.strip_prefix('\t')?.split_once(' ')?;
            Some((u64::from_str_radix(addr, 16).ok()?, sym.to_string()))
        })
        .collect();
    assert_eq!(frames.len(), 3, "{out:?}");
    // Kernel addresses stay put: ksymoff of each in a second run.
    let prints: Vec<String> = frames
        .iter()
        .map(|(a, _)| format!("printf(\"<%s>\\n\", ksymoff({a:#x}));"))
        .collect();
    let script = format!("BEGIN {{ {} exit(); }}", prints.join(" "));
    let out = rtrace(&["-e", &script]);
    assert!(out.status.success(), "{out:?}");
    for (addr, sym) in &frames {
        let want = expected_ksymoff(*addr);
        assert!(out.stdout.contains(&format!("<{want}>")), "{want} {out:?}");
        // kstack's `name+decimal` names the same symbol and offset.
        let (name, off) = sym.rsplit_once('+').unwrap();
        let off: u64 = off.parse().unwrap();
        assert!(
            want.starts_with(&format!("{name}+{off:#x}/")),
            "{want} vs {sym}"
        );
    }
}

#[test]
fn ksymoff_needs_an_integer() {
    let out = rtrace(&["--dry-run", "-e", "BEGIN { print(ksymoff(\"x\")); }"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("the argument of ksymoff() must be an integer"),
        "{}",
        out.stderr
    );
}

#[test]
fn user_symbols_of_a_command_that_exits_at_once_resolve() {
    // No sleep: the command exits right after the probe, before rtrace reads
    // the event. Its memory map is saved at its exit (ptrace exit stop).
    // Frame pointers let the kernel walk the user stack past the first frame.
    let bin = build("syms_target", &["-fno-omit-frame-pointer"])
        .display()
        .to_string();
    let script = format!(
        "uprobe:{bin}:sy_apply {{
            printf(\"<%s> <%s>\\n\", usym(reg(\"ip\")), usym(arg0));
            @[ustack(2)] = count();
        }}"
    );
    for _ in 0..3 {
        let out = rtrace(&["-c", &bin, "-e", &script]);
        assert!(out.status.success(), "{out:?}");
        let s = &out.stdout;
        assert!(s.contains(&"<sy_apply> <sy_double>".to_string()), "{s:#?}");
        let at = s.iter().position(|l| l == "@[").expect("ustack key");
        assert_eq!(s[at + 1], "    sy_apply+0", "{s:#?}");
        assert!(s[at + 2].starts_with("    main+"), "{s:#?}");
    }
}

#[test]
fn a_traced_command_still_gets_its_signals_and_job_control_stops() {
    // The command traps USR1 and is stopped and continued from outside while
    // rtrace follows it for its exit.
    let script = "trap 'echo got-usr1' USR1; i=0; \
                  while [ $i -lt 40 ]; do i=$((i+1)); sleep 0.05; done; echo done";
    let command = format!("sh -c \"{script}\"");
    let mut tracer = std::process::Command::new(RTRACE)
        .args([
            "-c",
            &command,
            "-e",
            "BEGIN { printf(\"cpid %d\\n\", cpid); }",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::new(tracer.stdout.take().unwrap());
    let line = lines.expect("cpid ", std::time::Duration::from_secs(10));
    let pid: i32 = line["cpid ".len()..].parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let state = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit_once(") ").unwrap().1.chars().next().unwrap())
            .unwrap()
    };
    // SAFETY: signalling the test's own grandchild.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(matches!(state(pid), 't' | 'T'), "{}", state(pid));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(matches!(state(pid), 'S' | 'R'), "{}", state(pid));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let rest = lines.rest();
    assert!(rest.contains(&"got-usr1".to_string()), "{rest:?}");
    assert!(rest.contains(&"done".to_string()), "{rest:?}");
    assert!(tracer.wait().unwrap().success());
}
