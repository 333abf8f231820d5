//! Shape check of an attach point's text. The grammar accepts a loose run of characters so
//! that mistakes can be reported here in words; what the parts mean is the checker's job.

use crate::ast::Span;
use crate::diag::Diagnostic;

/// Checks that `text` looks like `type[:part...]`: the probe type is a name and no part is
/// empty. Parts may be quoted (`uprobe:"/a b:c":f`).
pub fn check_attach_point(text: &str, span: Span) -> Result<(), Diagnostic> {
    let parts = split_parts(text);
    let bad = |why: &str| {
        Diagnostic::error(span, format!("invalid attach point `{text}`"))
            .with_label(why.to_string())
            .with_note("attach points look like `tracepoint:syscalls:sys_enter_openat`, `kprobe:vfs_read`, `BEGIN`")
    };
    let probe_type = parts.first().copied().unwrap_or("");
    if !is_name(probe_type) {
        return Err(bad(
            "it must start with a probe type such as `kprobe` or `tracepoint`",
        ));
    }
    if text.ends_with(':') {
        return Err(bad("it ends with `:`"));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("it has an empty part between two `:`"));
    }
    Ok(())
}

/// Splits at `:` outside double quotes.
fn split_parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
