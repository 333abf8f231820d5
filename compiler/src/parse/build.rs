//! Program structure: pest pairs → [`Program`], probes, attach points, blocks and statements.

use pest::iterators::Pair;
use rtrace_grammar::Rule;

use super::attach::check_attach_point;
use super::expr::{top_expr, unary};
use super::pairs::{children, internal, next, span_of, unexpected, Result};
use super::shape::{bin_op, if_chain, macro_param};
use crate::ast::{
    AttachPoint, Block, CDefinition, ConfigItem, ForIter, MacroDef, Probe, Program, Stmt, StmtKind,
};

/// Builds the program from the `program` pair.
pub fn program(pair: Pair<'_, Rule>) -> Result<Program> {
    let mut program = Program {
        config: Vec::new(),
        c_definitions: Vec::new(),
        probes: Vec::new(),
        macros: Vec::new(),
    };
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::shebang | Rule::EOI => {}
            Rule::preprocessor | Rule::c_definition => program.c_definitions.push(CDefinition {
                text: part.as_str().to_string(),
                span: span_of(&part),
            }),
            Rule::config_block => program.config = config(part)?,
            Rule::probe => program.probes.push(probe(part)?),
            Rule::macro_def => program.macros.push(macro_def(part)?),
            _ => return Err(unexpected(&part, "a top-level item")),
        }
    }
    Ok(program)
}

fn config(pair: Pair<'_, Rule>) -> Result<Vec<ConfigItem>> {
    children(pair)
        .map(|item| {
            let span = span_of(&item);
            let mut parts = children(item);
            let key = next(&mut parts, span, "a config key")?.as_str().to_string();
            let value = top_expr(next(&mut parts, span, "a config value")?)?;
            Ok(ConfigItem { key, value, span })
        })
        .collect()
}

/// `macro name(params) { body }`
fn macro_def(pair: Pair<'_, Rule>) -> Result<MacroDef> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let name = next(&mut parts, span, "a macro name")?.as_str().to_string();
    let mut params = Vec::new();
    let mut body = None;
    for part in parts {
        match part.as_rule() {
            Rule::macro_param => params.push(macro_param(part.as_str(), span_of(&part))),
            Rule::block => body = Some(block(part)?),
            _ => return Err(unexpected(&part, "a macro parameter or body")),
        }
    }
    Ok(MacroDef {
        name,
        params,
        body: body.ok_or_else(|| internal(span, "a macro body"))?,
        span,
    })
}

fn probe(pair: Pair<'_, Rule>) -> Result<Probe> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let attach_points = next(&mut parts, span, "attach points")?
        .into_inner()
        .filter(|p| p.as_rule() == Rule::attach_point)
        .map(attach_point)
        .collect::<Result<Vec<_>>>()?;
    let mut predicate = None;
    let mut body = None;
    for part in parts {
        match part.as_rule() {
            Rule::predicate => {
                let pred_span = span_of(&part);
                predicate = Some(top_expr(next(
                    &mut children(part),
                    pred_span,
                    "a predicate",
                )?)?);
            }
            Rule::block | Rule::angle_block => body = Some(block(part)?),
            _ => return Err(unexpected(&part, "a predicate or action block")),
        }
    }
    Ok(Probe {
        attach_points,
        predicate,
        body: body.ok_or_else(|| internal(span, "an action block"))?,
        span,
    })
}

fn attach_point(pair: Pair<'_, Rule>) -> Result<AttachPoint> {
    let span = span_of(&pair);
    let text = pair.as_str();
    check_attach_point(text, span)?;
    Ok(AttachPoint {
        text: text.to_string(),
        span,
    })
}

/// `{ stmts }` or `< stmts >`.
fn block(pair: Pair<'_, Rule>) -> Result<Block> {
    let span = span_of(&pair);
    let stmts = children(pair).map(stmt).collect::<Result<_>>()?;
    Ok(Block { stmts, span })
}

/// A block that is the only child (after keywords) of `pair`.
fn inner_block(pair: Pair<'_, Rule>) -> Result<Block> {
    let span = span_of(&pair);
    block(next(&mut children(pair), span, "a block")?)
}

fn stmt(pair: Pair<'_, Rule>) -> Result<Stmt> {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::expr_stmt | Rule::angle_expr_stmt => {
            StmtKind::Expr(top_expr(next(&mut children(pair), span, "an expression")?)?)
        }
        Rule::assign_stmt | Rule::angle_assign_stmt => assign(pair)?,
        Rule::let_stmt | Rule::angle_let_stmt => let_stmt(pair)?,
        Rule::jump_stmt => jump(pair)?,
        Rule::if_stmt => return if_stmt(pair),
        Rule::while_stmt | Rule::unroll_stmt => loop_stmt(pair)?,
        Rule::for_stmt => for_stmt(pair)?,
        Rule::block_stmt => StmtKind::Block(inner_block(pair)?),
        _ => return Err(unexpected(&pair, "a statement")),
    };
    Ok(Stmt { kind, span })
}

fn assign(pair: Pair<'_, Rule>) -> Result<StmtKind> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let target = unary(next(&mut parts, span, "an assignment target")?)?;
    let op_pair = next(&mut parts, span, "an assignment operator")?;
    let op_text = op_pair.as_str();
    let op = match op_text.strip_suffix('=') {
        Some("") => None,
        Some(op) => Some(bin_op(op).ok_or_else(|| unexpected(&op_pair, "an assignment"))?),
        None => return Err(unexpected(&op_pair, "an assignment operator")),
    };
    let value = top_expr(next(&mut parts, span, "a value")?)?;
    Ok(StmtKind::Assign { target, op, value })
}

fn let_stmt(pair: Pair<'_, Rule>) -> Result<StmtKind> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let name = next(&mut parts, span, "a variable")?.as_str()[1..].to_string();
    let value = parts.next().map(top_expr).transpose()?;
    Ok(StmtKind::Let { name, value })
}

fn jump(pair: Pair<'_, Rule>) -> Result<StmtKind> {
    let span = span_of(&pair);
    let keyword = next(&mut children(pair), span, "`break`, `continue` or `return`")?;
    Ok(match keyword.as_rule() {
        Rule::kw_break => StmtKind::Break,
        Rule::kw_continue => StmtKind::Continue,
        _ => StmtKind::Return,
    })
}

/// `if c {..} else if c {..} else {..}`: each `else if` becomes an `else` block holding one `If`.
fn if_stmt(pair: Pair<'_, Rule>) -> Result<Stmt> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let cond = top_expr(next(&mut parts, span, "a condition")?)?;
    let then = block(next(&mut parts, span, "a block")?)?;
    let mut else_ifs = Vec::new();
    let mut els = None;
    for part in parts {
        let part_span = span_of(&part);
        match part.as_rule() {
            Rule::else_if => {
                let mut inner = children(part);
                let cond = top_expr(next(&mut inner, part_span, "a condition")?)?;
                let then = block(next(&mut inner, part_span, "a block")?)?;
                else_ifs.push((cond, then, part_span.start));
            }
            Rule::else_clause => els = Some(inner_block(part)?),
            _ => return Err(unexpected(&part, "`else`")),
        }
    }
    Ok(if_chain(cond, then, else_ifs, els, span))
}

/// `while (c) {..}` and `unroll (n) {..}`.
fn loop_stmt(pair: Pair<'_, Rule>) -> Result<StmtKind> {
    let span = span_of(&pair);
    let is_while = pair.as_rule() == Rule::while_stmt;
    let mut parts = children(pair);
    let head = top_expr(next(&mut parts, span, "a loop condition")?)?;
    let body = block(next(&mut parts, span, "a block")?)?;
    Ok(if is_while {
        StmtKind::While { cond: head, body }
    } else {
        StmtKind::Unroll { count: head, body }
    })
}

/// `for ($kv : @map) {..}` or `for ($i : a..b) {..}`.
fn for_stmt(pair: Pair<'_, Rule>) -> Result<StmtKind> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let var = next(&mut parts, span, "a loop variable")?.as_str()[1..].to_string();
    let source = next(&mut parts, span, "a map or range")?;
    let iter = if source.as_rule() == Rule::for_range {
        let range_span = span_of(&source);
        let mut bounds = children(source);
        let from = top_expr(next(&mut bounds, range_span, "a range start")?)?;
        let to = top_expr(next(&mut bounds, range_span, "a range end")?)?;
        ForIter::Range(from, to)
    } else {
        ForIter::Map(top_expr(source)?)
    };
    let body = block(next(&mut parts, span, "a block")?)?;
    Ok(StmtKind::For { var, iter, body })
}
