//! Address and symbol functions: `kaddr("sym")` and `uaddr("sym")` (resolved
//! at compile time), `usym(addr)`, `ksymoff(addr)` and `reg("name")` (a saved
//! register).

use super::*;
use crate::userspace::elf_info::ElfInfo;

/// x86-64 `struct pt_regs` register offsets, by the names `reg()` accepts.
const PT_REGS: [(&str, u32); 21] = [
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("bp", 32),
    ("bx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", 64),
    ("r8", 72),
    ("ax", 80),
    ("cx", 88),
    ("dx", 96),
    ("si", 104),
    ("di", 112),
    ("orig_ax", 120),
    ("ip", 128),
    ("cs", 136),
    ("flags", 144),
    ("sp", 152),
    ("ss", 160),
];

/// The address of kernel symbol `name` of any type (text or data) in
/// `/proc/kallsyms`, if it is listed with a non-zero address.
pub fn kallsyms_address(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (addr, _kind, sym) = (fields.next()?, fields.next()?, fields.next()?);
        let addr = u64::from_str_radix(addr, 16).ok()?;
        (sym == name && addr != 0).then_some(addr)
    })
}

impl Checker {
    /// `kaddr`, `uaddr`, `usym`, `reg`; `None` for other names.
    pub(super) fn symbol_call(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<TExpr> {
        if !matches!(
            name,
            "kaddr" | "uaddr" | "usym" | "reg" | "ksymoff" | "syscall_name"
        ) {
            return None;
        }
        if args.len() != 1 {
            self.error(
                Diagnostic::error(span, format!("{name}() takes 1 argument"))
                    .with_label("wrong number of arguments"),
            );
            return Some(poison(span));
        }
        let arg = &args[0];
        Some(match name {
            "usym" => {
                let v = self.expr(cx, arg);
                self.want_int(&v, "the argument of usym()");
                self.usym(cx, v, span)
            }
            "ksymoff" => {
                let v = self.expr(cx, arg);
                self.want_int(&v, "the argument of ksymoff()");
                texpr(TExprKind::Retype(Box::new(v)), Type::KsymOff, span)
            }
            "syscall_name" => {
                let v = self.expr(cx, arg);
                self.want_int(&v, "the argument of syscall_name()");
                texpr(TExprKind::Retype(Box::new(v)), Type::SyscallName, span)
            }
            _ => {
                let Some(text) = self.string_literal(arg) else {
                    return Some(poison(span));
                };
                match name {
                    "kaddr" => self.kaddr(&text, arg.span),
                    "uaddr" => self.uaddr(cx, &text, arg.span),
                    _ => self.reg(cx, &text, arg.span),
                }
            }
        })
    }

    /// `usym(addr)` keeps the pid of the probed process with the address; in
    /// a kernel probe the process is announced so its symbols are read while
    /// it still exists (BEGIN/END run in rtrace itself, which stays).
    fn usym(&mut self, cx: &mut ProbeCx, addr: TExpr, span: Span) -> TExpr {
        let pid_event = (!cx.user()).then(|| self.user_stack_pid_event());
        let kind = TExprKind::Usym {
            addr: Box::new(addr),
            pid_event,
        };
        texpr(kind, Type::Usym, span)
    }

    fn kaddr(&mut self, symbol: &str, span: Span) -> TExpr {
        match kallsyms_address(symbol) {
            Some(addr) => texpr(TExprKind::Int(addr as i64), Type::U64, span),
            None => {
                let d = Diagnostic::error(
                    span,
                    format!("kernel symbol `{symbol}` is not in /proc/kallsyms"),
                )
                .with_label("unknown kernel symbol")
                .with_note("data symbols are only listed when the kernel has CONFIG_KALLSYMS_ALL");
                // --dry-run verifies the program anyway, with address 0.
                self.error(if self.opts.dry_run {
                    d.into_warning()
                        .with_note("--dry-run compiles it as address 0; it would not run here")
                } else {
                    d
                });
                poison(span)
            }
        }
    }

    fn uaddr(&mut self, cx: &mut ProbeCx, symbol: &str, span: Span) -> TExpr {
        let path = match cx.target {
            Target::Uprobe { path, .. } | Target::Usdt { path, .. } => path.clone(),
            _ => {
                self.error(
                    Diagnostic::error(span, "uaddr() is only available in uprobes and USDT probes")
                        .with_label("no probed binary here"),
                );
                return poison(span);
            }
        };
        let found = ElfInfo::read(std::path::Path::new(&path))
            .ok()
            .and_then(|info| info.symbols.get(symbol).copied());
        match found {
            Some(addr) => texpr(TExprKind::Int(addr as i64), Type::U64, span),
            None => {
                self.error(
                    Diagnostic::error(span, format!("{path} has no symbol `{symbol}`"))
                        .with_label("unknown symbol"),
                );
                poison(span)
            }
        }
    }

    fn reg(&mut self, cx: &mut ProbeCx, register: &str, span: Span) -> TExpr {
        let has_regs = matches!(
            cx.target,
            Target::Kprobe { .. }
                | Target::Uprobe { .. }
                | Target::Usdt { .. }
                | Target::Profile { .. }
                | Target::Software { .. }
                | Target::Hardware { .. }
        );
        if !has_regs {
            self.error(
                Diagnostic::error(span, "reg() needs saved registers: kprobes, uprobes, USDT and profile probes have them")
                    .with_label("no registers in this probe"),
            );
            return poison(span);
        }
        let Some(&(_, off)) = PT_REGS.iter().find(|(n, _)| *n == register) else {
            let names: Vec<&str> = PT_REGS.iter().map(|(n, _)| *n).collect();
            self.error(
                Diagnostic::error(span, format!("unknown register `{register}`"))
                    .with_label("not an x86-64 register name")
                    .with_note(format!("registers: {}", names.join(", "))),
            );
            return poison(span);
        };
        let kind = TExprKind::CtxInt {
            off,
            size: 8,
            signed: false,
        };
        texpr(kind, Type::U64, span)
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{check, Options};
    use crate::ir::EventSpec;
    use crate::typed::{TExprKind, TStmt};
    use rtrace_stdlib::types::Type;

    fn assigned(src: &str) -> (TExprKind, Type, Vec<EventSpec>) {
        let ast = crate::parse::parse(src).expect("parses");
        let p = check(&ast, &Options::default()).expect("checks");
        let body = &p.probes[0].body;
        match body.iter().find_map(|s| match s {
            TStmt::Assign { value, .. } => Some(value.clone()),
            _ => None,
        }) {
            Some(v) => (v.kind, v.ty, p.events),
            None => panic!("{body:?}"),
        }
    }

    #[test]
    fn usym_carries_the_pid_and_announces_it_in_kernel_probes_only() {
        let (kind, ty, events) = assigned("profile:hz:99 { @u = usym(reg(\"ip\")); }");
        assert_eq!((ty.clone(), ty.size()), (Type::Usym, 16));
        assert!(matches!(
            kind,
            TExprKind::Usym {
                pid_event: Some(_),
                ..
            }
        ));
        assert!(events.contains(&EventSpec::UserStackPid));
        let (kind, _, events) = assigned("BEGIN { @u = usym(1); }");
        assert!(matches!(
            kind,
            TExprKind::Usym {
                pid_event: None,
                ..
            }
        ));
        assert!(!events.contains(&EventSpec::UserStackPid));
    }

    #[test]
    fn ksymoff_is_a_kernel_address_of_its_own_type() {
        let (_, ty, _) = assigned("BEGIN { @k = ksymoff(kaddr(\"vfs_read\") + 4); }");
        assert_eq!((ty.clone(), ty.size()), (Type::KsymOff, 8));
    }
}
