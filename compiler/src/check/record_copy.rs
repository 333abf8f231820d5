//! Kernel structs held by value: `$d = $dentry->d_name` copies the struct's
//! bytes (one probe read) into the variable, and `$d.name` reads the member
//! from that copy. Printing or comparing a whole copy stays an error.

use super::kernel_access::{KExpr, Place};
use super::kernel_types::{Handle, KType};
use super::{texpr, Checker};
use crate::ast::Span;
use crate::diag::Diagnostic;
use crate::typed::{Part, PartSrc, TExpr, TExprKind};
use rtrace_stdlib::types::Type;

/// Largest struct copied into a variable: copies live on the 512-byte BPF stack.
const MAX_RECORD_COPY: u64 = 256;

impl Checker {
    /// The bytes of the struct or union at `p`, as one value.
    pub(super) fn copy_record(&mut self, p: Place, span: Span) -> Option<TExpr> {
        let size = self.sized(p.ty, span)?;
        if size > MAX_RECORD_COPY {
            let name = self.kernel.name(p.ty);
            self.error(
                Diagnostic::error(
                    span,
                    format!("`{name}` is too large to copy ({size} bytes)"),
                )
                .with_label(format!(
                    "structs up to {MAX_RECORD_COPY} bytes can be held by value"
                ))
                .with_note("read the fields you need instead, as in task->pid"),
            );
            return None;
        }
        let size = size as u32;
        let part = Part {
            at: 0,
            src: PartSrc::Mem {
                addr: p.addr,
                len: size,
                user: p.user,
            },
        };
        let ty = Type::Record { id: p.ty, size };
        Some(texpr(TExprKind::Build(vec![part]), ty, span))
    }

    /// `copy.field` on a struct copy: the member, read from the copy.
    pub(super) fn copy_field(&mut self, copy: TExpr, field: &str, span: Span) -> Option<KExpr> {
        let Type::Record { id: handle, .. } = copy.ty else {
            return None;
        };
        let KType::Record { id, .. } = self.kernel.view(handle) else {
            return None;
        };
        let field_span = Span::new(
            span.end.saturating_sub(field.len()).max(span.start),
            span.end,
        );
        let info = self.member_step(id, field, field_span)?;
        if info.is_bitfield() {
            self.error(
                Diagnostic::error(
                    field_span,
                    format!("bitfield `{field}` of a struct copy cannot be read"),
                )
                .with_label("bitfield")
                .with_note("read it through the pointer instead, as in p->field"),
            );
            return None;
        }
        let ty = self.member_value_type(info.ty, field_span)?;
        let kind = TExprKind::RecordPart {
            expr: Box::new(copy),
            offset: info.offset,
        };
        Some(KExpr::Value(texpr(kind, ty, span)))
    }

    /// How a member of a struct copy is held as a value.
    fn member_value_type(&mut self, h: Handle, span: Span) -> Option<Type> {
        match self.kernel.view(h) {
            KType::Int {
                size: size @ (1 | 2 | 4 | 8),
                signed,
                ..
            } => Some(Type::Int {
                bits: (size * 8) as u8,
                signed,
            }),
            KType::Enum {
                id,
                size: 1 | 2 | 4 | 8,
                ..
            } => Some(Type::Enum(self.kernel.enum_def(id))),
            KType::Ptr { to, user } => Some(Type::Ptr { pointee: to, user }),
            KType::Record { size, .. } => Some(Type::Record { id: h, size }),
            _ => {
                let name = self.kernel.name(h);
                self.error(
                    Diagnostic::error(
                        span,
                        format!("a `{name}` member of a struct copy cannot be read"),
                    )
                    .with_label("only integers, enums, pointers and structs")
                    .with_note("read it through the pointer instead, as in p->field"),
                );
                None
            }
        }
    }
}

/// Whether `ty` holds a struct copy anywhere (tuples included).
fn holds_record(ty: &Type) -> bool {
    match ty {
        Type::Record { .. } => true,
        Type::Tuple(fields) => fields.iter().any(holds_record),
        _ => false,
    }
}

impl Checker {
    /// Struct copies live in variables only: maps and printing have no format
    /// for them yet. `what` says where the value was going.
    pub(super) fn record_copy_stays_local(&mut self, value: &TExpr, what: &str) {
        if holds_record(&value.ty) {
            self.error(
                Diagnostic::error(value.span, format!("a struct copy cannot be {what}"))
                    .with_label("a whole struct")
                    .with_note("keep it in a $variable and use its fields, as in $d.name"),
            );
        }
    }
}
