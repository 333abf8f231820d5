//! fentry/fexit probes (`kfunc:`, `kretfunc:`, `fentry:`, `fexit:`, `f:`, `fr:`):
//! the kernel functions an attach point names, checked against the kernel's BTF.
//!
//! Their arguments are typed from BTF exactly like raw tracepoint arguments (a
//! u64 context slot per argument, `retval` after the last one in fexit). The
//! program is loaded with the function's BTF id and attached with
//! `BPF_RAW_TRACEPOINT_OPEN` (runtime `attach.rs`).

use crate::ast::Span;
use crate::btf::Kind;
use crate::check::kernel_types::KernelTypes;
use crate::diag::Diagnostic;
use crate::probes::{Resolved, Target};
use crate::tracefs;

/// Why fentry and fexit programs do not run on kernels like this one (measured:
/// `BPF_PROG_LOAD` of a `BPF_TRACE_FENTRY` program returns EPERM before the
/// verifier runs, while raw tracepoints and `tp_btf` programs load).
pub const KERNEL_REFUSES: &str = "kernels may refuse fentry/fexit programs: on rtrace's \
     development machine (Linux 6.18) BPF_PROG_LOAD returns EPERM for them before \
     verification, while raw tracepoints load";

/// The function an fentry attach point names, and whether it is fexit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FentryPoint {
    pub function: String,
    pub module: Option<String>,
    pub ret: bool,
}

/// Split `kfunc:[module:]function` into its parts.
pub fn parse(parts: &[&str], span: Span) -> Result<FentryPoint, Diagnostic> {
    let ret = matches!(parts[0], "kretfunc" | "fexit" | "fr");
    let (module, function) = match parts.len() {
        2 => (None, parts[1]),
        3 => (Some(parts[1].to_string()), parts[2]),
        _ => {
            return Err(
                Diagnostic::error(span, format!("expected `{}:<function>`", parts[0]))
                    .with_label("malformed attach point"),
            )
        }
    };
    if function.is_empty() {
        return Err(Diagnostic::error(span, "expected a kernel function name"));
    }
    Ok(FentryPoint {
        function: function.to_string(),
        module,
        ret,
    })
}

/// Kernel functions BTF describes whose names match `pattern` (wildcards allowed).
pub fn matching_functions(kernel: &mut KernelTypes, pattern: &str) -> Vec<String> {
    let Some(btf) = kernel.btf() else {
        return Vec::new();
    };
    let mut names: Vec<String> = btf
        .names_of_kind(Kind::Func)
        .into_iter()
        .map(|(_, n)| n)
        .filter(|n| tracefs::glob_match(pattern, n))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Drops functions ftrace cannot hook (no trampoline can attach to them), when
/// the kernel lets us read its list; a named function is left to the loader's error.
fn keep_traceable(functions: &mut Vec<String>) {
    let Some(root) = tracefs::root() else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(root.join("available_filter_functions")) else {
        return;
    };
    let traceable: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    functions.retain(|f| traceable.contains(f.as_str()));
}

/// Resolve an fentry/fexit attach point: one probe per kernel function of that
/// name (or matching that wildcard) in the kernel's BTF.
pub fn resolve(parts: &[&str], span: Span) -> Result<Vec<Resolved>, Diagnostic> {
    let point = parse(parts, span)?;
    let mut kernel = KernelTypes::new();
    if !kernel.available() {
        return Err(Diagnostic::error(
            span,
            "fentry/fexit probes need the kernel's BTF (/sys/kernel/btf/vmlinux), which this kernel lacks",
        )
        .with_label("no BTF"));
    }
    let mut found = matching_functions(&mut kernel, &point.function);
    if tracefs::has_wildcard(&point.function) {
        keep_traceable(&mut found);
    }
    if found.is_empty() {
        return Err(Diagnostic::error(
            span,
            format!(
                "no kernel function `{}` in the kernel's BTF",
                point.function
            ),
        )
        .with_label("unknown function")
        .with_note("list them with: rtrace -l 'kprobe:*'"));
    }
    let kind = if point.ret { "kretfunc" } else { "kfunc" };
    Ok(found
        .into_iter()
        .map(|function| Resolved {
            name: format!("{kind}:{function}"),
            target: Target::Fentry {
                function,
                module: point.module.clone(),
                ret: point.ret,
            },
        })
        .collect())
}
