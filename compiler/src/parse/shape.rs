//! AST shaping shared by both front ends (the pest builder and the direct parser), so that
//! they build identical trees: operator precedence, ternary folding, prefixes, `else if`
//! chains and the expression depth limit.

use crate::ast::{
    BinOp, Block, Expr, ExprKind, MacroParam, MacroParamKind, Span, Stmt, StmtKind, TypeName, UnOp,
};
use crate::diag::Diagnostic;

/// Deepest expression tree accepted. Later passes recurse over expressions; long operator
/// chains (`a + b + c + ...`) nest one level per operator.
pub const MAX_EXPR_DEPTH: usize = 512;

/// The operator spelled `text` (also used for compound assignments without their `=`).
pub fn bin_op(text: &str) -> Option<BinOp> {
    use BinOp::*;
    Some(match text {
        "+" => Add,
        "-" => Sub,
        "*" => Mul,
        "/" => Div,
        "%" => Mod,
        "&" => BitAnd,
        "|" => BitOr,
        "^" => BitXor,
        "<<" => Shl,
        ">>" => Shr,
        "&&" => LogAnd,
        "||" => LogOr,
        "==" => Eq,
        "!=" => Ne,
        "<" => Lt,
        "<=" => Le,
        ">" => Gt,
        ">=" => Ge,
        _ => return None,
    })
}

/// C precedence; larger binds tighter.
fn precedence(op: BinOp) -> u8 {
    use BinOp::*;
    match op {
        LogOr => 1,
        LogAnd => 2,
        BitOr => 3,
        BitXor => 4,
        BitAnd => 5,
        Eq | Ne => 6,
        Lt | Le | Gt | Ge => 7,
        Shl | Shr => 8,
        Add | Sub => 9,
        Mul | Div | Mod => 10,
    }
}

/// `unary (op unary)*` folded with C precedence, all operators left-associative. Feed
/// operands and operators alternately, starting and ending with an operand.
#[derive(Default)]
pub struct BinaryChain {
    operands: Vec<Expr>,
    operators: Vec<BinOp>,
}

impl BinaryChain {
    pub fn operand(&mut self, operand: Expr) {
        self.operands.push(operand);
    }

    pub fn operator(&mut self, op: BinOp) {
        // Reduce while the operator on the stack binds at least as tightly.
        while self
            .operators
            .last()
            .is_some_and(|&top| precedence(top) >= precedence(op))
        {
            self.reduce();
        }
        self.operators.push(op);
    }

    /// The folded expression; `None` if the chain did not end with an operand. The chain is
    /// left empty, ready for reuse.
    pub fn finish(&mut self) -> Option<Expr> {
        if self.operands.len() != self.operators.len() + 1 {
            self.operands.clear();
            self.operators.clear();
            return None;
        }
        while !self.operators.is_empty() {
            self.reduce();
        }
        self.operands.pop()
    }

    fn reduce(&mut self) {
        let (Some(op), Some(rhs), Some(lhs)) = (
            self.operators.pop(),
            self.operands.pop(),
            self.operands.pop(),
        ) else {
            return;
        };
        let span = lhs.span.to(rhs.span);
        self.operands.push(Expr {
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            span,
        });
    }
}

/// `c0 ? t0 : c1 ? t1 : e`, given as `first = c0` and tails `(t0, c1), (t1, e)`: folded from
/// the right, so the ternary is right-associative.
pub fn fold_ternary(first: Expr, tails: Vec<(Expr, Expr)>) -> Expr {
    let mut conds = vec![first];
    let mut thens = Vec::with_capacity(tails.len());
    for (then, next) in tails {
        thens.push(then);
        conds.push(next);
    }
    let mut result = conds.pop().expect("`first` is always there");
    while let (Some(then), Some(cond)) = (thens.pop(), conds.pop()) {
        let span = cond.span.to(result.span);
        result = Expr {
            kind: ExprKind::Ternary {
                cond: Box::new(cond),
                then: Box::new(then),
                els: Box::new(result),
            },
            span,
        };
    }
    result
}

/// A prefix applied after the operand is built.
pub enum Prefix {
    Op(UnOp),
    IncDec(bool),
    Cast(TypeName),
}

/// The prefix operator spelled `text` (`-`, `++`, `!`, ...).
pub fn prefix_op(text: &str) -> Option<Prefix> {
    Some(match text {
        "++" => Prefix::IncDec(true),
        "--" => Prefix::IncDec(false),
        "-" => Prefix::Op(UnOp::Neg),
        "!" => Prefix::Op(UnOp::LogNot),
        "~" => Prefix::Op(UnOp::BitNot),
        "*" => Prefix::Op(UnOp::Deref),
        "&" => Prefix::Op(UnOp::AddrOf),
        _ => return None,
    })
}

/// Applies prefixes (each with its start offset) from the inside out: postfixes have already
/// bound to `operand`, as in C.
pub fn apply_prefixes(mut prefixes: Vec<(Prefix, usize)>, operand: Expr) -> Expr {
    let mut result = operand;
    while let Some((prefix, start)) = prefixes.pop() {
        let span = Span::new(start, result.span.end);
        let inner = Box::new(result);
        let kind = match prefix {
            Prefix::Op(op) => ExprKind::Unary { op, expr: inner },
            Prefix::IncDec(increment) => ExprKind::IncDec {
                target: inner,
                increment,
                prefix: true,
            },
            Prefix::Cast(ty) => ExprKind::Cast { ty, expr: inner },
        };
        result = Expr { kind, span };
    }
    result
}

/// `if c {..} else if c {..} else {..}`: each `else if` (condition, block, start of its
/// `else`) becomes an `else` block holding one `If` that reaches to the end of the statement.
pub fn if_chain(
    cond: Expr,
    then: Block,
    mut else_ifs: Vec<(Expr, Block, usize)>,
    mut els: Option<Block>,
    span: Span,
) -> Stmt {
    while let Some((cond, then, start)) = else_ifs.pop() {
        let chain = Span::new(start, span.end);
        let nested = Stmt {
            kind: StmtKind::If { cond, then, els },
            span: chain,
        };
        els = Some(Block {
            stmts: vec![nested],
            span: chain,
        });
    }
    Stmt {
        kind: StmtKind::If { cond, then, els },
        span,
    }
}

/// A complete expression (statement value, condition, predicate, config value) if it is not
/// nested deeper than [`MAX_EXPR_DEPTH`].
pub fn within_depth(expr: Expr) -> Result<Expr, Diagnostic> {
    if !deeper_than(&expr, MAX_EXPR_DEPTH) {
        return Ok(expr);
    }
    let span = expr.span;
    dismantle(expr);
    Err(Diagnostic::error(span, "expression is nested too deeply")
        .with_label("this expression")
        .with_note(format!(
            "at most {MAX_EXPR_DEPTH} levels of operators are supported; split it using variables"
        )))
}

/// Is the tree more than `limit` levels deep? The recursion stops at `limit`, so it stays
/// shallow however deep the tree is.
fn deeper_than(e: &Expr, limit: usize) -> bool {
    if limit == 0 {
        return true;
    }
    let mut deeper = false;
    each_child(&e.kind, |child| {
        deeper = deeper || deeper_than(child, limit - 1)
    });
    deeper
}

/// Calls `visit` on each direct sub-expression.
fn each_child<'e>(kind: &'e ExprKind, mut visit: impl FnMut(&'e Expr)) {
    use crate::ast::SizeofArg;
    use ExprKind::*;
    match kind {
        Int(_) | Str(_) | Ident(_) | Var(_) | Positional(_) | PositionalCount | Offsetof { .. } => {
        }
        Sizeof(SizeofArg::Type(_)) => {}
        Sizeof(SizeofArg::Expr(e)) => visit(e),
        Map { keys: list, .. } | Call { args: list, .. } | Tuple(list) => {
            list.iter().for_each(visit)
        }
        Binary { lhs, rhs, .. } => {
            visit(lhs);
            visit(rhs);
        }
        Index { expr, index } => {
            visit(expr);
            visit(index);
        }
        Unary { expr, .. }
        | Field { expr, .. }
        | TupleIndex { expr, .. }
        | Cast { expr, .. }
        | IncDec { target: expr, .. } => visit(expr),
        Ternary { cond, then, els } => {
            visit(cond);
            visit(then);
            visit(els);
        }
    }
}

/// Drops a (possibly very deep) tree one node at a time instead of recursively.
fn dismantle(root: Expr) {
    use crate::ast::SizeofArg;
    use ExprKind::*;
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        match e.kind {
            Sizeof(SizeofArg::Expr(e)) => stack.push(*e),
            Map { keys: list, .. } | Call { args: list, .. } | Tuple(list) => stack.extend(list),
            Binary { lhs, rhs, .. } => stack.extend([*lhs, *rhs]),
            Index { expr, index } => stack.extend([*expr, *index]),
            Unary { expr, .. }
            | Field { expr, .. }
            | TupleIndex { expr, .. }
            | Cast { expr, .. }
            | IncDec { target: expr, .. } => stack.push(*expr),
            Ternary { cond, then, els } => stack.extend([*cond, *then, *els]),
            _ => {}
        }
    }
}

/// A macro parameter from its text (`x`, `$x` or `@x`).
pub fn macro_param(text: &str, span: Span) -> MacroParam {
    let (kind, name) = match text.as_bytes().first() {
        Some(b'$') => (MacroParamKind::Var, &text[1..]),
        Some(b'@') => (MacroParamKind::Map, &text[1..]),
        _ => (MacroParamKind::Expr, text),
    };
    MacroParam {
        name: name.to_string(),
        kind,
        span,
    }
}
