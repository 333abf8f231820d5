//! `BPF_LINK_CREATE` for the functions of a wildcard kprobe block at once
//! (`kprobe_multi`, Linux 5.18 with `CONFIG_FPROBE`), and the per-function
//! fallback: one perf kprobe each, the program attached through a perf link
//! carrying the function's cookie.
//!
//! Why: one link is one ftrace registration instead of one kprobe (and one
//! slow detach) per function.

use crate::attach::{os_error, probe_pmu, AttachError, AttachTarget};
use crate::loader::LoadedProgram;
use crate::multi_link::attach_perf_link;
use crate::sys::{self, PerfEventAttr};
use rtrace_compiler::kprobe_multi::KprobeSites;
use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

const BPF_LINK_CREATE: libc::c_long = 28;
/// `enum bpf_attach_type`: `BPF_TRACE_KPROBE_MULTI`.
pub const BPF_TRACE_KPROBE_MULTI: u32 = 42;
/// `BPF_F_KPROBE_MULTI_RETURN`: the functions are probed on return.
const BPF_F_KPROBE_MULTI_RETURN: u32 = 1;
/// Functions ftrace can hook (a `kprobe_multi` link accepts only these).
const FILTER_FUNCTIONS: &str = "/sys/kernel/tracing/available_filter_functions";

/// `union bpf_attr` as `BPF_LINK_CREATE` reads it for `kprobe_multi`.
#[repr(C)]
#[derive(Default)]
struct KprobeMultiAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    multi_flags: u32,
    cnt: u32,
    syms: u64,
    addrs: u64,
    cookies: u64,
}

/// Attaches `prog` (loaded expecting [`BPF_TRACE_KPROBE_MULTI`]) to every
/// function in `syms`, with `cookies[i]` for `syms[i]`; closing the fd detaches
/// them all.
pub fn attach_kprobe_multi(
    prog: BorrowedFd<'_>,
    syms: &[CString],
    cookies: &[u64],
    retprobe: bool,
) -> io::Result<OwnedFd> {
    assert_eq!(syms.len(), cookies.len());
    let pointers: Vec<u64> = syms.iter().map(|s| s.as_ptr() as u64).collect();
    let attr = KprobeMultiAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_TRACE_KPROBE_MULTI,
        multi_flags: if retprobe {
            BPF_F_KPROBE_MULTI_RETURN
        } else {
            0
        },
        cnt: syms.len() as u32,
        syms: pointers.as_ptr() as u64,
        cookies: cookies.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid `#[repr(C)]` prefix of `union bpf_attr` for
    // BPF_LINK_CREATE; the arrays and strings it points to (`pointers`, `syms`,
    // `cookies`) outlive the call and the kernel only reads them.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_CREATE,
            &attr as *const KprobeMultiAttr,
            std::mem::size_of::<KprobeMultiAttr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether this kernel creates `kprobe_multi` links: asks for one on a
/// function that does not exist. Without the feature the kernel refuses the
/// link type (EOPNOTSUPP, or EINVAL before 5.18); with it, the symbol.
pub fn kprobe_multi_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(prog) = load_probe_program(BPF_TRACE_KPROBE_MULTI) else {
            return false;
        };
        let syms = [c"rtrace_no_such_function".to_owned()];
        match attach_kprobe_multi(prog.as_fd(), &syms, &[0], false) {
            Ok(_) => true,
            Err(e) => matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)),
        }
    })
}

/// Whether kprobe programs may call `bpf_get_attach_cookie` and
/// `bpf_get_func_ip` (Linux 5.15), which a merged wildcard program needs even
/// when it attaches per function.
pub fn attach_cookies_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| load_probe_program(0).is_ok())
}

/// `r6 = r1; call get_attach_cookie; r1 = r6; call get_func_ip; r0 = 0; exit`
/// as a kprobe program expecting `expected_attach_type`.
fn load_probe_program(expected_attach_type: u32) -> io::Result<OwnedFd> {
    crate::multi_link::load_kprobe_words(
        &[
            0x0000_0000_0000_16bf,
            0x0000_00ae_0000_0085,
            0x0000_0000_0000_61bf,
            0x0000_00ad_0000_0085,
            0x0000_0000_0000_00b7,
            0x0000_0000_0000_0095,
        ],
        expected_attach_type,
    )
}

/// The functions ftrace can hook, if the kernel lists them.
fn ftrace_functions() -> Option<HashSet<String>> {
    let text = std::fs::read_to_string(FILTER_FUNCTIONS).ok()?;
    let names = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    Some(names)
}

/// Opens the attachment of an [`AttachTarget::KprobeMulti`]: one link for the
/// functions ftrace can hook when the program was loaded for it and the
/// kernel agrees, per-function perf kprobes for the rest (or for all).
pub(crate) fn open_kprobe_multi(
    prog: &LoadedProgram,
    target: &AttachTarget,
) -> Result<Vec<OwnedFd>, AttachError> {
    let AttachTarget::KprobeMulti { sites, retprobe } = target else {
        unreachable!("only called for KprobeMulti targets")
    };
    let mut rest: Vec<&(String, u64)> = sites.iter().collect();
    let mut fds = Vec::new();
    if prog.expected_attach_type() == BPF_TRACE_KPROBE_MULTI {
        let hookable = ftrace_functions();
        let (linked, others): (Vec<_>, Vec<_>) = sites
            .iter()
            .partition(|(f, _)| hookable.as_ref().is_none_or(|h| h.contains(f)));
        let syms: Vec<CString> = linked
            .iter()
            .filter_map(|(f, _)| CString::new(f.as_str()).ok())
            .collect();
        let cookies: Vec<u64> = linked.iter().map(|s| s.1).collect();
        if !syms.is_empty() && syms.len() == cookies.len() {
            if let Ok(fd) = attach_kprobe_multi(prog.fd(), &syms, &cookies, *retprobe) {
                fds.push(fd);
                rest = others;
            }
        }
    }
    fds.extend(per_function_links(prog.fd(), &rest, *retprobe, target)?);
    if fds.is_empty() {
        return Err(AttachError::NoKernelFunction {
            function: rest.first().map_or_else(String::new, |s| s.0.clone()),
        });
    }
    Ok(fds)
}

/// One perf kprobe per function, each with a perf link carrying its cookie.
/// Functions the kernel cannot probe are left out with a warning on stderr, in
/// the words the CLI uses for a wildcard probe that fails to attach.
fn per_function_links(
    prog: BorrowedFd<'_>,
    sites: &[&(String, u64)],
    retprobe: bool,
    target: &AttachTarget,
) -> Result<Vec<OwnedFd>, AttachError> {
    if sites.is_empty() {
        return Ok(Vec::new());
    }
    let pmu = probe_pmu("kprobe").ok_or(AttachError::NoKprobes)?;
    let mut fds = Vec::with_capacity(sites.len() * 2);
    for (function, cookie) in sites.iter().map(|s| (&s.0, s.1)) {
        let Ok(c_function) = CString::new(function.as_str()) else {
            continue;
        };
        let mut attr = PerfEventAttr::new(pmu.kind, pmu.config(retprobe));
        attr.config1 = c_function.as_ptr() as u64;
        attr.sample_period_or_freq = 1;
        attr.wakeup_events = 1;
        attr.flags = sys::PERF_ATTR_DISABLED;
        let event = match sys::perf_event_open(&attr, -1, 0) {
            Ok(event) => event,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) => {
                let kind = if retprobe { "kretprobe" } else { "kprobe" };
                eprintln!("WARNING: cannot attach {kind}:{function}: {e}");
                continue;
            }
            Err(e) => return Err(os_error(target, e)),
        };
        let link =
            attach_perf_link(prog, event.as_fd(), cookie).map_err(|e| os_error(target, e))?;
        sys::perf_event_enable(event.as_fd()).map_err(|e| os_error(target, e))?;
        fds.push(link);
        fds.push(event);
    }
    Ok(fds)
}

/// The runtime's attach description of a multi-function program.
pub fn attach_target(sites: &KprobeSites) -> AttachTarget {
    AttachTarget::KprobeMulti {
        sites: sites
            .sites
            .iter()
            .map(|s| (s.function.clone(), s.cookie))
            .collect(),
        retprobe: sites.ret,
    }
}
