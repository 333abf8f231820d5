//! Script settings from a `config = { ... }` block and their limits.

use super::Options;
use crate::ast::ConfigItem;
use crate::diag::Diagnostic;

/// Largest `str()` capacity: strings this big live in the per-CPU scratch map,
/// whose value the kernel caps at 32 KiB; a few such strings must fit at once.
pub const MAX_STRLEN: u32 = 4096;
/// Smallest capacity that holds one character and the NUL.
pub const MIN_STRLEN: u32 = 2;
/// Largest `max_map_keys`: bounded so a typo cannot ask the kernel for gigabytes.
pub const MAX_MAP_KEYS: u32 = 1 << 24;

/// Apply one `config` entry whose value is the integer `value`.
pub fn apply(item: &ConfigItem, value: u64, opts: &mut Options) -> Result<(), Diagnostic> {
    let in_range = |lo: u32, hi: u32| -> Result<u32, Diagnostic> {
        match u32::try_from(value) {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v),
            _ => Err(Diagnostic::error(
                item.value.span,
                format!("`{}` must be between {lo} and {hi}", item.key),
            )
            .with_label(format!("{value} is out of range"))),
        }
    };
    match item.key.to_ascii_lowercase().as_str() {
        "max_strlen" | "strlen" | "bpftrace_strlen" | "bpftrace_max_strlen" => {
            opts.strlen = in_range(MIN_STRLEN, MAX_STRLEN)?;
        }
        "max_map_keys" | "bpftrace_map_keys_max" | "map_keys_max" => {
            opts.map_keys_max = in_range(1, MAX_MAP_KEYS)?;
        }
        _ => {
            return Err(Diagnostic::error(
                item.span,
                format!("unknown config setting `{}`", item.key),
            )
            .with_label("unknown setting")
            .with_note("known settings: max_strlen, max_map_keys"))
        }
    }
    Ok(())
}
