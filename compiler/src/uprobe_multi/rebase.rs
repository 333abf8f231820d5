//! Moving a site body into a merged program: its variables shift to their
//! place after the merged program's own, and `probe` becomes the variable the
//! dispatch sets (so bodies that differ only in the probe id are one body).

use crate::typed::{LValue, PartSrc, TEffect, TExpr, TExprKind, TStmt, VarId};

pub struct Rebase {
    /// The merged program's variable holding the probe id.
    pub probe_var: VarId,
    /// Added to every variable of the body.
    pub var_base: VarId,
}

impl Rebase {
    pub fn stmts(&self, stmts: &mut [TStmt]) {
        stmts.iter_mut().for_each(|s| self.stmt(s));
    }

    fn stmt(&self, s: &mut TStmt) {
        match s {
            TStmt::Expr(e) => self.expr(e),
            TStmt::Assign { target, value } => {
                self.lvalue(target);
                self.expr(value);
            }
            TStmt::Agg { key, value, .. } => {
                self.opt(key.as_mut());
                self.opt(value.as_mut());
            }
            TStmt::Emit { args, .. } => args.iter_mut().for_each(|a| self.expr(a)),
            TStmt::Exit { code, .. } => self.expr(code),
            TStmt::Delete { key, .. } => self.opt(key.as_mut()),
            TStmt::If { cond, then, els } => {
                self.expr(cond);
                self.stmts(then);
                self.stmts(els);
            }
            TStmt::While { cond, body } => {
                self.expr(cond);
                self.stmts(body);
            }
            TStmt::Unroll { body, .. } => self.stmts(body),
            TStmt::Break | TStmt::Continue | TStmt::Return => {}
            TStmt::ForMap { var, body, .. } => {
                *var += self.var_base;
                self.stmts(body);
            }
            TStmt::ForRange {
                var,
                from,
                to,
                body,
            } => {
                *var += self.var_base;
                self.expr(from);
                self.expr(to);
                self.stmts(body);
            }
            TStmt::Effect(effect) => match effect {
                TEffect::Signal(x) | TEffect::Override(x) => self.expr(x),
                TEffect::Debugf { args, .. } => args.iter_mut().for_each(|a| self.expr(a)),
            },
        }
    }

    fn lvalue(&self, lv: &mut LValue) {
        match lv {
            LValue::Var(id) => *id += self.var_base,
            LValue::Map { key, .. } => self.opt(key.as_deref_mut()),
        }
    }

    fn opt(&self, e: Option<&mut TExpr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    pub fn expr(&self, e: &mut TExpr) {
        use TExprKind::*;
        match &mut e.kind {
            Int(_) | Str(_) | Builtin(_) | Comm | CtxInt { .. } => {}
            CtxCharArray { .. } | CtxDataLoc { .. } | MapLen(_) | Stack { .. } => {}
            Var(id) => *id += self.var_base,
            ProbeId(_) => e.kind = Var(self.probe_var),
            MapValue { key, .. } | HasKey { key, .. } => self.opt(key.as_deref_mut()),
            Binary { lhs, rhs, .. } | Cmp { lhs, rhs, .. } | StrEq { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            LogAnd(a, b) | LogOr(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            LogNot(x) | Neg(x) | BitNot(x) | Retype(x) => self.expr(x),
            Ternary { cond, then, els } => {
                self.expr(cond);
                self.expr(then);
                self.expr(els);
            }
            Cast { expr, .. } | TupleField { expr, .. } | Bswap { expr, .. } => self.expr(expr),
            Tuple(xs) => xs.iter_mut().for_each(|x| self.expr(x)),
            Deref { addr, .. } | ReadStr { addr, .. } | Usym { addr, .. } => self.expr(addr),
            StrByte { expr, .. } => self.expr(expr),
            RecordPart { expr, .. } => self.expr(expr),
            IncDec { target, .. } => self.lvalue(target),
            StrContains { hay, needle } => {
                self.expr(hay);
                self.expr(needle);
            }
            Build(parts) => parts.iter_mut().for_each(|p| match &mut p.src {
                PartSrc::Int { value, .. } | PartSrc::Copy { value, .. } => self.expr(value),
                PartSrc::Mem { addr, .. } | PartSrc::DPath { addr, .. } => self.expr(addr),
                PartSrc::Ctx { .. } => {}
                PartSrc::Buf { addr, count, .. } => {
                    self.expr(addr);
                    self.expr(count);
                }
            }),
        }
    }
}
