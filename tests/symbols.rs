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
