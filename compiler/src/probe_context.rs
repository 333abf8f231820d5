//! What `argN`, `retval` and `func` read in each kind of probe: `pt_regs`
//! registers in kprobes and uprobes, the argument array of a raw tracepoint, or
//! the locations a USDT probe site's note gives; and the `-p PID` filter every
//! kernel probe gets.

use crate::ast::Span;
use crate::check::kernel_types::{KType, KernelTypes};
use crate::check::texpr;
use crate::diag::Diagnostic;
use crate::ir::{self, Builtin, Cond};
use crate::probes::Target;
use crate::typed::{TExpr, TExprKind};
use crate::userspace::usdt::{ArgLocation, UsdtArg};
use rtrace_stdlib::types::Type;

/// x86-64 `struct pt_regs` offsets of the argument, return and ip registers.
const PT_REGS_ARGS: [u32; 6] = [112, 104, 96, 88, 72, 64];
const PT_REGS_AX: u32 = 80;
const PT_REGS_IP: u32 = 128;
/// `arg0..arg11` of a raw tracepoint (`MAX_BPF_FUNC_ARGS`).
const RAW_TP_MAX_ARGS: usize = 12;

/// Probes whose context is `pt_regs` at a function entry (`Some(false)`) or
/// return (`Some(true)`).
fn regs_probe(target: &Target) -> Option<bool> {
    match target {
        Target::Kprobe { ret, .. } | Target::Uprobe { ret, .. } => Some(*ret),
        _ => None,
    }
}

/// A u64 loaded from the probe context at byte `off`.
fn context_u64(off: u32, span: Span) -> TExpr {
    let kind = TExprKind::CtxInt {
        off,
        size: 8,
        signed: false,
    };
    texpr(kind, Type::U64, span)
}

/// `argN` of this probe.
pub fn arg(target: &Target, n: usize, span: Span) -> Result<TExpr, Diagnostic> {
    match target {
        Target::Usdt {
            args,
            provider,
            name,
            ..
        } => {
            let Some(a) = args.get(n) else {
                let msg = format!(
                    "USDT probe {provider}:{name} has {} argument(s): arg{n} does not exist",
                    args.len()
                );
                return Err(Diagnostic::error(span, msg).with_label("no such argument"));
            };
            return usdt_arg(a, span).map_err(|why| {
                let msg = format!("arg{n} of USDT probe {provider}:{name} {why}");
                Diagnostic::error(span, msg).with_label("unreadable argument")
            });
        }
        Target::RawTracepoint { .. } if n < RAW_TP_MAX_ARGS => {
            return Ok(context_u64(8 * n as u32, span))
        }
        _ => {}
    }
    if regs_probe(target) == Some(false) && n < PT_REGS_ARGS.len() {
        return Ok(context_u64(PT_REGS_ARGS[n], span));
    }
    let note = match target {
        Target::RawTracepoint { .. } => {
            format!("raw tracepoints have at most {RAW_TP_MAX_ARGS} arguments")
        }
        Target::Kprobe { ret: true, .. } | Target::Uprobe { ret: true, .. } => {
            "return probes see the return value as `retval`, not the arguments".to_string()
        }
        _ => "tracepoints name their arguments: args->field".to_string(),
    };
    Err(Diagnostic::error(
        span,
        format!(
            "arg{n} is only available in kprobes, uprobes (arg0 to arg5), USDT probes \
             and raw tracepoints"
        ),
    )
    .with_label("no such argument here")
    .with_note(note))
}

/// A USDT argument read from where its site's note says it is, extended from
/// its size to 64 bits by its signedness. The error completes "argN of …".
fn usdt_arg(arg: &UsdtArg, span: Span) -> Result<TExpr, String> {
    let plus = |base: TExpr, delta: i64| {
        let kind = TExprKind::Binary {
            op: ir::BinOp::Add,
            lhs: Box::new(base),
            rhs: Box::new(texpr(TExprKind::Int(delta), Type::I64, span)),
        };
        texpr(kind, Type::U64, span)
    };
    let memory = |addr: TExpr| {
        let kind = TExprKind::Deref {
            addr: Box::new(addr),
            size: arg.size,
            signed: arg.signed,
            user: true,
        };
        texpr(kind, Type::U64, span)
    };
    let raw = match &arg.location {
        // `%ah` and friends: bits 8..16 of the register.
        ArgLocation::Register(r) if r.shift > 0 => {
            let kind = TExprKind::Binary {
                op: ir::BinOp::LShr,
                lhs: Box::new(context_u64(r.pt_regs_offset, span)),
                rhs: Box::new(texpr(TExprKind::Int(r.shift.into()), Type::I64, span)),
            };
            texpr(kind, Type::U64, span)
        }
        ArgLocation::Register(r) => context_u64(r.pt_regs_offset, span),
        ArgLocation::Memory { base, disp } => {
            memory(plus(context_u64(base.pt_regs_offset, span), *disp))
        }
        // At a uprobe, ip is the probed instruction's run-time address.
        ArgLocation::IpRelative { delta } => memory(plus(context_u64(PT_REGS_IP, span), *delta)),
        ArgLocation::Immediate(v) => texpr(TExprKind::Int(*v), Type::I64, span),
        ArgLocation::RipRelative { symbol, .. } => {
            return Err(format!(
                "is at {symbol}(%rip), and {symbol} is not in the binary's symbol tables"
            ))
        }
        ArgLocation::Unsupported(spec) => {
            return Err(format!("has a location rtrace cannot read: {spec}"))
        }
    };
    let kind = TExprKind::Cast {
        expr: Box::new(raw),
        bits: arg.size * 8,
        signed: arg.signed,
    };
    let ty = Type::Int {
        bits: 64,
        signed: arg.signed,
    };
    Ok(texpr(kind, ty, span))
}

/// `retval` (return probes) or `func` (the probed function).
pub fn register_builtin(target: &Target, name: &str, span: Span) -> Result<TExpr, Diagnostic> {
    match (name, target, regs_probe(target)) {
        ("retval", _, Some(true)) => Ok(context_u64(PT_REGS_AX, span)),
        (
            "retval",
            Target::Fentry {
                function,
                ret: true,
                ..
            },
            _,
        ) => fexit_retval(function, span),
        // Each uprobe or fentry program is attached to one known function: a constant.
        ("func", Target::Uprobe { function, .. } | Target::Fentry { function, .. }, _) => {
            let bytes = function.as_bytes().to_vec();
            let len = bytes.len() as u32 + 1;
            Ok(texpr(TExprKind::Str(bytes), Type::Str { len }, span))
        }
        // At a function's start the helper names the function even in a
        // kretprobe (whose ip is the caller's) and on a multi-kprobe link, where
        // one program serves many functions.
        ("func", Target::Kprobe { offset: 0, .. }, _) => {
            let ip = texpr(TExprKind::Builtin(Builtin::FuncIp), Type::U64, span);
            Ok(texpr(TExprKind::Retype(Box::new(ip)), Type::Ksym, span))
        }
        ("func", _, Some(_)) => {
            let ip = context_u64(PT_REGS_IP, span);
            Ok(texpr(TExprKind::Retype(Box::new(ip)), Type::Ksym, span))
        }
        _ => {
            let where_ = match (name, target) {
                ("retval", Target::Fentry { .. }) => "fexit probes, not fentry",
                ("retval", _) => "kretprobes and uretprobes",
                _ => "kprobes and uprobes",
            };
            Err(
                Diagnostic::error(span, format!("`{name}` is only available in {where_}"))
                    .with_label("not available in this probe"),
            )
        }
    }
}

/// `retval` of an fexit probe: the context slot after the last argument, as
/// wide and as signed as the function's BTF return type (pointers as u64).
fn fexit_retval(function: &str, span: Span) -> Result<TExpr, Diagnostic> {
    let mut kernel = KernelTypes::new();
    let Some((params, ret)) = kernel.function_args(function) else {
        return Err(Diagnostic::error(
            span,
            format!("the kernel's BTF does not describe {function}"),
        )
        .with_label("return type unknown"));
    };
    let slot = context_u64(8 * params.len() as u32, span);
    match kernel.view(ret) {
        KType::Void => Err(Diagnostic::error(
            span,
            format!("{function} returns void: there is no `retval`"),
        )
        .with_label("no return value")),
        KType::Int { size, signed, .. } | KType::Enum { size, signed, .. }
            if matches!(size, 1 | 2 | 4) =>
        {
            let bits = (size * 8) as u8;
            let kind = TExprKind::Cast {
                expr: Box::new(slot),
                bits,
                signed,
            };
            Ok(texpr(kind, Type::Int { bits, signed }, span))
        }
        KType::Int { signed: true, .. } | KType::Enum { signed: true, .. } => {
            let kind = TExprKind::CtxInt {
                off: 8 * params.len() as u32,
                size: 8,
                signed: true,
            };
            Ok(texpr(kind, Type::I64, span))
        }
        _ => Ok(slot),
    }
}

/// With `-p PID`, a kernel probe runs its body only in that process:
/// `pid == PID && predicate`.
pub fn pid_filter(pid: i32, target: &Target, predicate: Option<TExpr>) -> Option<TExpr> {
    if target.runs_in_user_space() {
        return predicate;
    }
    let span = predicate.as_ref().map(|p| p.span).unwrap_or_default();
    let kind = TExprKind::Cmp {
        cond: Cond::Eq,
        lhs: Box::new(texpr(TExprKind::Builtin(Builtin::Pid), Type::U32, span)),
        rhs: Box::new(texpr(TExprKind::Int(pid.into()), Type::I64, span)),
    };
    let is_pid = texpr(kind, Type::I64, span);
    Some(match predicate {
        Some(p) => texpr(
            TExprKind::LogAnd(Box::new(is_pid), Box::new(p)),
            Type::I64,
            span,
        ),
        None => is_pid,
    })
}
