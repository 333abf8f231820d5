//! Bare record names in casts: `(nameidata *)arg0` names `struct nameidata`
//! when no typedef or integer type of that name exists (dcsnoop.bt).

use super::kernel_types::{Handle, LookupError};
use super::*;

impl Checker {
    /// `name` as written, else `struct name`, else `union name`; the first
    /// error is kept so its suggestion still refers to what was written.
    pub(super) fn lookup_type_or_record(&mut self, name: &str) -> Result<Handle, LookupError> {
        let first = match self.kernel.lookup(name) {
            Err(e @ LookupError::Unknown { .. }) if is_bare_identifier(name) => e,
            other => return other,
        };
        for tag in ["struct", "union"] {
            if let Ok(h) = self.kernel.lookup(&format!("{tag} {name}")) {
                return Ok(h);
            }
        }
        Err(first)
    }
}

/// A single C identifier (no `struct ` prefix, no spaces).
fn is_bare_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
