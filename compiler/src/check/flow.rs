//! Checking control flow over data: `for` loops (over a map or an integer
//! range), block scoping of `let` variables, and the map queries `has_key` and
//! `len`.
//!
//! Scoping: a variable declared with `let` inside a block, and a `for` loop's
//! variable, stop being visible when their block ends. They keep their `VarId`
//! (the lowering still gives them a slot) but their name is replaced by a
//! hidden marker, so a later use reports "not in scope" instead of finding them.

use super::*;
use crate::ast::{Block, ForIter};

/// Prefix of the name of a variable whose block has ended.
const HIDDEN: char = '\0';

impl Checker {
    /// The statements of a nested block: `let` variables declared in it are
    /// hidden again at its end.
    pub(super) fn scoped_stmts(&mut self, cx: &mut ProbeCx, stmts: &[Stmt]) -> Vec<TStmt> {
        let mark = cx.scoped.len();
        cx.depth += 1;
        let out = self.stmts(cx, stmts);
        cx.depth -= 1;
        self.end_scope(cx, mark);
        out
    }

    /// Hide every variable declared in the scope that began at `mark`.
    fn end_scope(&mut self, cx: &mut ProbeCx, mark: usize) {
        for id in cx.scoped.drain(mark..) {
            let name = &mut cx.vars[id as usize].0;
            if !name.starts_with(HIDDEN) {
                name.insert(0, HIDDEN);
            }
        }
    }

    /// `let $name = value`: inside a nested block a name not visible yet is a
    /// new variable of the value's type (another block may use the name with
    /// another type); elsewhere as an assignment.
    pub(super) fn let_var(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        ty: &Type,
        was_visible: bool,
        span: Span,
    ) -> VarId {
        if cx.depth == 0 || was_visible {
            return self.define_var(cx, name, ty, span);
        }
        cx.vars.push((name.to_string(), ty.clone()));
        let id = (cx.vars.len() - 1) as VarId;
        cx.scoped.push(id);
        id
    }

    /// Remember that `let` created `id` inside a nested block.
    pub(super) fn declared(&mut self, cx: &mut ProbeCx, id: VarId, was_visible: bool) {
        if cx.depth > 0 && !was_visible {
            cx.scoped.push(id);
        }
    }

    /// The error for `$name` not being visible: used before assignment, or
    /// declared in a block that has ended.
    pub(super) fn missing_var(&mut self, cx: &ProbeCx, name: &str, span: Span) {
        let hidden = format!("{HIDDEN}{name}");
        let d = if cx.vars.iter().any(|(n, _)| *n == hidden) {
            Diagnostic::error(span, format!("variable ${name} is not in scope here"))
                .with_label("out of scope")
                .with_note(format!(
                    "${name} was declared inside a block (or is a `for` variable) and is only visible there"
                ))
        } else {
            Diagnostic::error(
                span,
                format!("variable ${name} is used before it is assigned"),
            )
            .with_label("not assigned yet")
        };
        self.error(d);
    }

    /// `for ($var : @map) { … }` or `for ($var : a..b) { … }`.
    pub(super) fn for_loop(
        &mut self,
        cx: &mut ProbeCx,
        var: &str,
        iter: &ForIter,
        body: &Block,
        span: Span,
    ) -> Option<TStmt> {
        let head = match iter {
            ForIter::Map(m) => self
                .for_map_head(cx, m, span)
                .map(|(map, ty)| (Ok(map), ty)),
            ForIter::Range(from, to) => {
                let (from, to) = (self.range_bound(cx, from), self.range_bound(cx, to));
                Some((Err((from, to)), Type::I64))
            }
        };
        // The loop variable is a fresh variable, visible only in the body.
        let mark = cx.scoped.len();
        cx.vars.push((
            var.to_string(),
            head.as_ref().map_or(Type::I64, |h| h.1.clone()),
        ));
        let id = (cx.vars.len() - 1) as VarId;
        cx.scoped.push(id);
        let over_map = u32::from(matches!(iter, ForIter::Map(_)));
        cx.loop_depth += 1;
        cx.map_loops += over_map;
        let body = self.scoped_stmts(cx, &body.stmts);
        cx.map_loops -= over_map;
        cx.loop_depth -= 1;
        self.end_scope(cx, mark);
        Some(match head?.0 {
            Ok(map) => TStmt::ForMap { var: id, map, body },
            Err((from, to)) => TStmt::ForRange {
                var: id,
                from,
                to,
                body,
            },
        })
    }

    /// The map a `for` iterates and the type of its `(key, value)` variable.
    fn for_map_head(&mut self, cx: &mut ProbeCx, e: &Expr, span: Span) -> Option<(MapId, Type)> {
        let ExprKind::Map { name, keys } = &e.kind else {
            let found = self.expr(cx, e);
            self.error(
                Diagnostic::error(
                    e.span,
                    format!("a `for` loop iterates over a map, found {}", found.ty),
                )
                .with_label("not a map")
                .with_note("write `for ($kv : @map) { … }` or `for ($i : 0..10) { … }`"),
            );
            return None;
        };
        if !keys.is_empty() {
            self.error(
                Diagnostic::error(e.span, "a `for` loop iterates over a whole map")
                    .with_label("remove the key")
                    .with_note(format!("write `for ($kv : @{name})`")),
            );
            return None;
        }
        let map = self.map_id(name, e.span);
        let decl = self.maps[map as usize].clone();
        if !cx.user() && cx.map_loops > 0 {
            self.error(
                Diagnostic::error(
                    span,
                    "a `for` loop over a map cannot be nested in another one inside a kernel probe",
                )
                .with_label("nested map loop in a kernel probe")
                .with_note("iterate the inner map in an END or interval block instead"),
            );
            return None;
        }
        if decl.value != Type::None && decl.key == Type::None {
            self.error(
                Diagnostic::error(e.span, format!("{} has no keys to iterate over", decl.name))
                    .with_label("map without keys")
                    .with_note(format!("read its value directly: {}", decl.name)),
            );
            return None;
        }
        let value = match &decl.value {
            Type::Count => Type::U64,
            Type::Sum | Type::Avg | Type::Min | Type::Max | Type::None => Type::I64,
            Type::Stats | Type::Hist | Type::Lhist { .. } => {
                self.error(
                    Diagnostic::error(
                        e.span,
                        format!(
                            "{} holds {} and cannot be iterated over",
                            decl.name, decl.value
                        ),
                    )
                    .with_label("use print() to show it"),
                );
                return None;
            }
            t => t.clone(),
        };
        let key = match &decl.key {
            Type::None => Type::I64,
            k => k.clone(),
        };
        Some((map, Type::Tuple(vec![key, value])))
    }

    fn range_bound(&mut self, cx: &mut ProbeCx, e: &Expr) -> TExpr {
        let v = int_view(self.expr(cx, e));
        if !v.ty.is_int() {
            self.error(
                Diagnostic::error(
                    v.span,
                    format!("the bounds of a range must be integers, found {}", v.ty),
                )
                .with_label(format!("this is {}", v.ty)),
            );
            return poison(v.span);
        }
        v
    }

    /// `has_key(@m, key)`; a multi-key map takes a tuple: `has_key(@m, (a, b))`.
    pub(super) fn has_key_call(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let (Some(m), Some(k)) = (args.first(), args.get(1)) else {
            return poison(span);
        };
        let ExprKind::Map { name, keys } = &m.kind else {
            self.error(
                Diagnostic::error(m.span, "has_key() expects a map as its first argument")
                    .with_label("not a map")
                    .with_note("write `has_key(@map, key)`"),
            );
            return poison(span);
        };
        if !keys.is_empty() {
            self.error(
                Diagnostic::error(m.span, "has_key() takes the map and the key separately")
                    .with_label("remove the key here")
                    .with_note(format!("write `has_key(@{name}, key)`")),
            );
            return poison(span);
        }
        let keys = match &k.kind {
            ExprKind::Tuple(elems) => elems.clone(),
            _ => vec![k.clone()],
        };
        let key = self.map_key(cx, name, &keys, k.span);
        let map = self.map_id(name, m.span);
        texpr(
            TExprKind::HasKey {
                map,
                key: key.map(Box::new),
            },
            Type::I64,
            span,
        )
    }

    /// `len(@m)`: entries of a map (in a kernel probe, counted with
    /// `bpf_for_each_map_elem`).
    pub(super) fn len_call(&mut self, _cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let Some(m) = args.first() else {
            return poison(span);
        };
        let Some(map) = self.map_arg(m) else {
            return poison(span);
        };
        texpr(TExprKind::MapLen(map), Type::U64, span)
    }
}
