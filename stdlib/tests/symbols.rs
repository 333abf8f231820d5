//! Symbol lookup and `ksymoff` formatting on an injected kallsyms table.

use rtrace_stdlib::symbols::{KernelSymbols, Resolver, SystemResolver};

/// Lines in /proc/kallsyms format, in file order (data symbols included, as
/// the kernel lists them when KALLSYMS_ALL is on).
const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff820938a0 T __pfx_tcp_v4_rcv
ffffffff820938b0 T tcp_v4_rcv
ffffffff82094180 d tcp_data_thing
ffffffff82094cb0 T __pfx_tcp4_proc_exit
ffffffff82094cc0 T tcp4_proc_exit
ffffffff83780000 T _sinittext
ffffffff83780000 t __pfx_set_reset_devices
ffffffff83780010 t set_reset_devices
ffffffffc0201000 t ftrace_trampoline\t[__builtin__ftrace]
ffffffffc0a00000 t nf_hook_slow\t[nf_tables]
ffffffffc0a00100 t nf_hook_fast\t[nf_tables]
";

fn table() -> KernelSymbols {
    KernelSymbols::parse(KALLSYMS.to_string())
}

#[test]
fn ksymoff_has_offset_size_and_owner() {
    let t = table();
    assert_eq!(
        t.ksymoff(0xffffffff820938b0 + 0xaa),
        "tcp_v4_rcv+0xaa/0x1400 [kernel]"
    );
    assert_eq!(
        t.ksymoff(0xffffffff820938b0),
        "tcp_v4_rcv+0x0/0x1400 [kernel]"
    );
    assert_eq!(
        t.ksymoff(0xffffffffc0a00010),
        "nf_hook_slow+0x10/0x100 [nf_tables]"
    );
    // The last symbol of a module has no known size.
    assert_eq!(
        t.ksymoff(0xffffffffc0a00104),
        "nf_hook_fast+0x4 [nf_tables]"
    );
    // A symbol followed by another owner's symbol has no size either.
    assert_eq!(
        t.ksymoff(0xffffffffc0201008),
        "ftrace_trampoline+0x8 [__builtin__ftrace]"
    );
    assert_eq!(t.ksymoff(0x1000), "0x1000");
}

#[test]
fn padding_symbols_end_the_previous_function() {
    let t = table();
    let sym = t.lookup(0xffffffff820938b0).unwrap();
    assert_eq!(
        sym.size,
        Some(0x1400),
        "tcp_v4_rcv ends where __pfx_tcp4_proc_exit starts"
    );
    assert_eq!(t.ksym(0xffffffff82094cb4), "__pfx_tcp4_proc_exit");
}

#[test]
fn ksym_follows_bcc_rules() {
    let t = table();
    // Data symbols are not kept: the address falls to the function before.
    assert_eq!(t.ksym(0xffffffff82094190), "tcp_v4_rcv");
    // Of several symbols at one address, the last listed wins.
    assert_eq!(t.ksym(0xffffffff83780004), "__pfx_set_reset_devices");
    // Far above the last symbol still resolves to it; below the first is hex.
    assert_eq!(t.ksym(0xffffffffffff0000), "nf_hook_fast");
    assert_eq!(t.ksym(1), "0x1");
    assert_eq!(t.len(), 11);
}

#[test]
fn system_resolver_names_probes_by_index() {
    let r = SystemResolver {
        probes: vec!["BEGIN".to_string(), "interval:s:1".to_string()],
    };
    assert_eq!(r.probe_name(1), "interval:s:1");
    assert_eq!(r.probe_name(7), "7");
    assert_eq!(r.usym(0x401126, None), "0x401126");
}
