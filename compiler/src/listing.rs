//! `rtrace -l [pattern]`: the probes this machine offers, one per line, spelled
//! as attach points (`tracepoint:sock:sock_send_length`), with their arguments
//! under `-v` (tracepoint fields, USDT argument types).

use crate::probes;
use crate::tracefs::{self, glob_match};
use crate::userspace::{self, usdt::UsdtSite};
use std::collections::BTreeMap;

/// `software:` events as perf names them.
const SOFTWARE: &[&str] = &[
    "alignment-faults",
    "bpf-output",
    "context-switches",
    "cpu-clock",
    "cpu-migrations",
    "dummy",
    "emulation-faults",
    "major-faults",
    "minor-faults",
    "page-faults",
    "task-clock",
];

/// `hardware:` events as perf names them.
const HARDWARE: &[&str] = &[
    "backend-stalls",
    "branch-instructions",
    "branch-misses",
    "bus-cycles",
    "cache-misses",
    "cache-references",
    "cpu-cycles",
    "frontend-stalls",
    "instructions",
    "ref-cycles",
];

/// The probe types a listing pattern can name, by their full names.
const KERNEL_TYPES: &[&str] = &[
    "hardware",
    "kprobe",
    "rawtracepoint",
    "software",
    "tracepoint",
];

/// The lines of `rtrace -l [pattern]` (`-lv` when `verbose`). `pid` resolves
/// library short names through that process's maps, as for probes.
pub fn list(pattern: Option<&str>, verbose: bool, pid: Option<i32>) -> Result<Vec<String>, String> {
    let pattern = pattern.map(str::trim).filter(|p| !p.is_empty());
    let Some(pattern) = pattern else {
        return Ok(kernel_probes("*", verbose));
    };
    if !pattern.contains(':') {
        // A bare word matches probe names (the last part) of every kernel type.
        let by_name = format!("*:{pattern}");
        return Ok(kernel_probes(&by_name, verbose));
    }
    let (kind, rest) = pattern.split_once(':').unwrap_or((pattern, ""));
    match full_type(kind) {
        Some("uprobe") => uprobes(rest, pid),
        Some("usdt") => usdt_probes(rest, verbose, pid),
        Some(t) => Ok(kernel_probes(&format!("{t}:{rest}"), verbose)),
        None if tracefs::has_wildcard(kind) => Ok(kernel_probes(pattern, verbose)),
        None => Err(format!("unknown probe type `{kind}` in `{pattern}`")),
    }
}

fn full_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "U" | "usdt" => "usdt",
        "t" | "tracepoint" => "tracepoint",
        "k" | "kprobe" => "kprobe",
        "rt" | "rawtracepoint" => "rawtracepoint",
        "s" | "software" => "software",
        "h" | "hardware" => "hardware",
        "u" | "uprobe" => "uprobe",
        _ => return None,
    })
}

/// Every kernel-side probe whose full name matches the glob `pattern`, sorted
/// by type then name.
fn kernel_probes(pattern: &str, verbose: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for kind in KERNEL_TYPES {
        let prefix = format!("{kind}:");
        // Skip whole types the pattern cannot match (kallsyms is large).
        let type_part = pattern.split(':').next().unwrap_or("*");
        if !glob_match(type_part, kind) {
            continue;
        }
        match *kind {
            "tracepoint" => tracepoints(pattern, verbose, &mut lines),
            "kprobe" => lines.extend(
                probes::kernel_functions_matching("*")
                    .into_iter()
                    .map(|f| format!("{prefix}{f}"))
                    .filter(|l| glob_match(pattern, l)),
            ),
            "rawtracepoint" => lines.extend(
                probes::raw_tracepoint_names("*")
                    .into_iter()
                    .map(|n| format!("{prefix}{n}"))
                    .filter(|l| glob_match(pattern, l)),
            ),
            "software" | "hardware" => {
                let names = if *kind == "software" {
                    SOFTWARE
                } else {
                    HARDWARE
                };
                lines.extend(
                    names.iter().map(|n| format!("{prefix}{n}:")).filter(|l| {
                        glob_match(pattern, l) || glob_match(pattern, &l[..l.len() - 1])
                    }),
                );
            }
            _ => {}
        }
    }
    lines
}

/// Tracepoints sorted by their full name, as bpftrace prints them (`fib6:…`
/// before `fib:…`). `ftrace:*` events cannot be attached and are left out.
fn tracepoints(pattern: &str, verbose: bool, lines: &mut Vec<String>) {
    let Some(root) = tracefs::root() else {
        return;
    };
    let mut found: Vec<(String, String, String)> = tracefs::matching(&root, "*", "*")
        .into_iter()
        .filter(|(category, _)| category != "ftrace")
        .map(|(c, n)| (format!("tracepoint:{c}:{n}"), c, n))
        .filter(|(line, _, _)| glob_match(pattern, line))
        .collect();
    found.sort();
    for (line, category, name) in found {
        lines.push(line);
        if verbose {
            let path = root
                .join("events")
                .join(&category)
                .join(&name)
                .join("format");
            let text = std::fs::read_to_string(path).unwrap_or_default();
            lines.extend(
                field_declarations(&text)
                    .into_iter()
                    .map(|d| format!("    {d}")),
            );
        }
    }
}

/// A format file's field declarations as written (`char prev_comm[16]`,
/// `__data_loc char[] name`), without the `common_*` header fields.
pub fn field_declarations(format: &str) -> Vec<String> {
    format
        .lines()
        .filter_map(|l| l.trim().strip_prefix("field:"))
        .filter_map(|l| l.split(';').next())
        .map(str::trim)
        .filter(|decl| {
            let name = decl.rsplit(' ').next().unwrap_or(decl);
            !name.starts_with("common_")
        })
        .map(str::to_string)
        .collect()
}

/// Split `bin[:a[:b]]`, honouring double quotes around the binary.
fn binary_and_rest(rest: &str) -> (String, Vec<String>) {
    let (bin, tail) = match rest.strip_prefix('"').and_then(|r| r.split_once('"')) {
        Some((bin, tail)) => (bin.to_string(), tail.trim_start_matches(':')),
        None => match rest.split_once(':') {
            Some((bin, tail)) => (bin.to_string(), tail),
            None => (rest.to_string(), ""),
        },
    };
    let parts = if tail.is_empty() {
        Vec::new()
    } else {
        tail.split(':').map(str::to_string).collect()
    };
    (bin, parts)
}

/// `uprobe:bin[:glob]`: the binary's functions.
fn uprobes(rest: &str, pid: Option<i32>) -> Result<Vec<String>, String> {
    let (bin, parts) = binary_and_rest(rest);
    let func = parts.first().map(String::as_str).unwrap_or("*");
    let path = userspace::resolve_binary(&bin, pid)?;
    let info = userspace::elf_info(&path)?;
    let path = path.display().to_string();
    Ok(info
        .functions
        .iter()
        .filter(|f| glob_match(func, &f.name))
        .map(|f| format!("uprobe:{path}:{}", f.name))
        .collect())
}

/// `usdt:bin[:provider]:glob` (or `usdt:bin`): each probe once, however many
/// sites it has; `-v` shows its arguments' C types.
fn usdt_probes(rest: &str, verbose: bool, pid: Option<i32>) -> Result<Vec<String>, String> {
    let (bin, parts) = binary_and_rest(rest);
    let (provider, name) = match parts.as_slice() {
        [] => ("*", "*"),
        [name] => ("*", name.as_str()),
        [provider, name, ..] => (provider.as_str(), name.as_str()),
    };
    let path = userspace::resolve_binary(&bin, pid)?;
    let info = userspace::elf_info(&path)?;
    let path = path.display().to_string();
    let mut probes: BTreeMap<(String, String), &UsdtSite> = BTreeMap::new();
    for site in &info.usdt {
        if glob_match(provider, &site.provider) && glob_match(name, &site.name) {
            probes
                .entry((site.provider.clone(), site.name.clone()))
                .or_insert(site);
        }
    }
    let mut lines = Vec::new();
    for ((provider, name), site) in probes {
        lines.push(format!("usdt:{path}:{provider}:{name}"));
        if verbose {
            for (i, arg) in site.args.iter().enumerate() {
                let sign = if arg.signed { "" } else { "u" };
                lines.push(format!("    {sign}int{} arg{i}", arg.size * 8));
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_keep_arrays_and_data_loc() {
        let text = "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                    \tfield:int irq;\toffset:8;\tsize:4;\tsigned:1;\n\
                    \tfield:__data_loc char[] name;\toffset:12;\tsize:4;\tsigned:0;\n\
                    \tfield:char prev_comm[16];\toffset:16;\tsize:16;\tsigned:0;\n";
        assert_eq!(
            field_declarations(text),
            ["int irq", "__data_loc char[] name", "char prev_comm[16]"]
        );
    }

    #[test]
    fn quoted_binaries_split() {
        assert_eq!(
            binary_and_rest("\"/a:b/c\":prov:name"),
            (
                "/a:b/c".to_string(),
                vec!["prov".to_string(), "name".to_string()]
            )
        );
        assert_eq!(binary_and_rest("libc"), ("libc".to_string(), vec![]));
    }

    #[test]
    fn software_events_list_with_a_trailing_colon() {
        let lines = list(Some("software:*"), false, None).unwrap();
        assert!(
            lines.contains(&"software:page-faults:".to_string()),
            "{lines:?}"
        );
        assert_eq!(lines.len(), SOFTWARE.len());
        assert!(list(Some("bogus:x"), false, None).is_err());
    }
}
