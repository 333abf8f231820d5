//! Attach points: parsing `provider:a:b` text and expanding wildcards against the
//! running kernel into concrete probe targets.

use crate::ast::{AttachPoint, Span};
use crate::diag::Diagnostic;
use crate::tracefs;
use crate::user_probes;
use crate::userspace::usdt::UsdtArg;
use std::path::PathBuf;

pub mod fentry;

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
    /// A `raw_tp` program on the kernel tracepoint `name`.
    RawTracepoint {
        name: String,
    },
    /// An fentry (or, with `ret`, fexit) program on kernel function `function`;
    /// its context is an array of u64 arguments, the return value after them.
    Fentry {
        function: String,
        module: Option<String>,
        ret: bool,
    },
    /// `uprobe`/`uretprobe` at a file offset of `path`; `function` is what the
    /// `func` builtin prints (the symbol, or the address in hex).
    Uprobe {
        path: String,
        function: String,
        offset: u64,
        ret: bool,
        pid: Option<i32>,
    },
    /// One site of a USDT probe, with its argument locations baked in.
    Usdt {
        path: String,
        provider: String,
        name: String,
        /// File offset of the probe's instruction.
        offset: u64,
        /// File offset of the semaphore, 0 if the probe has none.
        semaphore: u64,
        args: Vec<UsdtArg>,
        pid: Option<i32>,
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

/// What attach points are resolved against besides the kernel.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Positional parameters (`$1` may appear in attach points).
    pub params: Vec<String>,
    /// `-p PID`: user-space probes apply to this process only.
    pub pid: Option<i32>,
    /// The program `-c CMD` runs: the binary of `uprobe:func` / `usdt:probe`.
    pub command: Option<PathBuf>,
}

/// Resolve one attach point, expanding wildcards. `params` are the positional
/// parameters (`$1` may appear in attach points).
pub fn resolve(ap: &AttachPoint, params: &[String]) -> Result<Vec<Resolved>, Diagnostic> {
    let env = Env {
        params: params.to_vec(),
        ..Env::default()
    };
    resolve_in(ap, &env)
}

/// Resolve one attach point against `env`, expanding wildcards.
/// A stand-in target for a kernel or user function attach point that cannot be
/// resolved on this machine (`--dry-run` compiles and verifies it anyway): the
/// function is taken as written, at offset 0. `None` for other probe types.
pub fn placeholder(ap: &AttachPoint, env: &Env) -> Option<Resolved> {
    let text = substitute_params(&ap.text, &env.params, ap.span).ok()?;
    let parts: Vec<String> = split_parts(&text)
        .into_iter()
        .map(|p| p.trim_matches('"').to_string())
        .collect();
    let kind = parts[0].to_ascii_lowercase();
    let function = parts.last()?.split('+').next()?.to_string();
    let target = match (kind.as_str(), parts.len()) {
        ("kprobe" | "k" | "kretprobe" | "kr", 2 | 3) => Target::Kprobe {
            module: (parts.len() == 3).then(|| parts[1].clone()),
            function,
            offset: 0,
            ret: kind.starts_with("kr"),
        },
        ("uprobe" | "u" | "uretprobe" | "ur", 3) if parts[0] != "U" => Target::Uprobe {
            path: parts[1].clone(),
            function,
            offset: 0,
            ret: kind.starts_with("ur"),
            pid: env.pid,
        },
        _ => return None,
    };
    Some(Resolved { target, name: text })
}

pub fn resolve_in(ap: &AttachPoint, env: &Env) -> Result<Vec<Resolved>, Diagnostic> {
    let text = substitute_params(&ap.text, &env.params, ap.span)?;
    let err = |msg: String| Diagnostic::error(ap.span, msg);
    let parts: Vec<String> = split_parts(&text)
        .into_iter()
        .map(|p| p.trim_matches('"').to_string())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let provider = parts[0];
    // `U` (USDT) and `u` (uprobe) differ only in case.
    let kind = match provider {
        "U" => "usdt".to_string(),
        _ => provider.to_ascii_lowercase(),
    };
    match kind.as_str() {
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
        "uprobe" | "u" | "uretprobe" | "ur" => user_probes::uprobe(&parts, env).map_err(err),
        "usdt" => user_probes::usdt(&parts, env).map_err(err),
        "rawtracepoint" | "rt" => raw_tracepoints(&parts, ap.span),
        "kfunc" | "kretfunc" | "fentry" | "fexit" | "f" | "fr" => fentry::resolve(&parts, ap.span),
        "watchpoint" | "w" | "asyncwatchpoint" | "aw" | "iter" | "it" => Err(err(format!(
            "`{provider}` probes are not supported yet by this version of rtrace"
        ))
        .with_label("probe type not yet supported")),
        _ => Err(err(format!("unknown probe type `{provider}`"))
            .with_label("unknown probe type")
            .with_note(
                "known types: BEGIN, END, tracepoint (t), rawtracepoint (rt), interval (i), \
                 profile (p), software (s), hardware (h), kprobe (k), kretprobe (kr), \
                 uprobe (u), uretprobe (ur), usdt (U)",
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
    let mut found = tracefs::matching(&root, parts[1], parts[2]);
    if tracefs::has_wildcard(parts[1]) {
        // ftrace's own events have no perf support: never attachable.
        found.retain(|(category, _)| category != "ftrace");
    }
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
pub fn kernel_functions_matching(pattern: &str) -> Vec<String> {
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

/// `rawtracepoint:name` (or `rawtracepoint:module:name`); wildcards expand over
/// the kernel's trace events (every one of them is also a raw tracepoint).
fn raw_tracepoints(parts: &[&str], span: Span) -> Result<Vec<Resolved>, Diagnostic> {
    let name = match parts.len() {
        2 | 3 => parts[parts.len() - 1],
        _ => "",
    };
    if name.is_empty() {
        return Err(
            Diagnostic::error(span, "a raw tracepoint is written `rawtracepoint:<name>`")
                .with_label("expected a tracepoint name"),
        );
    }
    let resolved = |name: String| Resolved {
        name: format!("rawtracepoint:{name}"),
        target: Target::RawTracepoint { name },
    };
    if !tracefs::has_wildcard(name) {
        return Ok(vec![resolved(name.to_string())]);
    }
    let found = raw_tracepoint_names(name);
    if found.is_empty() {
        return Err(
            Diagnostic::error(span, format!("no raw tracepoint matches `{name}`"))
                .with_note("list them with: rtrace -l 'rawtracepoint:*'"),
        );
    }
    Ok(found.into_iter().map(resolved).collect())
}

/// Kernel tracepoint names matching a glob, from tracefs. Syscall events are
/// built on `sys_enter`/`sys_exit` and have no raw tracepoint of their own.
pub fn raw_tracepoint_names(pattern: &str) -> Vec<String> {
    let Some(root) = tracefs::root() else {
        return Vec::new();
    };
    let mut names: Vec<String> = tracefs::matching(&root, "*", pattern)
        .into_iter()
        .filter(|(category, _)| !matches!(category.as_str(), "syscalls" | "ftrace"))
        .map(|(_, name)| name)
        .collect();
    names.sort();
    names.dedup();
    names
}

pub(crate) fn parse_number(s: &str) -> Option<u64> {
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
    fn user_space_and_raw_tracepoints() {
        let r = one("uretprobe:bash:readline");
        let Target::Uprobe {
            path,
            function,
            ret,
            pid,
            ..
        } = &r.target
        else {
            panic!("{r:?}")
        };
        assert!(path.ends_with("/bash"), "{path}");
        assert_eq!((function.as_str(), *ret, *pid), ("readline", true, None));
        assert_eq!(r.name, format!("uretprobe:{path}:readline"));
        assert_eq!(
            one("rt:sched_switch").target,
            Target::RawTracepoint {
                name: "sched_switch".into()
            }
        );
        // `U` is USDT, `u` a uprobe: both need a binary here.
        let err = resolve(&ap("U:probe"), &[]).unwrap_err();
        assert!(err.message.contains("names no binary"), "{}", err.message);
        let err = resolve(&ap("u:/no/such/bin:f"), &[]).unwrap_err();
        assert_eq!(err.message, "/no/such/bin does not exist");
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
