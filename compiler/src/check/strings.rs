//! Checking of the string and buffer builtins.

use crate::ast::Span;
use crate::diag::Diagnostic;

/// `str(p, n)` asked for more bytes than the string limit allows.
pub(super) fn too_long(span: Span, n: i64, strlen: u32) -> Diagnostic {
    Diagnostic::error(
        span,
        format!("a string of {n} bytes is too long for the string limit of {strlen} bytes"),
    )
    .with_label(format!("at most {strlen}"))
    .with_note("raise the limit with BPFTRACE_STRLEN=N or `config = { max_strlen = N }`")
}
