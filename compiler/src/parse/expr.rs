//! Expressions: pest pairs → [`Expr`], with C operator precedence.

use pest::iterators::Pair;
use rtrace_grammar::Rule;

use super::literal::{parse_int, parse_string};
use super::pairs::{children, internal, next, span_of, unexpected, Result};
use super::shape::{
    apply_prefixes, bin_op, fold_ternary, prefix_op, within_depth, BinaryChain, Prefix,
};
use super::types::type_name;
use crate::ast::{Expr, ExprKind, SizeofArg, Span, TypeName};
use crate::diag::Diagnostic;

/// Builds a complete expression (statement value, condition, predicate, config value) and
/// checks its depth.
pub fn top_expr(pair: Pair<'_, Rule>) -> Result<Expr> {
    within_depth(expr(pair)?)
}

/// `expr`, `pred_expr` or `angle_expr`: a binary chain followed by ternary tails.
pub fn expr(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let first = binary(next(&mut parts, span, "an operand")?)?;
    let mut tails = Vec::new();
    for tail in parts {
        let tail_span = span_of(&tail);
        let mut inner = children(tail);
        let then = expr(next(&mut inner, tail_span, "the ternary's middle")?)?;
        let els = binary(next(&mut inner, tail_span, "the ternary's else")?)?;
        tails.push((then, els));
    }
    Ok(fold_ternary(first, tails))
}

/// `unary (op unary)*`, folded with C precedence, all operators left-associative.
fn binary(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut chain = BinaryChain::default();
    for part in children(pair) {
        match part.as_rule() {
            Rule::unary => chain.operand(unary(part)?),
            Rule::infix_op | Rule::pred_infix_op | Rule::angle_infix_op => chain.operator(
                bin_op(part.as_str()).ok_or_else(|| unexpected(&part, "a binary operator"))?,
            ),
            _ => return Err(unexpected(&part, "an operand or operator")),
        }
    }
    chain.finish().ok_or_else(|| internal(span, "an operand"))
}

/// `prefix* primary postfix*`: postfixes bind first, then prefixes from the inside out.
pub fn unary(pair: Pair<'_, Rule>) -> Result<Expr> {
    let span = span_of(&pair);
    let mut prefixes: Vec<(Prefix, usize)> = Vec::new();
    let mut operand: Option<Expr> = None;
    for part in children(pair) {
        let start = part.as_span().start();
        match (part.as_rule(), operand.take()) {
            (Rule::prefix_op, None) => prefixes.push((
                prefix_op(part.as_str()).ok_or_else(|| unexpected(&part, "a prefix operator"))?,
                start,
            )),
            (Rule::cast_prefix, None) => prefixes.push((cast_prefix(part)?, start)),
            (_, None) => operand = Some(primary(part)?),
            (_, Some(base)) => operand = Some(postfix(base, part)?),
        }
    }
    let operand = operand.ok_or_else(|| internal(span, "an operand"))?;
    Ok(apply_prefixes(prefixes, operand))
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
