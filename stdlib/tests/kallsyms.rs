//! Kernel symbols against the real `/proc/kallsyms` of this machine.

use rtrace_stdlib::symbols::{ksym, ksymoff, KernelSymbols};

/// The address kallsyms lists for `name`, read independently of the parser.
fn kallsyms_address(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/kallsyms").expect("read /proc/kallsyms");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in kallsyms"));
    u64::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap()
}

#[test]
fn resolves_a_known_kernel_function() {
    let addr = kallsyms_address("tcp_v4_rcv");
    assert_ne!(addr, 0, "kallsyms addresses are hidden: run as root");
    assert_eq!(ksym(addr), "tcp_v4_rcv");
    assert_eq!(ksym(addr + 5), "tcp_v4_rcv");
    let off = ksymoff(addr + 0xa);
    assert!(off.starts_with("tcp_v4_rcv+0xa/0x"), "{off}");
    assert!(off.ends_with(" [kernel]"), "{off}");
    assert_eq!(KernelSymbols::kernel().address_of("tcp_v4_rcv"), Some(addr));
}

#[test]
fn sizes_end_at_the_next_functions_padding() {
    // The kernel prints the same size in stack traces (`%pB`): up to `__pfx_next`.
    let start = kallsyms_address("tcp_v4_rcv");
    let syms = KernelSymbols::kernel();
    let sym = syms.lookup(start).expect("tcp_v4_rcv");
    let end = start + sym.size.expect("size");
    let next = syms.lookup(end).expect("next symbol");
    assert_eq!(next.addr, end);
    assert!(next.name.starts_with("__pfx_"), "{}", next.name);
}

#[test]
fn loading_kallsyms_reads_every_text_symbol() {
    // Load time (~29 ms in release builds, most of it the kernel generating the
    // file) belongs to benchmarks, not to an assertion on a shared machine.
    let syms = KernelSymbols::load().expect("load kallsyms");
    assert!(syms.len() > 10_000, "only {} symbols", syms.len());
}
