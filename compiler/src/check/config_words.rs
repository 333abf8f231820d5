//! `config` settings whose value is a word or a string (`missing_probes = warn`,
//! `license = "GPL"`): bpftrace's known keys are accepted, their values checked, and
//! `missing_probes` applied; the others have no rtrace equivalent and are ignored with a
//! warning.

use crate::ast::{ConfigItem, ExprKind, Program};
use crate::diag::Diagnostic;

/// What to do with an attach point that does not resolve (`missing_probes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissingProbes {
    /// Report and skip it, when another attach point of its probe resolved.
    Warn,
    /// Skip it silently, when another attach point of its probe resolved.
    Ignore,
    /// The default: an error.
    #[default]
    Error,
}

/// Keys taking a word from a fixed list, with that list.
const WORD_SETTINGS: &[(&str, &[&str])] = &[
    ("missing_probes", &["ignore", "warn", "error"]),
    ("stack_mode", &["bpftrace", "perf", "raw"]),
    ("symbol_source", &["dwarf", "symbol_table"]),
    ("cache_user_symbols", &["per_program", "per_pid", "none"]),
    ("print_maps_on_exit", &["true", "false"]),
    ("cpp_demangle", &["true", "false"]),
    ("lazy_symbolication", &["true", "false"]),
    ("show_debug_info", &["true", "false"]),
    ("use_blocking_uprobes", &["true", "false"]),
    ("unstable_macro", &["enable", "warn", "error"]),
    ("unstable_map_decl", &["enable", "warn", "error"]),
    ("unstable_import", &["enable", "warn", "error"]),
    ("unstable_tseries", &["enable", "warn", "error"]),
    ("unstable_addr", &["enable", "warn", "error"]),
];

/// Keys taking any string.
const STRING_SETTINGS: &[&str] = &["license", "str_trunc_trailer"];

/// The word or string of a non-integer config value, if it is one.
pub fn word(item: &ConfigItem) -> Option<String> {
    match &item.value.kind {
        ExprKind::Ident(w) => Some(w.clone()),
        ExprKind::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

/// Checks a word-valued entry: `Ok(Some(warning))` when accepted but without effect.
pub fn check(item: &ConfigItem, value: &str) -> Result<Option<Diagnostic>, Diagnostic> {
    let key = item.key.to_ascii_lowercase();
    let key = key.strip_prefix("bpftrace_").unwrap_or(&key);
    if STRING_SETTINGS.contains(&key) {
        return Ok(Some(ignored(item)));
    }
    let Some((_, allowed)) = WORD_SETTINGS.iter().find(|(k, _)| *k == key) else {
        return Err(
            Diagnostic::error(item.span, format!("unknown config setting `{}`", item.key))
                .with_label("unknown setting"),
        );
    };
    if !allowed.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(Diagnostic::error(
            item.value.span,
            format!("invalid value for `{}`", item.key),
        )
        .with_label(format!("`{value}` is not one of: {}", allowed.join(", "))));
    }
    Ok((key != "missing_probes").then(|| ignored(item)))
}

fn ignored(item: &ConfigItem) -> Diagnostic {
    Diagnostic::warning(
        item.span,
        format!("config setting `{}` has no effect in rtrace", item.key),
    )
    .with_label("accepted and ignored")
}

/// The script's `missing_probes` setting.
pub fn missing_probes(program: &Program) -> MissingProbes {
    let setting = program
        .config
        .iter()
        .filter(|item| item.key.eq_ignore_ascii_case("missing_probes"))
        .filter_map(word)
        .next_back();
    match setting.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("warn") => MissingProbes::Warn,
        Some("ignore") => MissingProbes::Ignore,
        _ => MissingProbes::Error,
    }
}
