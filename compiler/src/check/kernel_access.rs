//! Typed access to kernel (and user) memory: casts to pointer types, `->` and `.`
//! through structs and unions (anonymous members, bitfields), arrays and `p[i]`,
//! `*p`, `&x`, pointer arithmetic, enums and the BTF-typed `args` of raw
//! tracepoints (casts, `sizeof`, `offsetof` and `kptr`/`uptr` are in `kernel_casts`).
//!
//! An expression naming memory is a [`Place`] (address, type, address space)
//! until its value is needed. Only then is it read: one `Deref` or `ReadStr`
//! (probe_read_kernel/user) per value, so `a->b->c` reads the pointer `a->b`,
//! then `c` from where it points. `.` and `->` are interchangeable, as in
//! current bpftrace: a pointer is dereferenced, a struct is used in place.

use super::kernel_types::{Handle, KType, VOID};
use super::{poison, texpr, Checker, ProbeCx};
use crate::ast::{BinOp, Expr, ExprKind, Span, UnOp};
use crate::diag::Diagnostic;
use crate::ir;
use crate::probes::Target;
use crate::typed::{TExpr, TExprKind};
use rtrace_stdlib::types::Type;

/// Longest `char[N]` member read as a string (the rest of the array is cut).
const MAX_CHAR_ARRAY_STRING: u32 = 200;

/// Kernel memory of a known type, not read yet.
pub(super) struct Place {
    /// The address (an integer or pointer expression).
    pub(super) addr: TExpr,
    pub(super) ty: Handle,
    /// User memory (probe_read_user) rather than kernel memory.
    pub(super) user: bool,
    /// For a bitfield: its first bit within the byte at `addr`, and its width.
    pub(super) bitfield: Option<(u8, u8)>,
}

/// An expression as memory or as a value.
pub(super) enum KExpr {
    Value(TExpr),
    Place(Place),
}

/// Whether pointers made from plain integers point to user memory in this probe:
/// syscall tracepoints, uprobes and USDT probes see user addresses.
pub(super) fn default_user(target: &Target) -> bool {
    match target {
        Target::Tracepoint { category, .. } => category == "syscalls",
        Target::Uprobe { .. } | Target::Usdt { .. } => true,
        _ => false,
    }
}

/// Integers, enums and pointers: everything arithmetic and conditions accept.
pub(super) fn is_int_like(ty: &Type) -> bool {
    matches!(ty, Type::Int { .. } | Type::Enum(_) | Type::Ptr { .. })
}

/// The same value typed as a plain integer (pointers are u64, enums their
/// integer type): the representation does not change.
pub(super) fn int_view(mut e: TExpr) -> TExpr {
    e.ty = match &e.ty {
        Type::Ptr { .. } => Type::U64,
        Type::Enum(def) => Type::Int {
            bits: def.bits,
            signed: def.signed,
        },
        _ => return e,
    };
    e
}

fn int_const(v: i64, span: Span) -> TExpr {
    texpr(TExprKind::Int(v), Type::I64, span)
}

fn binary(op: ir::BinOp, lhs: TExpr, rhs: TExpr, ty: Type, span: Span) -> TExpr {
    let kind = TExprKind::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    };
    texpr(kind, ty, span)
}

/// `addr + off`, folding constant offsets so `a.b.c` is one addition.
fn add_offset(addr: TExpr, off: i64) -> TExpr {
    if off == 0 {
        return addr;
    }
    let span = addr.span;
    if let TExprKind::Binary {
        op: ir::BinOp::Add,
        lhs,
        rhs,
    } = &addr.kind
    {
        if let TExprKind::Int(k) = rhs.kind {
            let lhs = (**lhs).clone();
            return binary(
                ir::BinOp::Add,
                lhs,
                int_const(k.wrapping_add(off), span),
                Type::U64,
                span,
            );
        }
    }
    binary(ir::BinOp::Add, addr, int_const(off, span), Type::U64, span)
}

/// `addr ± index * size`.
fn scaled(addr: TExpr, index: TExpr, size: u64, sub: bool, span: Span) -> TExpr {
    let size = size as i64;
    if let TExprKind::Int(i) = index.kind {
        let off = i.wrapping_mul(size);
        return add_offset(addr, if sub { off.wrapping_neg() } else { off });
    }
    let bytes = match size {
        1 => int_view(index),
        _ => binary(
            ir::BinOp::Mul,
            int_view(index),
            int_const(size, span),
            Type::I64,
            span,
        ),
    };
    let op = if sub { ir::BinOp::Sub } else { ir::BinOp::Add };
    binary(op, addr, bytes, Type::U64, span)
}

/// The smallest load covering `bits` bits.
fn storage_bytes(bits: u32) -> u8 {
    match bits.div_ceil(8) {
        0 | 1 => 1,
        2 => 2,
        3 | 4 => 4,
        _ => 8,
    }
}

impl Checker {
    pub(super) fn fail<T>(&mut self, d: Diagnostic) -> Option<T> {
        self.error(d);
        None
    }

    /// A type for messages: pointers by their C name.
    pub(super) fn type_text(&mut self, ty: &Type) -> String {
        match ty {
            Type::Ptr { pointee, user } => {
                let name = self.kernel.name(*pointee);
                let star = if name.ends_with('*') { "*" } else { " *" };
                let space = if *user { " (user)" } else { "" };
                format!("{name}{star}{space}")
            }
            other => other.to_string(),
        }
    }

    /// `e` as memory if it names some (`p->f`, `p[i]`, `*p`), else as a value.
    pub(super) fn kexpr(&mut self, cx: &mut ProbeCx, e: &Expr) -> Option<KExpr> {
        match &e.kind {
            ExprKind::Field { expr, field, .. } => self.field_access(cx, expr, field, e.span),
            ExprKind::Index { expr, index } => match self.kexpr(cx, expr)? {
                KExpr::Value(v) if v.ty.is_str() => {
                    self.string_index(cx, v, index).map(KExpr::Value)
                }
                b => self
                    .index_place(cx, b, expr, index, e.span)
                    .map(KExpr::Place),
            },
            ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } => self.deref_place(cx, expr, e.span).map(KExpr::Place),
            _ => Some(KExpr::Value(self.expr(cx, e))),
        }
    }

    /// The value of a field, index or dereference expression.
    pub(super) fn memory_value(&mut self, cx: &mut ProbeCx, e: &Expr) -> TExpr {
        let value = self.kexpr(cx, e).and_then(|k| self.value_of(k, e.span));
        value.unwrap_or_else(|| poison(e.span))
    }

    fn value_of(&mut self, k: KExpr, span: Span) -> Option<TExpr> {
        match k {
            KExpr::Value(v) => Some(v),
            KExpr::Place(p) => self.load(p, span),
        }
    }

    // ---- reading memory ----

    /// Read the value a place holds.
    pub(super) fn load(&mut self, p: Place, span: Span) -> Option<TExpr> {
        match self.kernel.view(p.ty) {
            KType::Int { size, signed, .. } => self.load_int(p, size, signed, span),
            KType::Enum { id, size, signed } => {
                let mut v = self.load_int(p, size, signed, span)?;
                v.ty = Type::Enum(self.kernel.enum_def(id));
                Some(v)
            }
            KType::Ptr { to, user } => {
                let user = p.user || user;
                let v = self.load_int(p, 8, false, span)?;
                let ty = Type::Ptr { pointee: to, user };
                Some(texpr(TExprKind::Retype(Box::new(v)), ty, span))
            }
            KType::Array { elem, len } if self.is_char(elem) => {
                let len = len.clamp(1, MAX_CHAR_ARRAY_STRING);
                let kind = TExprKind::ReadStr {
                    addr: Box::new(p.addr),
                    user: p.user,
                };
                Some(texpr(kind, Type::Str { len }, span))
            }
            KType::Array { .. } => {
                let name = self.kernel.name(p.ty);
                self.fail(
                    Diagnostic::error(span, format!("`{name}` is an array and has no value"))
                        .with_label("index it, as in x[0]"),
                )
            }
            KType::Record { .. } => self.copy_record(p, span),
            _ => {
                let name = self.kernel.name(p.ty);
                self.fail(
                    Diagnostic::error(span, format!("a value of type `{name}` cannot be read"))
                        .with_label("unreadable type"),
                )
            }
        }
    }

    fn is_char(&mut self, h: Handle) -> bool {
        matches!(self.kernel.view(h), KType::Int { is_char: true, .. })
    }

    /// An integer of `size` bytes at a place, or a bitfield inside it.
    fn load_int(&mut self, p: Place, size: u32, signed: bool, span: Span) -> Option<TExpr> {
        let user = p.user;
        let deref = |addr: TExpr, size: u8, signed: bool| {
            let kind = TExprKind::Deref {
                addr: Box::new(addr),
                size,
                signed,
                user,
            };
            let ty = Type::Int {
                bits: size * 8,
                signed,
            };
            texpr(kind, ty, span)
        };
        let Some((shift, bits)) = p.bitfield else {
            if !matches!(size, 1 | 2 | 4 | 8) {
                return self.fail(
                    Diagnostic::error(span, format!("{size}-byte integers cannot be read"))
                        .with_label("only 1, 2, 4 and 8-byte integers"),
                );
            }
            return Some(deref(p.addr, size as u8, signed));
        };
        let (shift, bits) = (u32::from(shift), u32::from(bits));
        let storage = storage_bytes(shift + bits);
        let raw = deref(p.addr, storage, false);
        let width = (storage_bytes(bits) * 8).max(8);
        let ty = Type::Int {
            bits: width,
            signed,
        };
        let value = if signed {
            // Move the field to the top, then shift it down arithmetically.
            let up = 64 - (shift + bits);
            let top = binary(
                ir::BinOp::Shl,
                raw,
                int_const(up.into(), span),
                Type::I64,
                span,
            );
            binary(
                ir::BinOp::AShr,
                top,
                int_const((64 - bits).into(), span),
                ty,
                span,
            )
        } else {
            let down = match shift {
                0 => raw,
                s => binary(
                    ir::BinOp::LShr,
                    raw,
                    int_const(s.into(), span),
                    Type::U64,
                    span,
                ),
            };
            let mask = if bits >= 64 { -1 } else { (1i64 << bits) - 1 };
            binary(ir::BinOp::And, down, int_const(mask, span), ty, span)
        };
        Some(value)
    }

    // ---- places ----

    /// `base.field` / `base->field`, `args.field` included.
    fn field_access(
        &mut self,
        cx: &mut ProbeCx,
        base: &Expr,
        field: &str,
        span: Span,
    ) -> Option<KExpr> {
        if matches!(&base.kind, ExprKind::Ident(n) if n == "args") {
            return self.args_field(cx, base, field, span);
        }
        let b = self.kexpr(cx, base)?;
        if let KExpr::Value(v) = b {
            if matches!(v.ty, Type::Record { .. }) {
                return self.copy_field(v, field, span);
            }
            let record = self.record_place(KExpr::Value(v), field, base.span)?;
            return self.member_place(record, field, span);
        }
        let record = self.record_place(b, field, base.span)?;
        self.member_place(record, field, span)
    }

    /// Member `field` of the struct or union at `record`.
    fn member_place(&mut self, record: Place, field: &str, span: Span) -> Option<KExpr> {
        let KType::Record { id, .. } = self.kernel.view(record.ty) else {
            return None;
        };
        // The field name ends the expression's span.
        let field_span = Span::new(
            span.end.saturating_sub(field.len()).max(span.start),
            span.end,
        );
        let info = self.member_step(id, field, field_span)?;
        let bitfield = info
            .is_bitfield()
            .then_some(((info.bit_offset % 8) as u8, info.bitfield_size));
        Some(KExpr::Place(Place {
            addr: add_offset(record.addr, i64::from(info.offset)),
            ty: info.ty,
            user: record.user,
            bitfield,
        }))
    }

    /// One member of record `id`, or an error with a suggestion.
    pub(super) fn member_step(
        &mut self,
        id: u32,
        field: &str,
        span: Span,
    ) -> Option<crate::btf::MemberInfo> {
        match self.kernel.member(id, field) {
            Ok(info) => Some(info),
            Err(_) => {
                let name = self.kernel.name(id);
                let note = match self.kernel.suggest_member(id, field) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => {
                        let fields = self.kernel.member_names(id);
                        let more = if fields.len() > 12 { ", …" } else { "" };
                        let shown: Vec<&str> = fields.iter().take(12).map(String::as_str).collect();
                        format!("its fields: {}{more}", shown.join(", "))
                    }
                };
                self.fail(
                    Diagnostic::error(span, format!("`{name}` has no field named `{field}`"))
                        .with_label("unknown field")
                        .with_note(note),
                )
            }
        }
    }

    /// The struct or union that `.field` or `->field` applies to.
    fn record_place(&mut self, base: KExpr, field: &str, base_span: Span) -> Option<Place> {
        let place = match base {
            KExpr::Value(v) => match v.ty {
                Type::Ptr { pointee, user } => Place {
                    addr: v,
                    ty: pointee,
                    user,
                    bitfield: None,
                },
                ref other => {
                    let what = self.type_text(other);
                    return self.fail(
                        Diagnostic::error(
                            base_span,
                            format!("cannot read field `{field}` of a value of type {what}"),
                        )
                        .with_label(format!("this is {what}, not a struct pointer"))
                        .with_note("cast an address to a struct pointer first, as in ((struct sock *)addr)->field"),
                    );
                }
            },
            KExpr::Place(p) => match self.kernel.view(p.ty) {
                KType::Ptr { .. } => self.pointer_target(p, base_span)?,
                _ => p,
            },
        };
        match self.kernel.view(place.ty) {
            KType::Record { .. } => Some(place),
            _ => {
                let name = self.kernel.name(place.ty);
                self.fail(
                    Diagnostic::error(
                        base_span,
                        format!("cannot read field `{field}`: `{name}` is not a struct or union"),
                    )
                    .with_label(format!("this is {name}")),
                )
            }
        }
    }

    /// Read the pointer at place `p` and return the place it points to.
    fn pointer_target(&mut self, p: Place, span: Span) -> Option<Place> {
        let v = self.load(p, span)?;
        let Type::Ptr { pointee, user } = v.ty else {
            return None;
        };
        Some(Place {
            addr: v,
            ty: pointee,
            user,
            bitfield: None,
        })
    }

    /// `base[index]` on a pointer or an array.
    fn index_place(
        &mut self,
        cx: &mut ProbeCx,
        b: KExpr,
        base: &Expr,
        index: &Expr,
        span: Span,
    ) -> Option<Place> {
        let (addr, elem, user, len) = match b {
            KExpr::Value(v) => match v.ty {
                Type::Ptr { pointee, user } => (v, pointee, user, None),
                ref other => {
                    let what = self.type_text(other);
                    return self.fail(
                        Diagnostic::error(
                            base.span,
                            format!("a value of type {what} cannot be indexed"),
                        )
                        .with_label("not a pointer or an array")
                        .with_note("cast an address to a pointer first, as in ((uint32 *)addr)[2]"),
                    );
                }
            },
            KExpr::Place(p) => match self.kernel.view(p.ty) {
                KType::Array { elem, len } => (p.addr, elem, p.user, Some(len)),
                KType::Ptr { .. } => {
                    let target = self.pointer_target(p, base.span)?;
                    (target.addr, target.ty, target.user, None)
                }
                _ => {
                    let name = self.kernel.name(p.ty);
                    return self.fail(
                        Diagnostic::error(base.span, format!("`{name}` cannot be indexed"))
                            .with_label("not a pointer or an array"),
                    );
                }
            },
        };
        let i = self.expr(cx, index);
        self.want_int(&i, "an index");
        if let (TExprKind::Int(k), Some(len)) = (&i.kind, len) {
            // Zero-length (flexible) arrays have no bound to check.
            if len > 0 && !(0..i64::from(len)).contains(k) {
                return self.fail(
                    Diagnostic::error(
                        index.span,
                        format!("index {k} is out of bounds for an array of {len}"),
                    )
                    .with_label("out of bounds"),
                );
            }
        }
        let size = self.element_size(elem, base.span)?;
        Some(Place {
            addr: scaled(addr, i, size, false, span),
            ty: elem,
            user,
            bitfield: None,
        })
    }

    /// Size of what a pointer points to, for indexing and arithmetic.
    fn element_size(&mut self, elem: Handle, span: Span) -> Option<u64> {
        match self.kernel.size_of(elem) {
            Some(size) if size > 0 => Some(size),
            _ if elem == VOID => Some(1),
            _ => {
                let name = self.kernel.name(elem);
                self.fail(
                    Diagnostic::error(span, format!("`{name}` has no known size"))
                        .with_label("cannot step over it"),
                )
            }
        }
    }

    /// `*inner`
    fn deref_place(&mut self, cx: &mut ProbeCx, inner: &Expr, span: Span) -> Option<Place> {
        let place = match self.kexpr(cx, inner)? {
            KExpr::Value(v) => match v.ty {
                Type::Ptr { pointee, user } => Place {
                    addr: v,
                    ty: pointee,
                    user,
                    bitfield: None,
                },
                // bpftrace reads a 64-bit integer at a 64-bit integer address.
                Type::Int { bits: 64, signed } => Place {
                    ty: self.kernel.int(8, signed),
                    addr: v,
                    user: default_user(cx.target),
                    bitfield: None,
                },
                ref other => {
                    let what = self.type_text(other);
                    return self.fail(
                        Diagnostic::error(
                            inner.span,
                            format!("a value of type {what} cannot be dereferenced"),
                        )
                        .with_label("not a pointer")
                        .with_note("cast an address to a pointer first, as in *(uint32 *)addr"),
                    );
                }
            },
            KExpr::Place(p) => match self.kernel.view(p.ty) {
                KType::Ptr { .. } => self.pointer_target(p, inner.span)?,
                KType::Array { elem, .. } => Place { ty: elem, ..p },
                _ => {
                    let name = self.kernel.name(p.ty);
                    return self.fail(
                        Diagnostic::error(inner.span, format!("`{name}` cannot be dereferenced"))
                            .with_label("not a pointer"),
                    );
                }
            },
        };
        if place.ty == VOID {
            return self.fail(
                Diagnostic::error(span, "a `void *` cannot be dereferenced")
                    .with_label("points to void")
                    .with_note("cast it to a typed pointer first, as in *(uint64 *)p"),
            );
        }
        Some(place)
    }

    /// `&inner`: the address of kernel memory, as a typed pointer.
    pub(super) fn address_of(&mut self, cx: &mut ProbeCx, inner: &Expr, span: Span) -> TExpr {
        let taken = match self.kexpr(cx, inner) {
            Some(KExpr::Place(p)) if p.bitfield.is_none() => {
                let ty = Type::Ptr {
                    pointee: p.ty,
                    user: p.user,
                };
                Some(texpr(TExprKind::Retype(Box::new(p.addr)), ty, span))
            }
            Some(KExpr::Place(_)) => self.fail(
                Diagnostic::error(span, "cannot take the address of a bitfield")
                    .with_label("bitfield"),
            ),
            Some(KExpr::Value(_)) => self.fail(
                Diagnostic::error(span, "`&` needs a struct field, an array element or `*p`")
                    .with_label("has no address")
                    .with_note("variables and maps live in the tracer, not in kernel memory"),
            ),
            None => None,
        };
        taken.unwrap_or_else(|| poison(span))
    }

    // ---- `args` of raw tracepoints ----

    fn args_field(
        &mut self,
        cx: &mut ProbeCx,
        base: &Expr,
        field: &str,
        span: Span,
    ) -> Option<KExpr> {
        match cx.target {
            Target::Tracepoint { .. } => Some(KExpr::Value(self.tracepoint_field(cx, field, span))),
            Target::RawTracepoint { name } => {
                let name = name.clone();
                self.raw_tracepoint_arg(&name, field, span)
                    .map(KExpr::Value)
            }
            Target::Fentry { function, .. } => {
                let function = function.clone();
                self.fentry_arg(&function, field, span).map(KExpr::Value)
            }
            _ => self.fail(
                Diagnostic::error(base.span, "`args` is only available in tracepoints")
                    .with_label("no args here"),
            ),
        }
    }

    fn raw_tracepoint_arg(&mut self, tp: &str, field: &str, span: Span) -> Option<TExpr> {
        let Some(params) = self.kernel.raw_tracepoint_args(tp) else {
            return self.fail(
                Diagnostic::error(
                    span,
                    format!(
                        "the kernel's BTF does not describe the arguments of raw tracepoint {tp}"
                    ),
                )
                .with_label("arguments unknown")
                .with_note("read them as arg0, arg1, …"),
            );
        };
        let i = self.param_index(&params, field, &format!("raw tracepoint {tp}"), span)?;
        self.context_arg(8 * i as u32, params[i].1, field, span)
    }

    /// `args.field` of an fentry/fexit probe: argument `field` of kernel function
    /// `function`, in its u64 slot.
    fn fentry_arg(&mut self, function: &str, field: &str, span: Span) -> Option<TExpr> {
        let Some((params, _)) = self.kernel.function_args(function) else {
            return self.fail(
                Diagnostic::error(
                    span,
                    format!("the kernel's BTF does not describe the arguments of {function}"),
                )
                .with_label("arguments unknown"),
            );
        };
        let i = self.param_index(&params, field, function, span)?;
        self.context_arg(8 * i as u32, params[i].1, field, span)
    }

    /// The position of argument `field` among `params` of `owner` (a raw
    /// tracepoint or function), or an error with the closest name and the list.
    fn param_index(
        &mut self,
        params: &[(String, Handle)],
        field: &str,
        owner: &str,
        span: Span,
    ) -> Option<usize> {
        if let Some(i) = params.iter().position(|(n, _)| n == field) {
            return Some(i);
        }
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        let hint = super::kernel_types::closest(field, names.iter().copied())
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        self.fail(
            Diagnostic::error(span, format!("{owner} has no argument `{field}`"))
                .with_label("unknown argument")
                .with_note(format!("{hint}its arguments: {}", names.join(", "))),
        )
    }

    /// An argument held in a u64 slot of the context (raw tracepoint, fentry),
    /// typed by BTF.
    pub(super) fn context_arg(
        &mut self,
        off: u32,
        ty: Handle,
        name: &str,
        span: Span,
    ) -> Option<TExpr> {
        let raw = |signed: bool| {
            let kind = TExprKind::CtxInt {
                off,
                size: 8,
                signed,
            };
            texpr(kind, Type::Int { bits: 64, signed }, span)
        };
        let int = |size: u32, signed: bool| match size {
            8 => raw(signed),
            _ => {
                let bits = (size * 8) as u8;
                let kind = TExprKind::Cast {
                    expr: Box::new(raw(signed)),
                    bits,
                    signed,
                };
                texpr(kind, Type::Int { bits, signed }, span)
            }
        };
        match self.kernel.view(ty) {
            KType::Int { size, signed, .. } if matches!(size, 1 | 2 | 4 | 8) => {
                Some(int(size, signed))
            }
            KType::Enum { id, size, signed } if matches!(size, 1 | 2 | 4 | 8) => {
                let mut v = int(size, signed);
                v.ty = Type::Enum(self.kernel.enum_def(id));
                Some(v)
            }
            KType::Ptr { to, user } => {
                let ty = Type::Ptr { pointee: to, user };
                Some(texpr(TExprKind::Retype(Box::new(raw(false))), ty, span))
            }
            _ => {
                let tname = self.kernel.name(ty);
                self.fail(
                    Diagnostic::error(
                        span,
                        format!("argument `{name}` has type `{tname}`, which rtrace cannot read"),
                    )
                    .with_label("unsupported argument type"),
                )
            }
        }
    }

    // ---- arithmetic, enums ----

    /// `p + n`, `n + p`, `p - n` (scaled by the pointee's size) and `p - q`
    /// (in elements); `None` when neither side is a pointer.
    pub(super) fn pointer_arith(
        &mut self,
        op: BinOp,
        l: &TExpr,
        r: &TExpr,
        span: Span,
    ) -> Option<TExpr> {
        let ptr = |t: &Type| match t {
            Type::Ptr { pointee, user } => Some((*pointee, *user)),
            _ => None,
        };
        let (lp, rp) = (ptr(&l.ty), ptr(&r.ty));
        let int = |t: &Type| matches!(t, Type::Int { .. } | Type::Enum(_));
        let (p, n, sub) = match (op, lp, rp) {
            (BinOp::Add, Some(_), None) if int(&r.ty) => (l, r, false),
            (BinOp::Add, None, Some(_)) if int(&l.ty) => (r, l, false),
            (BinOp::Sub, Some(_), None) if int(&r.ty) => (l, r, true),
            (BinOp::Sub, Some((a, _)), Some((b, _))) if a == b => {
                let size = self.element_size(a, span)? as i64;
                let diff = binary(
                    ir::BinOp::Sub,
                    int_view(l.clone()),
                    int_view(r.clone()),
                    Type::I64,
                    span,
                );
                return Some(match size {
                    1 => diff,
                    s => binary(ir::BinOp::SDiv, diff, int_const(s, span), Type::I64, span),
                });
            }
            _ => return None,
        };
        let ty = p.ty.clone();
        let (pointee, _) = ptr(&ty)?;
        let size = self.element_size(pointee, span)?;
        let mut out = scaled(p.clone(), n.clone(), size, sub, span);
        out.ty = ty;
        out.span = span;
        Some(out)
    }

    /// An enumerator of the kernel's enums used by name (`TCP_ESTABLISHED`).
    pub(super) fn enum_constant(&mut self, name: &str, span: Span) -> Option<TExpr> {
        let (id, value) = self.kernel.enumerator(name)?;
        let def = self.kernel.enum_def(id);
        Some(texpr(TExprKind::Int(value), Type::Enum(def), span))
    }

    /// `curtask`'s type: a kernel `struct task_struct *` when BTF has it.
    pub(super) fn curtask_type(&mut self) -> Type {
        match self.kernel.find_record(false, "task_struct") {
            Some(pointee) => Type::Ptr {
                pointee,
                user: false,
            },
            None => Type::U64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_offsets_fold() {
        let span = Span::default();
        let base = texpr(TExprKind::Int(0x1000), Type::U64, span);
        let a = add_offset(add_offset(base, 8), 4);
        match a.kind {
            TExprKind::Binary { rhs, .. } => assert_eq!(rhs.kind, TExprKind::Int(12)),
            other => panic!("not folded: {other:?}"),
        }
    }

    #[test]
    fn bitfield_storage_is_the_smallest_load() {
        assert_eq!(storage_bytes(1), 1);
        assert_eq!(storage_bytes(9), 2);
        assert_eq!(storage_bytes(17), 4);
        assert_eq!(storage_bytes(33), 8);
        assert_eq!(storage_bytes(64), 8);
    }
}
