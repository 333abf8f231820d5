//! Checking the networking helpers (`ntop`, `pton`, `bswap`, `ntohs`, …,
//! `macaddr`), `strftime`, `cgroupid`, and the functions with side effects
//! (`cat`, `system`, `signal`, `override`, `debugf`), plus the clear errors for
//! `path` and `unwatch`.

use super::kernel_access::{default_user, int_view, is_int_like, KExpr};
use super::*;
use crate::typed::{Part, PartSrc, TEffect};
use rtrace_stdlib::funcs::{parse_address, AF_INET, AF_INET6};
use rtrace_stdlib::printf;
use rtrace_stdlib::types::{INET_ADDR, INET_FAMILY};

/// Signal names `signal()` accepts (with or without the `SIG` prefix).
const SIGNALS: &[(&str, i64)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// bpf_trace_printk takes at most three arguments.
const DEBUGF_MAX_ARGS: usize = 3;

/// A tracepoint field that is an array of bytes (`__u8 saddr[4]`): its bytes,
/// printed as `[1,2,3,4]` and usable by `ntop`.
pub(super) fn ctx_bytes(off: u32, len: u32, span: Span) -> TExpr {
    let part = Part {
        at: 0,
        src: PartSrc::Ctx { off, len },
    };
    texpr(TExprKind::Build(vec![part]), Type::Bytes { len }, span)
}

/// Signal number of a name like "KILL" or "SIGKILL".
pub fn signal_number(name: &str) -> Option<i64> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(n, _)| *n == bare).map(|(_, v)| *v)
}

/// A `debugf` format as bpf_trace_printk wants it: every integer conversion
/// without a length modifier gets `ll`, since all rtrace integers are 64-bit.
pub fn trace_printk_format(format: &str) -> Result<String, String> {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            out.push(chars.next().unwrap_or('%'));
            continue;
        }
        while let Some(&f) = chars.peek() {
            if !matches!(f, '-' | '+' | ' ' | '#' | '0'..='9') {
                break;
            }
            out.push(f);
            chars.next();
        }
        let mut has_length = false;
        while let Some(&l) = chars.peek() {
            if !matches!(l, 'l' | 'h' | 'z') {
                break;
            }
            has_length = true;
            out.push(l);
            chars.next();
        }
        match chars.next() {
            Some(conv @ ('d' | 'i' | 'u' | 'x' | 'X' | 'o')) => {
                if !has_length {
                    out.push_str("ll");
                }
                out.push(conv);
            }
            Some(conv @ ('c' | 'p')) => out.push(conv),
            Some(other) => {
                return Err(format!(
                "debugf() does not support the conversion %{other}: only integers (%d %u %x %c %p)"
            ))
            }
            None => return Err("the format ends in the middle of a conversion".into()),
        }
    }
    Ok(out)
}

impl Checker {
    /// Value calls of this module; `None` if `name` is not one of them.
    pub(super) fn funcs_value_call(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<TExpr> {
        let value = match name {
            "ntop" => self.ntop(cx, args, span),
            "pton" => self.pton(args, span),
            "bswap" => self.byte_swap(cx, args, None, span),
            "ntohs" | "htons" => self.byte_swap(cx, args, Some(16), span),
            "ntohl" | "htonl" => self.byte_swap(cx, args, Some(32), span),
            "macaddr" => self.macaddr(cx, args, span),
            "strftime" => self.strftime(cx, args, span),
            "cgroupid" => self.cgroupid(args, span),
            "path" => self.path_call(cx, args, span),
            "unwatch" => self.unsupported(
                span,
                "unwatch() is not supported: rtrace has no watchpoint probes",
            ),
            "cat" | "system" | "signal" | "override" | "debugf" => {
                self.error(
                    Diagnostic::error(span, format!("{name}() is a statement and has no value"))
                        .with_label("used as a value"),
                );
                poison(span)
            }
            _ => return None,
        };
        Some(value)
    }

    /// Statement calls of this module; `None` if `name` is not one of them.
    pub(super) fn funcs_statement(
        &mut self,
        cx: &mut ProbeCx,
        entry: &catalogue::Entry,
        args: &[Expr],
        span: Span,
    ) -> Option<TStmt> {
        let name = entry.name;
        if !matches!(name, "cat" | "system" | "signal" | "override" | "debugf") {
            return None;
        }
        self.arity(entry, args, span);
        if entry.allowed == catalogue::Allowed::KernelOnly && cx.user() {
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "{name}() can only be used in kernel probes, not in BEGIN, END or interval"
                    ),
                )
                .with_label("no probed task here"),
            );
            return Some(TStmt::Expr(poison(span)));
        }
        if matches!(name, "system" | "signal" | "override") && !self.opts.allow_unsafe {
            self.error(
                Diagnostic::error(span, format!("{name}() is unsafe and needs --unsafe"))
                    .with_label("unsafe function")
                    .with_note("pass --unsafe to rtrace to allow it"),
            );
        }
        let stmt = match name {
            "cat" | "system" => self.command_event(cx, name, args, span),
            "signal" => self.signal(cx, args),
            "override" => self.override_call(cx, args, span),
            _ => self.debugf(cx, args, span),
        };
        Some(stmt.unwrap_or_else(|| TStmt::Expr(poison(span))))
    }

    fn unsupported(&mut self, span: Span, msg: &str) -> TExpr {
        self.error(Diagnostic::error(span, msg).with_label("not supported"));
        poison(span)
    }

    // ---- networking ----

    /// `ntop(addr)` / `ntop(family, addr)`: an `Inet` value.
    fn ntop(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let (family, addr) = match args {
            [addr] => (None, addr),
            [family, addr] => (Some(family), addr),
            _ => return poison(span),
        };
        let family = family.map(|f| {
            let f = self.expr(cx, f);
            self.want_int(&f, "the address family of ntop()");
            int_view(f)
        });
        let Some((src, len)) = self.address_bytes(cx, addr) else {
            return poison(span);
        };
        let family = family.unwrap_or_else(|| {
            let af = if len == 4 { AF_INET } else { AF_INET6 };
            texpr(TExprKind::Int(af as i64), Type::I64, span)
        });
        let parts = vec![
            Part {
                at: INET_FAMILY,
                src: PartSrc::Int {
                    value: family,
                    size: 8,
                },
            },
            Part { at: INET_ADDR, src },
        ];
        texpr(TExprKind::Build(parts), Type::Inet, span)
    }

    /// Where the bytes of an address come from, and how many there are (4 or 16).
    fn address_bytes(&mut self, cx: &mut ProbeCx, e: &Expr) -> Option<(PartSrc, u32)> {
        match self.kexpr(cx, e)? {
            KExpr::Place(p) => {
                let size = self.sized(p.ty, e.span)?;
                match size {
                    4 | 16 if p.bitfield.is_none() => Some((
                        PartSrc::Mem {
                            addr: p.addr,
                            len: size as u32,
                            user: p.user,
                        },
                        size as u32,
                    )),
                    _ => {
                        let v = self.load(p, e.span)?;
                        self.address_value(v)
                    }
                }
            }
            KExpr::Value(v) => self.address_value(v),
        }
    }

    /// An address held in a value: an IPv4 integer, `pton()` bytes or an `Inet`.
    fn address_value(&mut self, v: TExpr) -> Option<(PartSrc, u32)> {
        match v.ty {
            Type::Bytes {
                len: len @ (4 | 16),
            } => Some((PartSrc::Copy { value: v, len }, len)),
            _ if is_int_like(&v.ty) => Some((
                PartSrc::Int {
                    value: int_view(v),
                    size: 4,
                },
                4,
            )),
            _ => {
                self.error(
                    Diagnostic::error(
                        v.span,
                        format!(
                            "ntop() needs an IPv4 integer or 4 or 16 address bytes, found {}",
                            v.ty
                        ),
                    )
                    .with_label("not an address"),
                );
                None
            }
        }
    }

    /// `pton("1.2.3.4")`: the address bytes, computed now.
    fn pton(&mut self, args: &[Expr], span: Span) -> TExpr {
        let Some(text) = args.first().and_then(|a| self.string_literal(a)) else {
            return poison(span);
        };
        let Some(bytes) = parse_address(&text) else {
            self.error(
                Diagnostic::error(
                    span,
                    format!("pton(): `{text}` is not an IPv4 or IPv6 address"),
                )
                .with_label("invalid address"),
            );
            return poison(span);
        };
        let parts = bytes
            .chunks(8)
            .enumerate()
            .map(|(i, chunk)| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                let value = texpr(TExprKind::Int(i64::from_le_bytes(word)), Type::I64, span);
                Part {
                    at: i as u32 * 8,
                    src: PartSrc::Int { value, size: 8 },
                }
            })
            .collect();
        let len = bytes.len() as u32;
        texpr(TExprKind::Build(parts), Type::Bytes { len }, span)
    }

    /// `bswap(x)` by the width of `x`, or `ntohs`/`ntohl` (`bits` given).
    fn byte_swap(
        &mut self,
        cx: &mut ProbeCx,
        args: &[Expr],
        bits: Option<u8>,
        span: Span,
    ) -> TExpr {
        let Some(a) = args.first() else {
            return poison(span);
        };
        let v = self.expr(cx, a);
        self.want_int(&v, "the argument of a byte swap");
        let v = int_view(v);
        let width = match (bits, &v.ty) {
            (Some(b), _) => b,
            (None, Type::Int { bits, .. }) => *bits,
            _ => 64,
        };
        let ty = Type::Int {
            bits: width,
            signed: false,
        };
        if width == 8 {
            // One byte reads the same both ways.
            return texpr(TExprKind::Retype(Box::new(v)), ty, span);
        }
        let kind = TExprKind::Bswap {
            expr: Box::new(v),
            bits: width,
        };
        texpr(kind, ty, span)
    }

    /// `macaddr(p)`: 6 bytes from an array or a pointer.
    fn macaddr(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let Some(a) = args.first() else {
            return poison(span);
        };
        let src = match self.kexpr(cx, a) {
            Some(KExpr::Place(p)) => match self.sized(p.ty, a.span) {
                Some(n) if n >= 6 => Some(PartSrc::Mem {
                    addr: p.addr,
                    len: 6,
                    user: p.user,
                }),
                Some(_) => self.load(p, a.span).and_then(|v| self.mac_pointer(cx, v)),
                None => None,
            },
            Some(KExpr::Value(v)) => self.mac_pointer(cx, v),
            None => None,
        };
        match src {
            Some(src) => texpr(
                TExprKind::Build(vec![Part { at: 0, src }]),
                Type::MacAddr,
                span,
            ),
            None => poison(span),
        }
    }

    fn mac_pointer(&mut self, cx: &ProbeCx, v: TExpr) -> Option<PartSrc> {
        if !is_int_like(&v.ty) {
            self.error(
                Diagnostic::error(
                    v.span,
                    format!(
                        "macaddr() needs a pointer or an array of 6 bytes, found {}",
                        v.ty
                    ),
                )
                .with_label("not an address"),
            );
            return None;
        }
        let user = match v.ty {
            Type::Ptr { user, .. } => user,
            _ => default_user(cx.target),
        };
        Some(PartSrc::Mem {
            addr: int_view(v),
            len: 6,
            user,
        })
    }

    // ---- time, cgroups, paths ----

    /// `strftime(fmt, ns)`: the nanoseconds, printed as local time.
    fn strftime(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let [fmt, ns] = args else {
            return poison(span);
        };
        let Some(format) = self.string_literal(fmt) else {
            return poison(span);
        };
        let v = self.expr(cx, ns);
        self.want_int(&v, "the time of strftime()");
        let ty = Type::Timestamp(format.into());
        texpr(TExprKind::Retype(Box::new(int_view(v))), ty, span)
    }

    /// `cgroupid("/sys/fs/cgroup/…")`: the cgroup v2 id, which is the inode number.
    fn cgroupid(&mut self, args: &[Expr], span: Span) -> TExpr {
        use std::os::unix::fs::MetadataExt;
        let Some(path) = args.first().and_then(|a| self.string_literal(a)) else {
            return poison(span);
        };
        match std::fs::metadata(&path) {
            Ok(meta) => texpr(TExprKind::Int(meta.ino() as i64), Type::U64, span),
            Err(e) => {
                self.error(
                    Diagnostic::error(span, format!("cgroupid(): cannot stat `{path}`: {e}"))
                        .with_label("no such cgroup")
                        .with_note("cgroup v2 directories live under /sys/fs/cgroup"),
                );
                poison(span)
            }
        }
    }

    /// `path(p)` needs bpf_d_path, which the kernel allows only in fentry/LSM programs.
    /// `path(p [, n])`: the full path of a `struct path *`, through bpf_d_path —
    /// which the kernel allows only in fentry/fexit (and LSM) programs, on the
    /// functions of its allowlist (`vfs_getattr`, `security_file_open`, …).
    fn path_call(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        if !matches!(cx.target, Target::Fentry { .. }) {
            self.error(
                Diagnostic::error(
                    span,
                    "path() can only be used in fentry probes: the kernel allows bpf_d_path only in fentry and LSM programs",
                )
                .with_label("path() not available here")
                .with_note(
                    "print the file name instead, e.g. str(file->f_path.dentry->d_name.name)",
                ),
            );
            return poison(span);
        }
        let Some(first) = args.first() else {
            return poison(span);
        };
        let addr = self.expr(cx, first);
        if !matches!(addr.ty, Type::Ptr { user: false, .. }) {
            self.error(
                Diagnostic::error(first.span, "path() needs a `struct path *`")
                    .with_label(format!("this is {}", addr.ty)),
            );
            return poison(span);
        }
        let len = match args.get(1) {
            Some(n) => self.constant(cx, n).clamp(2, i64::from(self.opts.strlen)) as u32,
            None => self.opts.strlen,
        };
        let part = Part {
            at: 0,
            src: PartSrc::DPath { addr, len },
        };
        texpr(TExprKind::Build(vec![part]), Type::Str { len }, span)
    }

    // ---- side effects ----

    /// `cat(fmt, …)` and `system(fmt, …)`: a formatted event for user space.
    fn command_event(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<TStmt> {
        let format = self.string_literal(args.first()?)?;
        let values: Vec<TExpr> = args[1..]
            .iter()
            .map(|a| {
                let v = self.expr(cx, a);
                if is_int_like(&v.ty) {
                    int_view(v)
                } else {
                    v
                }
            })
            .collect();
        let types: Vec<Type> = values.iter().map(|v| v.ty.clone()).collect();
        let checked = printf::parse_format(&format).and_then(|f| f.check_args(&types));
        if let Err(msg) = checked {
            self.error(
                Diagnostic::error(span, format!("{name}: {msg}")).with_label("in this format"),
            );
        }
        for v in &values {
            self.store_check(v);
        }
        let spec = if name == "cat" {
            EventSpec::Cat {
                format,
                args: types,
            }
        } else {
            EventSpec::System {
                format,
                args: types,
            }
        };
        Some(TStmt::Emit {
            event: self.event(spec),
            args: values,
        })
    }

    /// `signal("KILL")`, `signal("SIGUSR1")` or `signal(9)`.
    fn signal(&mut self, cx: &mut ProbeCx, args: &[Expr]) -> Option<TStmt> {
        let a = args.first()?;
        let sig = match &a.kind {
            ExprKind::Str(name) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let Some(n) = signal_number(&name) else {
                    self.error(
                        Diagnostic::error(a.span, format!("unknown signal `{name}`"))
                            .with_label("not a signal name")
                            .with_note("use a name like \"KILL\" or \"SIGUSR1\", or a number"),
                    );
                    return None;
                };
                texpr(TExprKind::Int(n), Type::I64, a.span)
            }
            _ => {
                let v = self.expr(cx, a);
                self.want_int(&v, "the signal");
                if let TExprKind::Int(n) = v.kind {
                    if !(1..=64).contains(&n) {
                        self.error(
                            Diagnostic::error(a.span, format!("{n} is not a valid signal number"))
                                .with_label("signals are 1 to 64"),
                        );
                    }
                }
                int_view(v)
            }
        };
        Some(TStmt::Effect(TEffect::Signal(sig)))
    }

    /// `override(rc)`: only where bpf_override_return works, a kprobe.
    fn override_call(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> Option<TStmt> {
        let a = args.first()?;
        if !matches!(cx.target, Target::Kprobe { ret: false, .. }) {
            self.error(
                Diagnostic::error(span, "override() can only be used in kprobes")
                    .with_label("not a kprobe")
                    .with_note(
                        "bpf_override_return changes the return value of a probed kernel function",
                    ),
            );
            return None;
        }
        let rc = self.expr(cx, a);
        self.want_int(&rc, "the return value of override()");
        Some(TStmt::Effect(TEffect::Override(int_view(rc))))
    }

    /// `debugf(fmt, …)`: bpf_trace_printk, read from the trace pipe.
    fn debugf(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> Option<TStmt> {
        let format = self.string_literal(args.first()?)?;
        let values: Vec<TExpr> = args[1..].iter().map(|a| self.expr(cx, a)).collect();
        for v in &values {
            self.want_int(v, "a debugf() argument");
        }
        if values.len() > DEBUGF_MAX_ARGS {
            self.error(
                Diagnostic::error(span, "debugf() takes at most 3 arguments after the format")
                    .with_label("too many arguments"),
            );
        }
        let expected = printf::parse_format(&format).map(|f| f.arg_count());
        let kernel_format = trace_printk_format(&format);
        match (expected, kernel_format) {
            (Ok(n), Ok(text)) if n == values.len() => {
                let args = values.into_iter().map(int_view).collect();
                return Some(TStmt::Effect(TEffect::Debugf {
                    format: text.into_bytes(),
                    args,
                }));
            }
            (Ok(n), Ok(_)) => self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "debugf: the format wants {n} argument(s) but {} were given",
                        values.len()
                    ),
                )
                .with_label("in this debugf"),
            ),
            (Err(msg), _) | (_, Err(msg)) => self.error(
                Diagnostic::error(span, format!("debugf: {msg}")).with_label("in this debugf"),
            ),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_with_or_without_prefix() {
        assert_eq!(signal_number("KILL"), Some(9));
        assert_eq!(signal_number("SIGUSR1"), Some(10));
        assert_eq!(signal_number("NOPE"), None);
    }

    #[test]
    fn debugf_widens_integer_conversions() {
        assert_eq!(
            trace_printk_format("a=%d b=%5x c=%lu %%d\n").unwrap(),
            "a=%lld b=%5llx c=%lu %%d\n"
        );
        assert!(trace_printk_format("%s").is_err());
    }
}
