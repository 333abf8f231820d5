//! Attach points: parsing `provider:a:b` text and expanding wildcards against the
//! running kernel into concrete probe targets.

use crate::ast::{AttachPoint, Span};
use crate::diag::Diagnostic;
use crate::tracefs;

/// How a perf event samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    Frequency(u64),
    Period(u64),
}

/// One concrete thing to attach to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Begin,
    End,
    /// Runs in user space every `period_ns`.
    Interval {
        period_ns: u64,
    },
    Tracepoint {
        category: String,
        name: String,
    },
    /// `profile:*`: a cpu-clock perf event on every CPU.
    Profile {
        sample: Sample,
    },
    Software {
        event: String,
        sample: Sample,
    },
    Hardware {
        event: String,
        sample: Sample,
    },
    Kprobe {
        module: Option<String>,
        function: String,
        offset: u64,
        ret: bool,
    },
}

impl Target {
    /// Whether the body runs in user space (JIT) rather than in the kernel.
    pub fn runs_in_user_space(&self) -> bool {
        matches!(self, Target::Begin | Target::End | Target::Interval { .. })
    }
}

/// A target with the full name the `probe` builtin prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub target: Target,
    pub name: String,
}

/// Resolve one attach point, expanding wildcards. `params` are the positional
/// parameters (`$1` may appear in attach points).
pub fn resolve(ap: &AttachPoint, params: &[String]) -> Result<Vec<Resolved>, Diagnostic> {
    let text = substitute_params(&ap.text, params, ap.span)?;
    let err = |msg: String| Diagnostic::error(ap.span, msg);
    let parts: Vec<&str> = split_parts(&text);
    let provider = parts[0];
    match provider.to_ascii_lowercase().as_str() {
        "begin" if parts.len() == 1 => Ok(vec![simple(Target::Begin, "BEGIN")]),
        "end" if parts.len() == 1 => Ok(vec![simple(Target::End, "END")]),
        "tracepoint" | "t" => tracepoints(&parts, ap.span),
        "interval" | "i" => {
            let period_ns = period(&parts, ap.span, "interval")?;
            Ok(vec![Resolved {
                target: Target::Interval { period_ns },
                name: format!("interval:{}", parts[1..].join(":")),
            }])
        }
        "profile" | "p" => {
            let sample = profile_sample(&parts, ap.span)?;
            Ok(vec![Resolved {
                target: Target::Profile { sample },
                name: format!("profile:{}", parts[1..].join(":")),
            }])
        }
        "software" | "s" => perf_event(&parts, ap.span, true),
        "hardware" | "h" => perf_event(&parts, ap.span, false),
        "kprobe" | "k" | "kretprobe" | "kr" => kprobe(&parts, ap.span),
        "uprobe" | "u" | "uretprobe" | "ur" | "usdt" | "U" | "kfunc" | "kretfunc" | "fentry"
        | "fexit" | "f" | "fr" | "rawtracepoint" | "rt" | "watchpoint" | "w"
        | "asyncwatchpoint" | "aw" | "iter" | "it" => Err(err(format!(
            "`{provider}` probes are not supported yet by this version of rtrace"
        ))
        .with_label("probe type not yet supported")),
        _ => Err(err(format!("unknown probe type `{provider}`"))
            .with_label("unknown probe type")
            .with_note(
                "known types: BEGIN, END, tracepoint (t), interval (i), profile (p), \
                 software (s), hardware (h), kprobe (k), kretprobe (kr)",
            )),
    }
}

fn simple(target: Target, name: &str) -> Resolved {
    Resolved {
        target,
        name: name.to_string(),
    }
}

/// Split on `:` except inside double quotes (`uprobe:"/a:b":f`).
fn split_parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn substitute_params(text: &str, params: &[String], span: Span) -> Result<String, Diagnostic> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let n: usize = digits.parse().map_err(|_| {
            Diagnostic::error(
                span,
                "`$` in an attach point must be a positional parameter like `$1`",
            )
        })?;
        let value = params.get(n.wrapping_sub(1)).ok_or_else(|| {
            Diagnostic::error(span, format!("positional parameter ${n} is not given"))
                .with_label("used here")
        })?;
        out.push_str(value);
    }
    Ok(out)
}

fn tracepoints(parts: &[&str], span: Span) -> Result<Vec<Resolved>, Diagnostic> {
    if parts.len() != 3 || parts[1].is_empty() || parts[2].is_empty() {
        return Err(Diagnostic::error(
            span,
            "a tracepoint is written `tracepoint:<category>:<name>`",
        )
        .with_label("expected category and name"));
    }
    let root = tracefs::root().ok_or_else(|| {
        Diagnostic::error(span, "tracefs is not mounted")
            .with_note("mount it with: mount -t tracefs tracefs /sys/kernel/tracing")
    })?;
    let found = tracefs::matching(&root, parts[1], parts[2]);
    if found.is_empty() {
        let what = format!("{}:{}", parts[1], parts[2]);
        let msg = if tracefs::has_wildcard(&what) {
            format!("no tracepoint matches `{what}`")
        } else {
            format!("tracepoint `{what}` does not exist on this kernel")
        };
        return Err(Diagnostic::error(span, msg)
            .with_label("not found")
            .with_note("list them with: rtrace -l 'tracepoint:*'"));
    }
    Ok(found
        .into_iter()
        .map(|(category, name)| Resolved {
            name: format!("tracepoint:{category}:{name}"),
            target: Target::Tracepoint { category, name },
        })
        .collect())
}

/// `interval:s:1`, `interval:ms:100`, `interval:hz:5`, `interval:1s`, `interval:500ms`.
fn period(parts: &[&str], span: Span, what: &str) -> Result<u64, Diagnostic> {
    let bad = || {
        Diagnostic::error(
            span,
            format!("expected `{what}:<unit>:<count>` with unit s, ms, us or hz, or `{what}:1s`"),
        )
    };
    let (unit, count) = match parts.len() {
        3 => (parts[1], parts[2]),
        2 => {
            let p = parts[1];
            let split = p.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            (&p[split..], &p[..split])
        }
        _ => return Err(bad()),
    };
    let n: u64 = count.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(Diagnostic::error(
            span,
            format!("{what} count must be greater than zero"),
        ));
    }
    let ns = match unit {
        "s" => n * 1_000_000_000,
        "ms" => n * 1_000_000,
        "us" => n * 1_000,
        "ns" => n,
        "hz" => 1_000_000_000 / n,
        _ => return Err(bad()),
    };
    Ok(ns.max(1))
}

fn profile_sample(parts: &[&str], span: Span) -> Result<Sample, Diagnostic> {
    if parts.len() == 3 && parts[1] == "hz" {
        let hz: u64 = parts[2]
            .parse()
            .map_err(|_| Diagnostic::error(span, "expected `profile:hz:<rate>`"))?;
        return Ok(Sample::Frequency(hz.max(1)));
    }
    if parts.len() == 2 && parts[1].chars().all(|c| c.is_ascii_digit()) {
        let ns: u64 = parts[1].parse().unwrap_or(1);
        return Ok(Sample::Period(ns.max(1)));
    }
    Ok(Sample::Period(period(parts, span, "profile")?))
}

/// Default sample periods, as users of perf/bpftrace expect them.
fn default_count(event: &str) -> u64 {
    match event {
        "cpu-clock" | "cpu" | "task-clock" => 1_000_000,
        "page-faults" | "faults" | "minor-faults" | "major-faults" => 100,
        "context-switches" | "cs" | "cpu-migrations" => 1000,
        "cycles" | "cpu-cycles" | "instructions" | "ref-cycles" | "bus-cycles" => 1_000_000,
        _ => 1000,
    }
}

const SOFTWARE: &[&str] = &[
    "cpu-clock",
    "cpu",
    "task-clock",
    "page-faults",
    "faults",
    "context-switches",
    "cs",
    "cpu-migrations",
    "minor-faults",
    "major-faults",
    "alignment-faults",
    "emulation-faults",
    "dummy",
    "bpf-output",
];
const HARDWARE: &[&str] = &[
    "cpu-cycles",
    "cycles",
    "instructions",
    "cache-references",
    "cache-misses",
    "branch-instructions",
    "branches",
    "branch-misses",
    "bus-cycles",
    "frontend-stalls",
    "backend-stalls",
    "ref-cycles",
];

fn perf_event(parts: &[&str], span: Span, software: bool) -> Result<Vec<Resolved>, Diagnostic> {
    let (kind, known) = if software {
        ("software", SOFTWARE)
    } else {
        ("hardware", HARDWARE)
    };
    if !(2..=3).contains(&parts.len()) || !known.contains(&parts[1]) {
        return Err(Diagnostic::error(span, format!("unknown {kind} event"))
            .with_label("expected a known event")
            .with_note(format!("{kind} events: {}", known.join(", "))));
    }
    let event = parts[1].to_string();
    let count = match parts.get(2) {
        Some(c) => c
            .parse()
            .map_err(|_| Diagnostic::error(span, format!("expected `{kind}:<event>:<count>`")))?,
        None => default_count(&event),
    };
    let sample = Sample::Period(count.max(1));
    let name = format!("{kind}:{}:{count}", parts[1]);
    let target = if software {
        Target::Software { event, sample }
    } else {
        Target::Hardware { event, sample }
    };
    Ok(vec![Resolved { target, name }])
}

fn kprobe(parts: &[&str], span: Span) -> Result<Vec<Resolved>, Diagnostic> {
    let ret = parts[0].starts_with("kr");
    let (module, func) = match parts.len() {
        2 => (None, parts[1]),
        3 => (Some(parts[1].to_string()), parts[2]),
        _ => {
            return Err(
                Diagnostic::error(span, "expected `kprobe:<function>[+offset]`")
                    .with_label("malformed kprobe"),
            )
        }
    };
    let (function, offset) = match func.split_once('+') {
        Some((f, off)) => {
            let off = parse_number(off).ok_or_else(|| {
                Diagnostic::error(span, "kprobe offset must be a number (`func+0x10`)")
            })?;
            if ret {
                return Err(Diagnostic::error(span, "kretprobe cannot take an offset"));
            }
            (f.to_string(), off)
        }
        None => (func.to_string(), 0),
    };
    if function.is_empty() {
        return Err(Diagnostic::error(span, "expected a kernel function name"));
    }
    let kind = if ret { "kretprobe" } else { "kprobe" };
    if tracefs::has_wildcard(&function) {
        let found = kernel_functions_matching(&function);
        if found.is_empty() {
            return Err(Diagnostic::error(
                span,
                format!("no kernel function matches `{function}`"),
            )
            .with_label("nothing to attach to"));
        }
        return Ok(found
            .into_iter()
            .map(|f| Resolved {
                name: format!("{kind}:{f}"),
                target: Target::Kprobe {
                    module: module.clone(),
                    function: f,
                    offset: 0,
                    ret,
                },
            })
            .collect());
    }
    let name = match (&module, offset) {
        (Some(m), _) => format!("{kind}:{m}:{function}"),
        (None, 0) => format!("{kind}:{function}"),
        (None, o) => format!("{kind}:{function}+{o}"),
    };
    Ok(vec![Resolved {
        target: Target::Kprobe {
            module,
            function,
            offset,
            ret,
        },
        name,
    }])
}

/// Kernel text symbols matching a glob, from `/proc/kallsyms` (compiler-generated
/// `__pfx_` padding and `.cold`/`.isra` clones are not functions one can probe).
fn kernel_functions_matching(pattern: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (_addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            let is_text = matches!(kind, "t" | "T");
            let probeable = !name.starts_with("__pfx_") && !name.contains('.');
            (is_text && probeable && tracefs::glob_match(pattern, name)).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(text: &str) -> AttachPoint {
        AttachPoint {
            text: text.to_string(),
            span: Span::new(0, text.len()),
        }
    }

    fn one(text: &str) -> Resolved {
        let mut v = resolve(&ap(text), &["5".into()]).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn intervals() {
        let ns = |t: &str| match one(t).target {
            Target::Interval { period_ns } => period_ns,
            other => panic!("{other:?}"),
        };
        assert_eq!(ns("interval:s:1"), 1_000_000_000);
        assert_eq!(ns("i:ms:100"), 100_000_000);
        assert_eq!(ns("interval:1s"), 1_000_000_000);
        assert_eq!(ns("interval:500ms"), 500_000_000);
        assert_eq!(ns("interval:hz:4"), 250_000_000);
        assert_eq!(ns("interval:s:$1"), 5_000_000_000);
        assert!(resolve(&ap("interval:x:1"), &[]).is_err());
    }

    #[test]
    fn kprobes_and_profile() {
        assert_eq!(
            one("k:tcp_sendmsg").target,
            Target::Kprobe {
                module: None,
                function: "tcp_sendmsg".into(),
                offset: 0,
                ret: false
            }
        );
        assert_eq!(one("kprobe:tcp_sendmsg+0x10").name, "kprobe:tcp_sendmsg+16");
        assert_eq!(
            one("profile:hz:99").target,
            Target::Profile {
                sample: Sample::Frequency(99)
            }
        );
        assert_eq!(one("BEGIN").target, Target::Begin);
        assert!(resolve(&ap("bogus:x"), &[]).is_err());
    }
}
