//! `$s[i]` and `"/"[0]`: a byte of a string, as an unsigned 8-bit integer
//! (opensnoop.bt compares `$path[0] != "/"[0]`).

use super::*;

impl Checker {
    /// Byte `index` of the string value `s`; the index must be a constant
    /// inside the string's capacity.
    pub(super) fn string_index(
        &mut self,
        cx: &mut ProbeCx,
        s: TExpr,
        index: &Expr,
    ) -> Option<TExpr> {
        let Type::Str { len } = s.ty else {
            return None;
        };
        let i = self.expr(cx, index);
        self.want_int(&i, "an index");
        let TExprKind::Int(k) = i.kind else {
            self.error(
                Diagnostic::error(index.span, "a string index must be a constant")
                    .with_label("not a constant")
                    .with_note("rtrace reads one byte at a known position of a string"),
            );
            return None;
        };
        let Some(at) = u32::try_from(k).ok().filter(|at| *at < len) else {
            self.error(
                Diagnostic::error(
                    index.span,
                    format!("index {k} is out of bounds for a string of capacity {len}"),
                )
                .with_label("out of bounds"),
            );
            return None;
        };
        let span = s.span.to(index.span);
        let byte = Type::Int {
            bits: 8,
            signed: false,
        };
        Some(match &s.kind {
            TExprKind::Str(bytes) => {
                let b = bytes.get(at as usize).copied().unwrap_or(0);
                texpr(TExprKind::Int(i64::from(b)), byte, span)
            }
            _ => texpr(
                TExprKind::StrByte {
                    expr: Box::new(s),
                    index: at,
                },
                byte,
                span,
            ),
        })
    }
}
