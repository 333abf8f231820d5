//! fentry/fexit probes (`kfunc:`, `kretfunc:`, `fentry:`, `fexit:`, `f:`, `fr:`):
//! the kernel function and its BTF signature, and why such a probe cannot be
//! compiled here.
//!
//! Their arguments are typed from BTF exactly like raw tracepoint arguments (a
//! u64 context slot per argument, `retval` after the last one in fexit); the
//! checker's `context_arg` already does that typing. What is missing is a
//! `Target` for them: the probe target enum is matched exhaustively by the
//! pipeline's section naming and by the runtime's attach code, which this part
//! of the compiler does not own. Until then an fentry attach point is resolved
//! far enough to give precise errors (unknown function, wildcard without match)
//! and otherwise stops with a clear one.

use crate::ast::Span;
use crate::btf::Kind;
use crate::check::kernel_types::KernelTypes;
use crate::diag::Diagnostic;
use crate::probes::Resolved;
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

/// Resolve an fentry/fexit attach point: check the function exists in BTF,
/// then report why the probe cannot be compiled.
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
    let found = matching_functions(&mut kernel, &point.function);
    let Some(first) = found.first() else {
        return Err(Diagnostic::error(
            span,
            format!(
                "no kernel function `{}` in the kernel's BTF",
                point.function
            ),
        )
        .with_label("unknown function")
        .with_note("list them with: rtrace -l 'kprobe:*'"));
    };
    let kind = if point.ret { "fexit" } else { "fentry" };
    let signature = kernel
        .function_args(first)
        .map(|(params, _)| {
            let names: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
            format!("{first}({})", names.join(", "))
        })
        .unwrap_or_else(|| first.clone());
    Err(Diagnostic::error(
        span,
        format!("{kind} probes cannot be compiled by this version of rtrace"),
    )
    .with_label(format!("{kind} of {signature}"))
    .with_note(format!(
        "{KERNEL_REFUSES}; use a tracepoint (e.g. tracepoint:sock:sock_send_length for \
         tcp_sendmsg) or rawtracepoint:<name>, whose `args` are typed from BTF too"
    )))
}
