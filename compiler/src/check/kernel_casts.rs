//! Casts (`(struct sock *)p`, `(uint32)x`, bare record names), `kptr`/`uptr`,
//! `sizeof` and `offsetof` over kernel types — the type-naming half of
//! [`super::kernel_access`].

use super::kernel_access::*;
use super::kernel_types::{Handle, KType, LookupError, VOID};
use super::{int_type_named, poison, texpr, Checker, ProbeCx};
use crate::ast::{Expr, Span, TypeName};
use crate::diag::Diagnostic;
use crate::typed::{TExpr, TExprKind};
use rtrace_stdlib::types::Type;

impl Checker {
    /// The kernel type a script names (integer names included).
    fn type_handle(&mut self, name: &str, span: Span) -> Option<Handle> {
        if let Some(Type::Int { bits, signed }) = int_type_named(name) {
            return Some(self.kernel.int(bits / 8, signed));
        }
        match self.lookup_type_or_record(name) {
            Ok(h) => Some(h),
            Err(LookupError::NoBtf) => self.fail(
                Diagnostic::error(
                    span,
                    format!("`{name}` needs the kernel's BTF type information"),
                )
                .with_label("unknown type")
                .with_note("this kernel has no /sys/kernel/btf/vmlinux"),
            ),
            Err(LookupError::Unknown { suggestion }) => {
                let note = match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => {
                        "types come from the kernel's BTF (/sys/kernel/btf/vmlinux)".to_string()
                    }
                };
                self.fail(
                    Diagnostic::error(span, format!("unknown type `{name}`"))
                        .with_label("not a type this kernel defines")
                        .with_note(note),
                )
            }
            Err(LookupError::Incomplete) => self.fail(
                Diagnostic::error(
                    span,
                    format!("`{name}` is declared but never defined in the kernel's BTF"),
                )
                .with_label("incomplete type"),
            ),
        }
    }

    /// `(type) inner`: integer casts, casts to pointers, enum and typedef names.
    pub(super) fn cast(
        &mut self,
        cx: &mut ProbeCx,
        ty: &TypeName,
        inner: &Expr,
        span: Span,
    ) -> TExpr {
        let v = self.expr(cx, inner);
        let out = if ty.array_len.is_some() {
            self.fail(
                Diagnostic::error(ty.span, "casts to arrays are not supported")
                    .with_label("array cast"),
            )
        } else if ty.pointer_depth == 0 {
            self.value_cast(v, ty, span)
        } else {
            self.pointer_cast(cx, v, ty, span)
        };
        out.unwrap_or_else(|| poison(span))
    }

    fn value_cast(&mut self, v: TExpr, ty: &TypeName, span: Span) -> Option<TExpr> {
        let int_cast = |v: TExpr, bits: u8, signed: bool| {
            let kind = TExprKind::Cast {
                expr: Box::new(super::int_addr_space::int_keeping_pointer(v)),
                bits,
                signed,
            };
            texpr(kind, Type::Int { bits, signed }, span)
        };
        if let Some(Type::Int { bits, signed }) = int_type_named(&ty.base) {
            self.want_int(&v, "a cast operand");
            return Some(int_cast(v, bits, signed));
        }
        let h = self.type_handle(&ty.base, ty.span)?;
        match self.kernel.view(h) {
            KType::Int { size, signed, .. } if matches!(size, 1 | 2 | 4 | 8) => {
                self.want_int(&v, "a cast operand");
                Some(int_cast(v, (size * 8) as u8, signed))
            }
            KType::Enum { id, size, signed } if matches!(size, 1 | 2 | 4 | 8) => {
                self.want_int(&v, "a cast operand");
                let mut out = int_cast(v, (size * 8) as u8, signed);
                out.ty = Type::Enum(self.kernel.enum_def(id));
                Some(out)
            }
            KType::Ptr { to, user } => {
                let user = user || matches!(v.ty, Type::Ptr { user: true, .. });
                self.retype_as_pointer(v, to, user, &ty.base, span)
            }
            KType::Record { .. } => {
                let name = self.kernel.name(h);
                self.fail(
                    Diagnostic::error(ty.span, format!("cannot cast a value to `{name}`"))
                        .with_label("a struct is not a value")
                        .with_note(format!("cast the address to a pointer: ({name} *)addr")),
                )
            }
            _ => {
                let name = self.kernel.name(h);
                self.fail(
                    Diagnostic::error(ty.span, format!("cannot cast to `{name}`"))
                        .with_label("unsupported cast"),
                )
            }
        }
    }

    fn pointer_cast(&mut self, cx: &ProbeCx, v: TExpr, ty: &TypeName, span: Span) -> Option<TExpr> {
        let mut pointee = self.type_handle(&ty.base, ty.span)?;
        for _ in 1..ty.pointer_depth {
            pointee = self.kernel.pointer_to(pointee);
        }
        let user = match v.ty {
            Type::Ptr { user, .. } => user,
            _ => cx
                .int_addr_space(&v)
                .unwrap_or_else(|| default_user(cx.target)),
        };
        let stars = "*".repeat(ty.pointer_depth as usize);
        self.retype_as_pointer(v, pointee, user, &format!("{} {stars}", ty.base), span)
    }

    /// Retype an address as a pointer to `pointee`; only pointers and 64-bit
    /// integers hold addresses.
    fn retype_as_pointer(
        &mut self,
        v: TExpr,
        pointee: Handle,
        user: bool,
        target: &str,
        span: Span,
    ) -> Option<TExpr> {
        match v.ty {
            Type::Ptr { .. } | Type::Int { bits: 64, .. } => {
                let ty = Type::Ptr { pointee, user };
                Some(texpr(TExprKind::Retype(Box::new(v)), ty, span))
            }
            ref other => {
                let what = self.type_text(other);
                self.fail(
                    Diagnostic::error(
                        v.span,
                        format!("cannot cast a value of type {what} to `{target}`"),
                    )
                    .with_label(format!("this is {what}, not an address"))
                    .with_note("only pointers and 64-bit integers hold addresses"),
                )
            }
        }
    }

    /// A pointer field of a tracepoint record, typed from its C declaration
    /// (`struct __kernel_timespec *`, `const char *`); pointees BTF does not
    /// know become `void`. Without BTF the field stays an integer.
    pub(super) fn typed_pointer(&mut self, cx: &ProbeCx, c_type: &str, raw: TExpr) -> TExpr {
        if !self.kernel.available() {
            return raw;
        }
        let depth = c_type.matches('*').count().max(1);
        let base: Vec<&str> = c_type
            .split(|c: char| c == '*' || c.is_whitespace())
            .filter(|w| !w.is_empty() && !matches!(*w, "const" | "volatile" | "__user"))
            .collect();
        let base = base.join(" ");
        let mut pointee = match int_type_named(&base) {
            Some(Type::Int { bits, signed }) => self.kernel.int(bits / 8, signed),
            _ => self.kernel.lookup(&base).unwrap_or(VOID),
        };
        for _ in 1..depth {
            pointee = self.kernel.pointer_to(pointee);
        }
        let ty = Type::Ptr {
            pointee,
            user: default_user(cx.target),
        };
        let span = raw.span;
        texpr(TExprKind::Retype(Box::new(raw)), ty, span)
    }

    /// `kptr(x)` / `uptr(x)`: the same address in kernel or user memory.
    pub(super) fn address_space_call(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> TExpr {
        let [arg] = args else {
            self.error(
                Diagnostic::error(span, format!("{name}() takes 1 argument(s)"))
                    .with_label("wrong number of arguments"),
            );
            return poison(span);
        };
        let v = self.expr(cx, arg);
        let pointee = match v.ty {
            Type::Ptr { pointee, .. } => pointee,
            _ => VOID,
        };
        let out = self.retype_as_pointer(v, pointee, name == "uptr", name, span);
        out.unwrap_or_else(|| poison(span))
    }

    /// `sizeof(type)`
    pub(super) fn sizeof_type(&mut self, t: &TypeName, span: Span) -> TExpr {
        let one = if t.pointer_depth > 0 {
            Some(8)
        } else if let Some(Type::Int { bits, .. }) = int_type_named(&t.base) {
            Some(u64::from(bits / 8))
        } else {
            self.type_handle(&t.base, t.span)
                .and_then(|h| self.sized(h, t.span))
        };
        let total = one.map(|s| s * u64::from(t.array_len.unwrap_or(1)));
        match total {
            Some(n) => texpr(TExprKind::Int(n as i64), Type::U64, span),
            None => poison(span),
        }
    }

    pub(super) fn sized(&mut self, h: Handle, span: Span) -> Option<u64> {
        match self.kernel.size_of(h) {
            Some(n) => Some(n),
            None => {
                let name = self.kernel.name(h);
                self.fail(
                    Diagnostic::error(span, format!("`{name}` has no size"))
                        .with_label("unsized type"),
                )
            }
        }
    }

    /// `sizeof(expr)`: the size of its type; nothing is read.
    pub(super) fn sizeof_expr(&mut self, cx: &mut ProbeCx, x: &Expr, span: Span) -> TExpr {
        let size = match self.kexpr(cx, x) {
            Some(KExpr::Place(p)) => self.sized(p.ty, x.span),
            Some(KExpr::Value(v)) => Some(match &v.ty {
                Type::Int { bits, .. } => u64::from(*bits / 8),
                Type::Enum(def) => u64::from(def.bits / 8),
                other => u64::from(other.size()),
            }),
            None => None,
        };
        match size {
            Some(n) => texpr(TExprKind::Int(n as i64), Type::U64, span),
            None => poison(span),
        }
    }

    /// `offsetof(struct T, a.b)`
    pub(super) fn offsetof(&mut self, ty: &TypeName, path: &[String], span: Span) -> TExpr {
        self.offset_in(ty, path, span)
            .map(|off| texpr(TExprKind::Int(off as i64), Type::U64, span))
            .unwrap_or_else(|| poison(span))
    }

    fn offset_in(&mut self, ty: &TypeName, path: &[String], span: Span) -> Option<u64> {
        let h = self.type_handle(&ty.base, ty.span)?;
        let mut record = match self.kernel.view(h) {
            KType::Record { id, .. } if ty.pointer_depth == 0 => id,
            _ => {
                let name = self.kernel.name(h);
                return self.fail(
                    Diagnostic::error(
                        ty.span,
                        format!("offsetof needs a struct or union, not `{name}`"),
                    )
                    .with_label("not a struct or union"),
                );
            }
        };
        let mut offset = 0u64;
        for (i, name) in path.iter().enumerate() {
            let info = self.member_step(record, name, span)?;
            offset += u64::from(info.offset);
            if i + 1 == path.len() {
                break;
            }
            match self.kernel.view(info.ty) {
                KType::Record { id, .. } => record = id,
                _ => {
                    return self.fail(
                        Diagnostic::error(span, format!("`{name}` is not a struct or union"))
                            .with_label("cannot look inside it"),
                    )
                }
            }
        }
        Some(offset)
    }
}
