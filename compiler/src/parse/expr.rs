//! Expressions: pest pairs → [`Expr`], with C operator precedence.

use pest::iterators::Pair;
use rtrace_grammar::Rule;

use super::literal::{parse_int, parse_string};
use super::pairs::{children, internal, next, span_of, unexpected, Result};
use super::types::type_name;
use crate::ast::{BinOp, Expr, ExprKind, SizeofArg, Span, TypeName, UnOp};
use crate::diag::Diagnostic;

/// Deepest expression tree accepted. Later passes recurse over expressions; long operator
/// chains (`a + b + c + ...`) nest one level per operator.
pub const MAX_EXPR_DEPTH: usize = 512;

/// Builds a complete expression (statement value, condition, predicate, config value) and
/// checks its depth.
pub fn top_expr(pair: Pair<'_, Rule>) -> Result<Expr> {
    let expr = expr(pair)?;
    if expr_depth(&expr) > MAX_EXPR_DEPTH {
        let span = expr.span;
        dismantle(expr);
        return Err(Diagnostic::error(span, "expression is nested too deeply")
            .with_label("this expression")
            .with_note(format!(
                "at most {MAX_EXPR_DEPTH} levels of operators are supported; split it using variables"
            )));
    }
    Ok(expr)
}

/// `expr`, `pred_expr` or `angle_expr`: a binary chain followed by ternary tails.
pub fn expr(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let first = binary(next(&mut parts, span, "an operand")?)?;
    // `c0 ? t0 : c1 ? t1 : e` arrives as c0, (t0, c1), (t1, e): fold from the right.
    let mut conds = vec![first];
    let mut thens = Vec::new();
    for tail in parts {
        let tail_span = span_of(&tail);
        let mut inner = children(tail);
        thens.push(expr(next(&mut inner, tail_span, "the ternary's middle")?)?);
        conds.push(binary(next(&mut inner, tail_span, "the ternary's else")?)?);
    }
    let mut result = conds.pop().ok_or_else(|| internal(span, "an expression"))?;
    while let Some(then) = thens.pop() {
        let cond = conds.pop().ok_or_else(|| internal(span, "a condition"))?;
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
    Ok(result)
}

/// `unary (op unary)*`, folded with C precedence, all operators left-associative.
fn binary(pair: Pair<'_, Rule>) -> Result<Expr> {
    let mut operands: Vec<Expr> = Vec::new();
    let mut operators: Vec<BinOp> = Vec::new();
    for part in children(pair) {
        match part.as_rule() {
            Rule::unary => operands.push(unary(part)?),
            Rule::infix_op | Rule::pred_infix_op | Rule::angle_infix_op => {
                let op =
                    bin_op(part.as_str()).ok_or_else(|| unexpected(&part, "a binary operator"))?;
                // Reduce while the operator on the stack binds at least as tightly.
                while operators
                    .last()
                    .is_some_and(|&top| precedence(top) >= precedence(op))
                {
                    reduce(&mut operands, &mut operators)?;
                }
                operators.push(op);
            }
            _ => return Err(unexpected(&part, "an operand or operator")),
        }
    }
    while !operators.is_empty() {
        reduce(&mut operands, &mut operators)?;
    }
    operands
        .pop()
        .ok_or_else(|| internal(Span::default(), "an operand"))
}

fn reduce(operands: &mut Vec<Expr>, operators: &mut Vec<BinOp>) -> Result<()> {
    let missing = || internal(Span::default(), "two operands");
    let op = operators.pop().ok_or_else(missing)?;
    let rhs = operands.pop().ok_or_else(missing)?;
    let lhs = operands.pop().ok_or_else(missing)?;
    let span = lhs.span.to(rhs.span);
    operands.push(Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    });
    Ok(())
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

/// A prefix applied after the operand is built.
enum Prefix {
    Op(UnOp),
    IncDec(bool),
    Cast(TypeName),
}

/// `prefix* primary postfix*`: postfixes bind first, then prefixes from the inside out.
pub fn unary(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut prefixes: Vec<(Prefix, usize)> = Vec::new();
    let mut operand: Option<Expr> = None;
    for part in children(pair) {
        let start = part.as_span().start();
        match (part.as_rule(), operand.take()) {
            (Rule::prefix_op, None) => prefixes.push((prefix_op(&part)?, start)),
            (Rule::cast_prefix, None) => prefixes.push((cast_prefix(part)?, start)),
            (_, None) => operand = Some(primary(part)?),
            (_, Some(base)) => operand = Some(postfix(base, part)?),
        }
    }
    let mut result = operand.ok_or_else(|| internal(span, "an operand"))?;
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
    Ok(result)
}

fn prefix_op(pair: &Pair<'_, Rule>) -> Result<Prefix> {
    Ok(match pair.as_str() {
        "++" => Prefix::IncDec(true),
        "--" => Prefix::IncDec(false),
        "-" => Prefix::Op(UnOp::Neg),
        "!" => Prefix::Op(UnOp::LogNot),
        "~" => Prefix::Op(UnOp::BitNot),
        "*" => Prefix::Op(UnOp::Deref),
        "&" => Prefix::Op(UnOp::AddrOf),
        _ => return Err(unexpected(pair, "a prefix operator")),
    })
}

fn cast_prefix(pair: Pair<'_, Rule>) -> Result<Prefix> {
    let span = span_of(&pair);
    let ty = next(&mut children(pair), span, "a type")?;
    Ok(Prefix::Cast(type_name(ty)?))
}

/// Applies one postfix (`.f`, `->f`, `.0`, `[i]`, `++`, `--`) to `base`.
fn postfix(base: Expr, pair: Pair<'_, Rule>) -> Result<Expr> {
    let pair_span = span_of(&pair);
    let span = Span::new(base.span.start, pair_span.end);
    let base = Box::new(base);
    let rule = pair.as_rule();
    let text = pair.as_str();
    let kind = match rule {
        Rule::field_access | Rule::arrow_access => ExprKind::Field {
            expr: base,
            field: next(&mut children(pair), pair_span, "a field name")?
                .as_str()
                .to_string(),
            arrow: rule == Rule::arrow_access,
        },
        Rule::tuple_index => {
            let digits = next(&mut children(pair), pair_span, "a tuple index")?;
            ExprKind::TupleIndex {
                expr: base,
                index: small_number(&digits, "tuple index")?,
            }
        }
        Rule::index_access => ExprKind::Index {
            expr: base,
            index: Box::new(expr(next(&mut children(pair), pair_span, "an index")?)?),
        },
        Rule::post_incdec => ExprKind::IncDec {
            target: base,
            increment: text == "++",
            prefix: false,
        },
        _ => return Err(unexpected(&pair, "a postfix operator")),
    };
    Ok(Expr { kind, span })
}

fn primary(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let text = pair.as_str();
    let kind = match pair.as_rule() {
        Rule::int_lit => ExprKind::Int(parse_int(text, span)?),
        Rule::str_lit => ExprKind::Str(parse_string(text, span)?),
        Rule::ident => ExprKind::Ident(text.to_string()),
        Rule::var => ExprKind::Var(text[1..].to_string()),
        Rule::positional => ExprKind::Positional(number(&text[1..], span, "positional parameter")?),
        Rule::positional_count => ExprKind::PositionalCount,
        Rule::map_expr => map_expr(pair)?,
        Rule::call => call(pair)?,
        Rule::paren => return paren(pair),
        Rule::sizeof_expr => sizeof(pair)?,
        Rule::offsetof_expr => offsetof(pair)?,
        _ => return Err(unexpected(&pair, "an operand")),
    };
    Ok(Expr { kind, span })
}

/// `@name` or `@name[k1, k2]`; the bare `@` has the empty name.
fn map_expr(pair: Pair<'_, Rule>) -> Result<ExprKind> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let name = next(&mut parts, span, "a map name")?.as_str()[1..].to_string();
    let keys = match parts.next() {
        Some(keys) => children(keys).map(expr).collect::<Result<_>>()?,
        None => Vec::new(),
    };
    Ok(ExprKind::Map { name, keys })
}

fn call(pair: Pair<'_, Rule>) -> Result<ExprKind> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let name = next(&mut parts, span, "a function name")?
        .as_str()
        .to_string();
    let args = parts.map(expr).collect::<Result<_>>()?;
    Ok(ExprKind::Call { name, args })
}

/// `(e)` is `e` (its span widened to the parentheses); `(a, b, ...)` is a tuple.
fn paren(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut items: Vec<Expr> = children(pair).map(expr).collect::<Result<_>>()?;
    if items.len() == 1 {
        let mut inner = items.remove(0);
        inner.span = span;
        return Ok(inner);
    }
    Ok(Expr {
        kind: ExprKind::Tuple(items),
        span,
    })
}

fn sizeof(pair: Pair<'_, Rule>) -> Result<ExprKind> {
    let span = span_of(&pair);
    let arg = next(&mut children(pair), span, "a type or expression")?;
    let arg = match arg.as_rule() {
        Rule::type_name => SizeofArg::Type(type_name(arg)?),
        _ => SizeofArg::Expr(Box::new(expr(arg)?)),
    };
    Ok(ExprKind::Sizeof(arg))
}

fn offsetof(pair: Pair<'_, Rule>) -> Result<ExprKind> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let ty = next(&mut parts, span, "a type")?;
    let ty = match ty.as_rule() {
        Rule::type_name => type_name(ty)?,
        _ => TypeName {
            base: ty.as_str().to_string(),
            pointer_depth: 0,
            array_len: None,
            span: span_of(&ty),
        },
    };
    let path = next(&mut parts, span, "a field path")?;
    let field = children(path).map(|p| p.as_str().to_string()).collect();
    Ok(ExprKind::Offsetof { ty, field })
}

/// A decimal token that must fit in 32 bits.
pub fn small_number(pair: &Pair<'_, Rule>, what: &str) -> Result<u32> {
    number(pair.as_str(), span_of(pair), what)
}

fn number(digits: &str, span: Span, what: &str) -> Result<u32> {
    digits.parse::<u32>().map_err(|_| {
        Diagnostic::error(span, format!("{what} `{digits}` is too large"))
            .with_label(format!("at most {}", u32::MAX))
    })
}

/// Depth of an expression tree, computed without recursion.
pub fn expr_depth(root: &Expr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((e, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        stack.extend(child_refs(&e.kind).into_iter().map(|c| (c, depth + 1)));
    }
    deepest
}

/// Drops a (possibly very deep) tree one node at a time instead of recursively.
fn dismantle(root: Expr) {
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        stack.extend(into_children(e.kind));
    }
}

fn child_refs(kind: &ExprKind) -> Vec<&Expr> {
    use ExprKind::*;
    match kind {
        Int(_) | Str(_) | Ident(_) | Var(_) | Positional(_) | PositionalCount | Offsetof { .. } => {
            Vec::new()
        }
        Sizeof(SizeofArg::Type(_)) => Vec::new(),
        Sizeof(SizeofArg::Expr(e)) => vec![e],
        Map { keys, .. } => keys.iter().collect(),
        Call { args, .. } | Tuple(args) => args.iter().collect(),
        Binary { lhs, rhs, .. } => vec![lhs, rhs],
        Index { expr, index } => vec![expr, index],
        Unary { expr, .. }
        | Field { expr, .. }
        | TupleIndex { expr, .. }
        | Cast { expr, .. }
        | IncDec { target: expr, .. } => vec![expr],
        Ternary { cond, then, els } => vec![cond, then, els],
    }
}

fn into_children(kind: ExprKind) -> Vec<Expr> {
    use ExprKind::*;
    match kind {
        Int(_) | Str(_) | Ident(_) | Var(_) | Positional(_) | PositionalCount | Offsetof { .. } => {
            Vec::new()
        }
        Sizeof(SizeofArg::Type(_)) => Vec::new(),
        Sizeof(SizeofArg::Expr(e)) => vec![*e],
        Map { keys: list, .. } | Call { args: list, .. } | Tuple(list) => list,
        Binary { lhs, rhs, .. } => vec![*lhs, *rhs],
        Index { expr, index } => vec![*expr, *index],
        Unary { expr, .. }
        | Field { expr, .. }
        | TupleIndex { expr, .. }
        | Cast { expr, .. }
        | IncDec { target: expr, .. } => vec![*expr],
        Ternary { cond, then, els } => vec![*cond, *then, *els],
    }
}
