//! The typed statements of a merged syscall program: find which probe (if any)
//! the current syscall number belongs to, then run that probe's body.
//!
//! Per merged block: a balanced binary search over the enabled syscall numbers
//! (about nine comparisons for all 360 syscalls) sets `$probe` and `$class`;
//! then `$class` picks the body. Bodies that differ only in the probe id are one
//! class, so `sys_enter_* { @[probe] = count(); }` has a single body and the
//! program stays small for the verifier.

use crate::ast::Span;
use crate::check::texpr;
use crate::ir::{Builtin, Cond};
use crate::typed::{LValue, TExpr, TExprKind, TStmt, VarId};
use rtrace_stdlib::types::Type;

/// One enabled syscall of a block: its number and the probe it runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub nr: u32,
    pub probe_id: u32,
    /// 1-based index of the body; 0 means "none".
    pub class: u32,
}

/// Below this many routes a chain of equality tests is as short as a split.
const LINEAR_ROUTES: usize = 3;

fn int(v: i64) -> TExpr {
    texpr(TExprKind::Int(v), Type::I64, Span::default())
}

pub fn var(id: VarId, ty: Type) -> TExpr {
    texpr(TExprKind::Var(id), ty, Span::default())
}

fn cmp(cond: Cond, lhs: TExpr, rhs: i64) -> TExpr {
    let kind = TExprKind::Cmp {
        cond,
        lhs: Box::new(lhs),
        rhs: Box::new(int(rhs)),
    };
    texpr(kind, Type::I64, Span::default())
}

pub fn assign(id: VarId, value: TExpr) -> TStmt {
    TStmt::Assign {
        target: LValue::Var(id),
        value,
    }
}

/// Statements that set `probe_var` and `class_var` for the number in `nr_var`;
/// `routes` sorted by number. Numbers without a route leave them alone.
pub fn route_tree(
    routes: &[Route],
    nr_var: VarId,
    probe_var: VarId,
    class_var: VarId,
) -> Vec<TStmt> {
    let nr = || var(nr_var, Type::I64);
    let leaf = |r: &Route| {
        vec![
            assign(
                probe_var,
                texpr(
                    TExprKind::Int(r.probe_id.into()),
                    Type::Probe,
                    Span::default(),
                ),
            ),
            assign(class_var, int(r.class.into())),
        ]
    };
    if routes.len() <= LINEAR_ROUTES {
        let mut els = Vec::new();
        for r in routes.iter().rev() {
            els = vec![TStmt::If {
                cond: cmp(Cond::Eq, nr(), r.nr.into()),
                then: leaf(r),
                els,
            }];
        }
        return els;
    }
    let mid = routes.len() / 2;
    vec![TStmt::If {
        cond: cmp(Cond::SLt, nr(), routes[mid].nr.into()),
        then: route_tree(&routes[..mid], nr_var, probe_var, class_var),
        els: route_tree(&routes[mid..], nr_var, probe_var, class_var),
    }]
}

/// `if $class == 1 { body1 } else if $class == 2 { body2 } …`, each body under
/// its predicate.
pub fn class_chain(class_var: VarId, bodies: Vec<(Option<TExpr>, Vec<TStmt>)>) -> Vec<TStmt> {
    let mut els = Vec::new();
    for (i, (predicate, body)) in bodies.into_iter().enumerate().rev() {
        let then = match predicate {
            Some(cond) => vec![TStmt::If {
                cond,
                then: body,
                els: Vec::new(),
            }],
            None => body,
        };
        els = vec![TStmt::If {
            cond: cmp(Cond::Eq, var(class_var, Type::I64), i as i64 + 1),
            then,
            els,
        }];
    }
    els
}

/// Whether the current task is in a 32-bit (ia32) syscall: `TS_COMPAT` in
/// `current->thread_info.status`. Syscall tracepoints ignore those on x86-64
/// (their numbers are from another table), so the merged program does too.
pub fn in_compat_syscall(status_offset: u32) -> TExpr {
    const TS_COMPAT: i64 = 0x2;
    let span = Span::default();
    let task = texpr(TExprKind::Builtin(Builtin::CurTask), Type::U64, span);
    let addr = texpr(
        TExprKind::Binary {
            op: crate::ir::BinOp::Add,
            lhs: Box::new(task),
            rhs: Box::new(int(status_offset.into())),
        },
        Type::U64,
        span,
    );
    let status = texpr(
        TExprKind::Deref {
            addr: Box::new(addr),
            size: 4,
            signed: false,
            user: false,
        },
        Type::U32,
        span,
    );
    let bit = texpr(
        TExprKind::Binary {
            op: crate::ir::BinOp::And,
            lhs: Box::new(status),
            rhs: Box::new(int(TS_COMPAT)),
        },
        Type::U64,
        span,
    );
    cmp(Cond::Ne, bit, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the tree for `nr` like the program would; returns (probe, class).
    fn run(stmts: &[TStmt], nr: i64) -> Option<(i64, i64)> {
        let mut out = None;
        for s in stmts {
            let TStmt::If { cond, then, els } = s else {
                panic!("unexpected {s:?}")
            };
            let TExprKind::Cmp { cond, rhs, .. } = &cond.kind else {
                panic!()
            };
            let TExprKind::Int(k) = rhs.kind else {
                panic!()
            };
            let taken = match cond {
                Cond::Eq => nr == k,
                Cond::SLt => nr < k,
                _ => panic!(),
            };
            let branch = if taken { then } else { els };
            if let [TStmt::Assign { value: p, .. }, TStmt::Assign { value: c, .. }] = &branch[..] {
                let (TExprKind::Int(p), TExprKind::Int(c)) = (&p.kind, &c.kind) else {
                    panic!()
                };
                out = Some((*p, *c));
            } else {
                out = run(branch, nr);
            }
        }
        out
    }

    #[test]
    fn every_number_finds_its_route_and_others_none() {
        let routes: Vec<Route> = (0..40)
            .map(|i| Route {
                nr: i * 3,
                probe_id: 100 + i,
                class: 1 + i % 2,
            })
            .collect();
        let tree = route_tree(&routes, 0, 1, 2);
        for r in &routes {
            assert_eq!(
                run(&tree, r.nr.into()),
                Some((r.probe_id.into(), r.class.into()))
            );
        }
        for nr in [1, 2, 4, 200, -1] {
            assert_eq!(run(&tree, nr), None, "nr {nr}");
        }
    }
}
