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
    /// Problems that do not stop the script (an attach point that matches nothing
    /// next to others that do, a target `--dry-run` could not resolve here).
    pub warnings: Vec<crate::diag::Diagnostic>,
    /// The stack maps the program needs: (user, depth), one per pair.
    pub stack_maps: Vec<(bool, u32)>,
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
    /// `has_key(@m, key)`: 1 if the entry exists, else 0.
    HasKey {
        map: MapId,
        key: Option<Box<TExpr>>,
    },
    /// `len(@m)`: the number of entries (user space only).
    MapLen(MapId),
    /// A value of fixed byte layout (`ntop`, `macaddr`, `pton`): a zeroed
    /// buffer of `ty.size()` bytes into which each part is written in turn.
    Build(Vec<Part>),
    /// The low `bits` (16, 32, 64) of an integer with their bytes reversed.
    Bswap {
        expr: Box<TExpr>,
        bits: u8,
    },
    /// `kstack` / `ustack`: `ty` is `Type::Stack`. A user stack also notes its
    /// pid, emitting `pid_event` the first time a process is seen.
    Stack {
        user: bool,
        limit: u32,
        pid_event: Option<EventId>,
    },
    /// `strcontains(hay, needle)`: 1 if the string `needle` occurs in `hay`.
    StrContains {
        hay: Box<TExpr>,
        needle: Box<TExpr>,
    },
    /// `usym(addr)`: `[addr, pid]` in memory (`Type::Usym`). In a kernel
    /// probe the pid is announced with `pid_event` the first time it is seen,
    /// as for user stacks.
    Usym {
        addr: Box<TExpr>,
        pid_event: Option<EventId>,
    },
    /// `$s[index]`: byte `index` (a checked constant) of a string value.
    StrByte {
        expr: Box<TExpr>,
        index: u32,
    },
    /// The member at byte `offset` of a struct copy (`expr` is a
    /// `Type::Record` value in memory); `ty` is the member's type.
    RecordPart {
        expr: Box<TExpr>,
        offset: u32,
    },
}

/// One piece of a [`TExprKind::Build`] value, written at byte `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub at: u32,
    pub src: PartSrc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PartSrc {
    /// The low `size` bytes of an integer (little endian, as in memory).
    Int { value: TExpr, size: u8 },
    /// `len` bytes of kernel or user memory at `addr` (zero if the read faults).
    Mem { addr: TExpr, len: u32, user: bool },
    /// `len` bytes of the probe context from byte `off` (tracepoint arrays).
    Ctx { off: u32, len: u32 },
    /// The first `len` bytes of an in-memory value (`pton()` bytes).
    Copy { value: TExpr, len: u32 },
    /// `buf(addr, count)`: `min(count, cap)` as a u64, then that many bytes of
    /// kernel or user memory at `addr` (a `Type::Buf { cap }` value).
    Buf {
        addr: TExpr,
        count: TExpr,
        cap: u32,
        user: bool,
    },
    /// `path(p)`: the full path of a `struct path *` (bpf_d_path), `len` bytes.
    DPath { addr: TExpr, len: u32 },
}

/// Kernel helpers called for their side effect.
#[derive(Clone, Debug, PartialEq)]
pub enum TEffect {
    /// `signal(sig)`
    Signal(TExpr),
    /// `override(rc)`
    Override(TExpr),
    /// `debugf(fmt, …)`: the format as bpf_trace_printk wants it, up to 3 integers.
    Debugf { format: Vec<u8>, args: Vec<TExpr> },
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
    /// `for ($kv : @map) { … }` (user space only): `var` is the (key, value) tuple.
    ForMap {
        var: VarId,
        map: MapId,
        body: Vec<TStmt>,
    },
    /// `for ($i : from..to) { … }`: `var` runs over the half-open range.
    ForRange {
        var: VarId,
        from: TExpr,
        to: TExpr,
        body: Vec<TStmt>,
    },
    Effect(TEffect),
}
