//! Checking of the string and buffer builtins.

use crate::ast::Span;
use crate::diag::Diagnostic;

/// `str(p, n)` asked for more bytes than the string limit allows.
pub(super) fn too_long(span: Span, n: i64, strlen: u32) -> Diagnostic {
    Diagnostic::error(
        span,
        format!("a string of {n} bytes is too long for the string limit of {strlen} bytes"),
    )
    .with_label(format!("at most {strlen}"))
    .with_note("raise the limit with BPFTRACE_STRLEN=N or `config = { max_strlen = N }`")
}

use super::kernel_access::{default_user, int_view};
use super::{poison, texpr, Checker, ProbeCx};
use crate::ast::Expr;
use crate::ir::{BinOp, EventSpec};
use crate::lower::strcontains::{compare_pairs, Needle, MAX_COMPARE_PAIRS};
use crate::typed::{Part, PartSrc, TExpr, TExprKind, TStmt};
use rtrace_stdlib::types::Type;

/// How many `char *` entries `join()` reads (bpftrace's limit).
pub const JOIN_MAX_ARGS: u32 = 16;

impl Checker {
    /// `strncmp(a, b, n)`: 0 if the first `n` characters of both strings are
    /// equal (stopping at a NUL), 1 otherwise.
    pub(super) fn strncmp_call(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let [a, b, n] = args else {
            return poison(span);
        };
        let (a, b) = (self.expr(cx, a), self.expr(cx, b));
        let n_span = n.span;
        let n = self.constant(cx, n);
        if n < 0 {
            self.error(
                Diagnostic::error(n_span, "the length of strncmp() must not be negative")
                    .with_label(format!("{n}")),
            );
            return poison(span);
        }
        for side in [&a, &b] {
            if !side.ty.is_str() {
                self.error(
                    Diagnostic::error(
                        side.span,
                        format!("strncmp() compares strings, not {}", side.ty),
                    )
                    .with_label("not a string")
                    .with_note("read a pointer's string with str(p)"),
                );
                return poison(span);
            }
        }
        // A cut string keeps `len - 1` characters and a NUL: n characters
        // need n + 1 bytes; a shorter string already ends within its size.
        let cut = |e: TExpr| {
            let len = (e.ty.size() as i64).min(n + 1) as u32;
            if len == e.ty.size() {
                return e;
            }
            let span = e.span;
            texpr(TExprKind::Retype(Box::new(e)), Type::Str { len }, span)
        };
        texpr(
            TExprKind::StrEq {
                lhs: Box::new(cut(a)),
                rhs: Box::new(cut(b)),
                negate: true,
            },
            Type::I64,
            span,
        )
    }

    /// `join(argv [, sep])`: print the strings of a NULL-terminated `char *`
    /// array (at most 16) on one line, separated by `sep` (default " ").
    pub(super) fn join_call(
        &mut self,
        cx: &mut ProbeCx,
        args: &[Expr],
        span: Span,
    ) -> Option<TStmt> {
        let argv = self.expr(cx, args.first()?);
        self.want_int(&argv, "the argument of join()");
        let separator = match args.get(1) {
            Some(s) => self.string_literal(s)?,
            None => " ".to_string(),
        };
        let user = match argv.ty {
            Type::Ptr { user, .. } => user,
            _ => default_user(cx.target),
        };
        let strlen = self.opts.strlen;
        let word = |i: u32| {
            let at = texpr(
                TExprKind::Binary {
                    op: BinOp::Add,
                    lhs: Box::new(int_view(argv.clone())),
                    rhs: Box::new(texpr(TExprKind::Int(i64::from(i * 8)), Type::I64, span)),
                },
                Type::U64,
                span,
            );
            let ptr = texpr(
                TExprKind::Deref {
                    addr: Box::new(at),
                    size: 8,
                    signed: false,
                    user,
                },
                Type::U64,
                span,
            );
            texpr(
                TExprKind::ReadStr {
                    addr: Box::new(ptr),
                    user,
                },
                Type::Str { len: strlen },
                span,
            )
        };
        let words = (0..JOIN_MAX_ARGS).map(word).collect();
        let event = self.event(EventSpec::Join {
            separator,
            count: JOIN_MAX_ARGS,
            strlen,
        });
        Some(TStmt::Emit { event, args: words })
    }
}

impl Checker {
    /// `buf(p, n)`: up to `n` bytes at `p`. A constant `n` is the capacity;
    /// otherwise the capacity is the string limit and the count is clipped to it.
    pub(super) fn buf_call(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let [p, n] = args else {
            return poison(span);
        };
        let addr = self.expr(cx, p);
        if !matches!(addr.ty, Type::Int { .. } | Type::Ptr { .. }) {
            self.error(
                Diagnostic::error(
                    addr.span,
                    format!("buf() reads memory at an address, not a {}", addr.ty),
                )
                .with_label("not a pointer or integer"),
            );
            return bad_buf(span);
        }
        let count = self.expr(cx, n);
        self.want_int(&count, "the length of buf()");
        let strlen = self.opts.strlen;
        let cap = match count.kind {
            TExprKind::Int(n) if n < 1 => {
                self.error(
                    Diagnostic::error(count.span, "the length of buf() must be at least 1")
                        .with_label(format!("{n}")),
                );
                return bad_buf(span);
            }
            TExprKind::Int(n) if n > i64::from(strlen) => {
                self.error(
                    Diagnostic::error(
                        count.span,
                        format!(
                            "a buffer of {n} bytes is too long for the limit of {strlen} bytes"
                        ),
                    )
                    .with_label(format!("at most {strlen}"))
                    .with_note(
                        "raise the limit with BPFTRACE_STRLEN=N or `config = { max_strlen = N }`",
                    ),
                );
                return bad_buf(span);
            }
            TExprKind::Int(n) => n as u32,
            _ => strlen,
        };
        let user = match addr.ty {
            Type::Ptr { user, .. } => user,
            _ => default_user(cx.target),
        };
        let part = Part {
            at: 0,
            src: PartSrc::Buf {
                addr: int_view(addr),
                count: int_view(count),
                cap,
                user,
            },
        };
        texpr(TExprKind::Build(vec![part]), Type::Buf { cap }, span)
    }
}

/// A `buf()` that was reported: typed as a buffer so that its users (printf
/// `%r`) raise no second error.
fn bad_buf(span: Span) -> TExpr {
    let mut e = poison(span);
    e.ty = Type::Buf { cap: 1 };
    e
}

impl Checker {
    /// `strcontains(hay, needle)`: 1 if `needle` occurs in `hay`, else 0.
    pub(super) fn strcontains_call(
        &mut self,
        cx: &mut ProbeCx,
        args: &[Expr],
        span: Span,
    ) -> TExpr {
        let [hay, needle] = args else {
            return poison(span);
        };
        let (hay, needle) = (self.expr(cx, hay), self.expr(cx, needle));
        for side in [&hay, &needle] {
            if !side.ty.is_str() {
                self.error(
                    Diagnostic::error(
                        side.span,
                        format!("strcontains() searches strings, not {}", side.ty),
                    )
                    .with_label("not a string")
                    .with_note("read a pointer's string with str(p)"),
                );
                return poison(span);
            }
        }
        let pairs = compare_pairs(hay.ty.size(), Needle::of(&needle));
        if pairs > MAX_COMPARE_PAIRS {
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "strcontains() on a {} and a {} needs {pairs} byte compares (at most {MAX_COMPARE_PAIRS})",
                        hay.ty, needle.ty
                    ),
                )
                .with_label("too costly")
                .with_note("use a literal needle, or cut the strings with str(s, n)"),
            );
            return poison(span);
        }
        texpr(
            TExprKind::StrContains {
                hay: Box::new(hay),
                needle: Box::new(needle),
            },
            Type::I64,
            span,
        )
    }
}
