//! The checked program: every name resolved, every expression typed, one body per
//! concrete probe target. This is what [`crate::check`] produces and
//! [`crate::lower`] turns into IR.

use crate::ast::Span;
use crate::ir::{self, EventSpec, MapId};
use crate::probes::Target;
use rtrace_stdlib::types::Type;

pub type VarId = u32;
pub type EventId = u32;

#[derive(Clone, Debug, Default)]
pub struct TypedProgram {
    /// Indexed by `MapId`.
    pub maps: Vec<MapDecl>,
    /// Indexed by event id (the first u64 of every emitted record).
    pub events: Vec<EventSpec>,
    pub probes: Vec<TypedProbe>,
    /// Full probe names, indexed by the value of the `probe` builtin.
    pub probe_names: Vec<String>,
    /// `max_entries` of keyed maps (`BPFTRACE_MAP_KEYS_MAX`, `max_map_keys`).
    pub map_keys_max: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapDecl {
    pub name: String,
    /// `Type::None` when the map has no key; a `Tuple` for `@m[a, b]`.
    pub key: Type,
    pub value: Type,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct TypedProbe {
    pub target: Target,
    /// Index into `TypedProgram::probe_names`.
    pub probe_id: u32,
    /// Index of the probe block in the source.
    pub block: usize,
    /// Whether the target came from a wildcard: such a probe failing to attach
    /// is a warning, not an error.
    pub wildcard: bool,
    /// Scratch variable types, indexed by `VarId`.
    pub vars: Vec<Type>,
    pub predicate: Option<TExpr>,
    pub body: Vec<TStmt>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TExpr {
    pub kind: TExprKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TExprKind {
    Int(i64),
    /// String literal bytes (no NUL); `ty` is `Str { len: bytes + 1 }`.
    Str(Vec<u8>),
    Var(VarId),
    /// Read a map value (zero when absent).
    MapValue {
        map: MapId,
        key: Option<Box<TExpr>>,
    },
    Builtin(ir::Builtin),
    Comm,
    /// The `probe` builtin of this probe.
    ProbeId(u32),
    /// Integer read from the probe context (tracepoint field, pt_regs register).
    CtxInt {
        off: u32,
        size: u8,
        signed: bool,
    },
    /// `char name[N]` tracepoint field.
    CtxCharArray {
        off: u32,
        len: u32,
    },
    /// `__data_loc char[] name` tracepoint field.
    CtxDataLoc {
        off: u32,
        len: u32,
    },
    Binary {
        op: ir::BinOp,
        lhs: Box<TExpr>,
        rhs: Box<TExpr>,
    },
    Cmp {
        cond: ir::Cond,
        lhs: Box<TExpr>,
        rhs: Box<TExpr>,
    },
    /// String equality (`negate` for `!=`).
    StrEq {
        lhs: Box<TExpr>,
        rhs: Box<TExpr>,
        negate: bool,
    },
    LogAnd(Box<TExpr>, Box<TExpr>),
    LogOr(Box<TExpr>, Box<TExpr>),
    LogNot(Box<TExpr>),
    Neg(Box<TExpr>),
    BitNot(Box<TExpr>),
    Ternary {
        cond: Box<TExpr>,
        then: Box<TExpr>,
        els: Box<TExpr>,
    },
    /// Integer cast: truncate to `bits` and extend by `signed`.
    Cast {
        expr: Box<TExpr>,
        bits: u8,
        signed: bool,
    },
    Tuple(Vec<TExpr>),
    TupleField {
        expr: Box<TExpr>,
        index: u32,
    },
    /// An integer of `size` bytes (1, 2, 4, 8) read from kernel or user memory at
    /// `addr`, sign- or zero-extended; 0 if the read faults.
    Deref {
        addr: Box<TExpr>,
        size: u8,
        signed: bool,
        user: bool,
    },
    /// `str(addr, n)`: `ty` is `Str { len }`.
    ReadStr {
        addr: Box<TExpr>,
        user: bool,
    },
    /// The same integer, typed so that it prints as a symbol (`ksym`).
    Retype(Box<TExpr>),
    /// `x++`, `--x` …
    IncDec {
        target: LValue,
        increment: bool,
        prefix: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum LValue {
    Var(VarId),
    Map { map: MapId, key: Option<Box<TExpr>> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Stats,
    Hist,
    Lhist { min: i64, max: i64, step: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum TStmt {
    Expr(TExpr),
    Assign {
        target: LValue,
        value: TExpr,
    },
    Agg {
        map: MapId,
        key: Option<TExpr>,
        func: AggFunc,
        value: Option<TExpr>,
    },
    /// Send an event record to user space: `printf`, `print`, `clear`, `zero`, `time`.
    Emit {
        event: EventId,
        args: Vec<TExpr>,
    },
    /// Emit the exit event, then end this probe invocation.
    Exit {
        event: EventId,
        code: TExpr,
    },
    Delete {
        map: MapId,
        key: Option<TExpr>,
    },
    If {
        cond: TExpr,
        then: Vec<TStmt>,
        els: Vec<TStmt>,
    },
    While {
        cond: TExpr,
        body: Vec<TStmt>,
    },
    Unroll {
        count: u32,
        body: Vec<TStmt>,
    },
    Break,
    Continue,
    Return,
}
