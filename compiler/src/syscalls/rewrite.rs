//! Rewriting a syscall tracepoint body so it runs on the `sys_enter`/`sys_exit`
//! raw tracepoint: tracepoint record fields become reads of the saved user
//! registers, `probe` becomes a variable the dispatch sets, and variables move
//! to their place in the merged program.

use crate::ir::BinOp;
use crate::typed::{LValue, PartSrc, TEffect, TExpr, TExprKind, TStmt, VarId};
use rtrace_stdlib::types::Type;

/// Offset of the first argument in a `sys_enter_*` record (after the common
/// header and `int __syscall_nr`, padded), and of `ret` in a `sys_exit_*` one.
const RECORD_ARGS: u32 = 16;
const RECORD_SYSCALL_NR: u32 = 8;
/// `struct pt_regs` offsets of the x86-64 syscall arguments: di, si, dx, r10, r8, r9.
const PT_REGS_SYSCALL_ARGS: [u32; 6] = [112, 104, 96, 56, 72, 64];
/// Raw tracepoint arguments: `(struct pt_regs *regs, long id)` at entry,
/// `(struct pt_regs *regs, long ret)` at exit.
const RAW_REGS: u32 = 0;
const RAW_SECOND: u32 = 8;

/// Which raw tracepoint the body will run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Enter,
    Exit,
}

/// How to rewrite one body.
pub struct Rewrite {
    pub direction: Direction,
    /// The merged program's variable holding the syscall number.
    pub nr_var: VarId,
    /// The merged program's variable holding the probe id.
    pub probe_var: VarId,
    /// Added to every variable of the body.
    pub var_base: VarId,
}

/// The body reads something the raw tracepoint cannot provide (a common
/// header field, say): it stays on its own tracepoint.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsupported;

type Fallible = Result<(), Unsupported>;

impl Rewrite {
    pub fn stmts(&self, stmts: &mut [TStmt]) -> Fallible {
        stmts.iter_mut().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&self, s: &mut TStmt) -> Fallible {
        match s {
            TStmt::Expr(e) => self.expr(e),
            TStmt::Assign { target, value } => {
                self.lvalue(target)?;
                self.expr(value)
            }
            TStmt::Agg { key, value, .. } => {
                self.opt(key.as_mut())?;
                self.opt(value.as_mut())
            }
            TStmt::Emit { args, .. } => args.iter_mut().try_for_each(|a| self.expr(a)),
            TStmt::Exit { code, .. } => self.expr(code),
            TStmt::Delete { key, .. } => self.opt(key.as_mut()),
            TStmt::If { cond, then, els } => {
                self.expr(cond)?;
                self.stmts(then)?;
                self.stmts(els)
            }
            TStmt::While { cond, body } => {
                self.expr(cond)?;
                self.stmts(body)
            }
            TStmt::Unroll { body, .. } => self.stmts(body),
            TStmt::Break | TStmt::Continue | TStmt::Return => Ok(()),
            TStmt::ForMap { var, body, .. } => {
                *var += self.var_base;
                self.stmts(body)
            }
            TStmt::ForRange {
                var,
                from,
                to,
                body,
            } => {
                *var += self.var_base;
                self.expr(from)?;
                self.expr(to)?;
                self.stmts(body)
            }
            TStmt::Effect(effect) => match effect {
                TEffect::Signal(x) | TEffect::Override(x) => self.expr(x),
                TEffect::Debugf { args, .. } => args.iter_mut().try_for_each(|a| self.expr(a)),
            },
        }
    }

    fn lvalue(&self, lv: &mut LValue) -> Fallible {
        match lv {
            LValue::Var(id) => {
                *id += self.var_base;
                Ok(())
            }
            LValue::Map { key, .. } => self.opt(key.as_deref_mut()),
        }
    }

    fn opt(&self, e: Option<&mut TExpr>) -> Fallible {
        e.map_or(Ok(()), |e| self.expr(e))
    }

    pub fn expr(&self, e: &mut TExpr) -> Fallible {
        use TExprKind::*;
        match &mut e.kind {
            Int(_) | Str(_) | Builtin(_) | Comm => Ok(()),
            Var(id) => {
                *id += self.var_base;
                Ok(())
            }
            ProbeId(_) => {
                e.kind = Var(self.probe_var);
                Ok(())
            }
            CtxInt { off, size, signed } => {
                e.kind = self.field(*off, *size, *signed)?;
                Ok(())
            }
            CtxCharArray { .. } | CtxDataLoc { .. } => Err(Unsupported),
            MapValue { key, .. } => self.opt(key.as_deref_mut()),
            Binary { lhs, rhs, .. } | Cmp { lhs, rhs, .. } | StrEq { lhs, rhs, .. } => {
                self.expr(lhs)?;
                self.expr(rhs)
            }
            LogAnd(a, b) | LogOr(a, b) => {
                self.expr(a)?;
                self.expr(b)
            }
            LogNot(x) | Neg(x) | BitNot(x) | Retype(x) => self.expr(x),
            Ternary { cond, then, els } => {
                self.expr(cond)?;
                self.expr(then)?;
                self.expr(els)
            }
            Cast { expr, .. } | TupleField { expr, .. } => self.expr(expr),
            Tuple(xs) => xs.iter_mut().try_for_each(|x| self.expr(x)),
            Deref { addr, .. } | ReadStr { addr, .. } => self.expr(addr),
            IncDec { target, .. } => self.lvalue(target),
            HasKey { key, .. } => self.opt(key.as_deref_mut()),
            MapLen(_) | Stack { .. } => Ok(()),
            Bswap { expr, .. } => self.expr(expr),
            StrContains { hay, needle } => {
                self.expr(hay)?;
                self.expr(needle)
            }
            Usym { addr, .. } => self.expr(addr),
            StrByte { expr, .. } => self.expr(expr),
            RecordPart { expr, .. } => self.expr(expr),
            Build(parts) => parts.iter_mut().try_for_each(|p| match &mut p.src {
                PartSrc::Int { value, .. } | PartSrc::Copy { value, .. } => self.expr(value),
                PartSrc::Mem { addr, .. } | PartSrc::DPath { addr, .. } => self.expr(addr),
                // Tracepoint byte arrays have no register to come from.
                PartSrc::Ctx { .. } => Err(Unsupported),
                PartSrc::Buf { addr, count, .. } => {
                    self.expr(addr)?;
                    self.expr(count)
                }
            }),
        }
    }

    /// The raw tracepoint read that yields the record field at `off`.
    fn field(&self, off: u32, size: u8, signed: bool) -> Result<TExprKind, Unsupported> {
        if off == RECORD_SYSCALL_NR {
            return Ok(TExprKind::Var(self.nr_var));
        }
        let Some(delta) = off.checked_sub(RECORD_ARGS) else {
            return Err(Unsupported);
        };
        if delta % 8 != 0 {
            return Err(Unsupported);
        }
        let index = (delta / 8) as usize;
        match self.direction {
            Direction::Exit if index == 0 => Ok(TExprKind::CtxInt {
                off: RAW_SECOND,
                size,
                signed,
            }),
            Direction::Enter if index < PT_REGS_SYSCALL_ARGS.len() => {
                Ok(saved_register(PT_REGS_SYSCALL_ARGS[index], size, signed))
            }
            _ => Err(Unsupported),
        }
    }
}

/// `*(regs + off)`: a register the syscall entry saved, read from kernel memory.
pub fn saved_register(off: u32, size: u8, signed: bool) -> TExprKind {
    let span = Default::default();
    let regs = TExpr {
        kind: TExprKind::CtxInt {
            off: RAW_REGS,
            size: 8,
            signed: false,
        },
        ty: Type::U64,
        span,
    };
    let offset = TExpr {
        kind: TExprKind::Int(off.into()),
        ty: Type::I64,
        span,
    };
    let addr = TExpr {
        kind: TExprKind::Binary {
            op: BinOp::Add,
            lhs: Box::new(regs),
            rhs: Box::new(offset),
        },
        ty: Type::U64,
        span,
    };
    TExprKind::Deref {
        addr: Box::new(addr),
        size,
        signed,
        user: false,
    }
}

/// Whether the statements can end the program early (`return`, `exit()`):
/// in a merged program that would skip the blocks merged after them.
pub fn ends_early(stmts: &[TStmt]) -> bool {
    stmts.iter().any(|s| match s {
        TStmt::Return | TStmt::Exit { .. } => true,
        TStmt::If { then, els, .. } => ends_early(then) || ends_early(els),
        TStmt::While { body, .. }
        | TStmt::Unroll { body, .. }
        | TStmt::ForMap { body, .. }
        | TStmt::ForRange { body, .. } => ends_early(body),
        _ => false,
    })
}
