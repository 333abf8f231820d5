//! The syntax tree of a script, as parsed, with a source span on every node.
//!
//! Names are kept as written: the checker decides whether `pid` is a builtin,
//! whether `hist(...)` is an aggregation and what `tracepoint:a:b` attaches to.

/// Byte range `[start, end)` in the script source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// `config = { key = value; ... }` entries, in order.
    pub config: Vec<ConfigItem>,
    /// C preprocessor lines (`#include`, `#define`) and C type definitions, kept verbatim:
    /// the checker reads the type definitions (they shadow BTF types of the same name,
    /// as in bpftrace) and ignores the preprocessor lines.
    pub c_definitions: Vec<CDefinition>,
    pub probes: Vec<Probe>,
    /// `macro name(params) { body }` definitions, expanded at their call sites before checking.
    pub macros: Vec<MacroDef>,
}

/// `macro name(params) { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct MacroDef {
    pub name: String,
    pub params: Vec<MacroParam>,
    pub body: Block,
    pub span: Span,
}

/// One macro parameter; `name` is without its sigil.
#[derive(Clone, Debug, PartialEq)]
pub struct MacroParam {
    pub name: String,
    pub kind: MacroParamKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacroParamKind {
    /// `x`: any expression, substituted where the name appears.
    Expr,
    /// `$x`: the caller's variable, bound by name.
    Var,
    /// `@x`: the caller's map, bound by name.
    Map,
}

/// One top-level C item: a preprocessor line or a `struct`/`union`/`enum`/`typedef`.
#[derive(Clone, Debug, PartialEq)]
pub struct CDefinition {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigItem {
    pub key: String,
    pub value: Expr,
    pub span: Span,
}

/// `attach, attach /pred/ { body }` (or `< body >`).
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Block,
    pub span: Span,
}

/// One attach point exactly as written, e.g. `tracepoint:syscalls:sys_enter_*`,
/// `t:sched:sched_switch`, `BEGIN`, `interval:s:1`, `uprobe:/bin/bash:readline`,
/// `usdt:$1:query__start`. Splitting it into parts is the checker's job.
#[derive(Clone, Debug, PartialEq)]
pub struct AttachPoint {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect: a call, `@x++`, …
    Expr(Expr),
    /// `target = value` (op `None`) or `target op= value` (`+=`, `<<=`, …).
    Assign {
        target: Expr,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `let $x;` or `let $x = value;`
    Let {
        name: String,
        value: Option<Expr>,
    },
    /// `if (cond) { … } else …`; `else if` is an `else` block holding one `If`.
    If {
        cond: Expr,
        then: Block,
        els: Option<Block>,
    },
    /// `unroll (count) { … }`
    Unroll {
        count: Expr,
        body: Block,
    },
    /// `while (cond) { … }`
    While {
        cond: Expr,
        body: Block,
    },
    /// `for ($kv : @map) { … }` or `for ($i : a..b) { … }`
    For {
        var: String,
        iter: ForIter,
        body: Block,
    },
    Break,
    Continue,
    /// `return;`
    Return,
    /// A nested `{ … }` block (its own scope).
    Block(Block),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ForIter {
    Map(Expr),
    Range(Expr, Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal; `0x10`, `010` (octal), `1_000`, `1e3` are all decoded here.
    Int(u64),
    /// String literal with escapes already decoded (`\n`, `\t`, `\"`, `\\`, `\NNN`, `\xNN`).
    Str(Vec<u8>),
    /// A bare identifier: builtin variable (`pid`, `comm`, `args`, `arg0`, `retval`, …)
    /// or, after `sizeof(`, a type name.
    Ident(String),
    /// `$name` scratch variable.
    Var(String),
    /// `$1`, `$2`, … positional parameter.
    Positional(u32),
    /// `$#`: the number of positional parameters.
    PositionalCount,
    /// `@name` or `@name[k1, k2, …]`; the bare `@` has name `""`.
    Map {
        name: String,
        keys: Vec<Expr>,
    },
    /// `name(args…)`; `exit`, `printf`, `count`, `hist`, `str`, …
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    /// `++x`, `x++`, `--x`, `x--` on a variable or map entry.
    IncDec {
        target: Box<Expr>,
        increment: bool,
        prefix: bool,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    /// `expr.field` (`arrow == false`) or `expr->field` (`arrow == true`).
    Field {
        expr: Box<Expr>,
        field: String,
        arrow: bool,
    },
    /// `expr[index]` on a pointer or array (maps use `Map`).
    Index {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    /// `expr.0`, `expr.1` on a tuple.
    TupleIndex {
        expr: Box<Expr>,
        index: u32,
    },
    /// `(type) expr`
    Cast {
        ty: TypeName,
        expr: Box<Expr>,
    },
    /// `(a, b, …)` with at least two elements.
    Tuple(Vec<Expr>),
    /// `sizeof(type)` or `sizeof(expr)`.
    Sizeof(SizeofArg),
    /// `offsetof(struct T, field.sub)`.
    Offsetof {
        ty: TypeName,
        field: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum SizeofArg {
    Type(TypeName),
    Expr(Box<Expr>),
}

/// A type name in a cast or `sizeof`: `uint8`, `int64`, `struct sock *`, `unsigned int`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    /// The base name with single spaces, e.g. `struct sock`, `uint64`, `unsigned long`.
    pub base: String,
    /// Number of `*` after the base.
    pub pointer_depth: u32,
    /// `[N]` array suffix, as in `(uint8[4])`.
    pub array_len: Option<u32>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    LogAnd,
    LogOr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `!x`
    LogNot,
    /// `~x`
    BitNot,
    /// `*p`
    Deref,
    /// `&x`
    AddrOf,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            LogAnd => "&&",
            LogOr => "||",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
        }
    }
}

impl Expr {
    /// The direct sub-expressions, for passes that rewrite the tree.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ident(_)
            | ExprKind::Var(_)
            | ExprKind::Positional(_)
            | ExprKind::PositionalCount
            | ExprKind::Offsetof { .. }
            | ExprKind::Sizeof(SizeofArg::Type(_)) => Vec::new(),
            ExprKind::Map { keys: list, .. }
            | ExprKind::Call { args: list, .. }
            | ExprKind::Tuple(list) => list.iter_mut().collect(),
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Unary { expr: inner, .. }
            | ExprKind::IncDec { target: inner, .. }
            | ExprKind::Field { expr: inner, .. }
            | ExprKind::TupleIndex { expr: inner, .. }
            | ExprKind::Cast { expr: inner, .. }
            | ExprKind::Sizeof(SizeofArg::Expr(inner)) => vec![inner],
            ExprKind::Index { expr: e, index } => vec![e, index],
            ExprKind::Ternary { cond, then, els } => vec![cond, then, els],
        }
    }
}

impl Stmt {
    /// The statement's own expressions, then its nested blocks, in source order:
    /// what a pass rewriting the tree visits below a statement.
    pub fn parts_mut(&mut self) -> (Vec<&mut Expr>, Vec<&mut Block>) {
        match &mut self.kind {
            StmtKind::Expr(e) => (vec![e], vec![]),
            StmtKind::Assign { target, value, .. } => (vec![target, value], vec![]),
            StmtKind::Let { value, .. } => (value.iter_mut().collect(), vec![]),
            StmtKind::If { cond, then, els } => (
                vec![cond],
                std::iter::once(then).chain(els.as_mut()).collect(),
            ),
            StmtKind::Unroll { count: head, body } | StmtKind::While { cond: head, body } => {
                (vec![head], vec![body])
            }
            StmtKind::For { iter, body, .. } => match iter {
                ForIter::Map(map) => (vec![map], vec![body]),
                ForIter::Range(from, to) => (vec![from, to], vec![body]),
            },
            StmtKind::Block(block) => (vec![], vec![block]),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => (vec![], vec![]),
        }
    }
}
