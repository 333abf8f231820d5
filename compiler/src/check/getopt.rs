//! `getopt("name", default)`: a named program argument (`rtrace tool.bt -- --name=value`),
//! typed by its default — an integer, a string, or a bool when there is no default (`--name`
//! alone means true). Resolved before checking: each call becomes the literal it stands for.

use crate::ast::{Block, Expr, ExprKind, Program, Stmt, UnOp};
use crate::diag::Diagnostic;

/// The program with every `getopt` call replaced by its value (`None` when there is none).
pub fn resolve(program: &Program, args: &[String]) -> Result<Option<Program>, Vec<Diagnostic>> {
    let mut resolved = program.clone();
    let mut pass = Pass {
        args,
        found: false,
        errors: Vec::new(),
    };
    for probe in &mut resolved.probes {
        if let Some(predicate) = &mut probe.predicate {
            pass.expr(predicate);
        }
        pass.block(&mut probe.body);
    }
    match (pass.errors.is_empty(), pass.found) {
        (false, _) => Err(pass.errors),
        (true, true) => Ok(Some(resolved)),
        (true, false) => Ok(None),
    }
}

struct Pass<'a> {
    args: &'a [String],
    found: bool,
    errors: Vec<Diagnostic>,
}

impl Pass<'_> {
    fn block(&mut self, block: &mut Block) {
        block.stmts.iter_mut().for_each(|s| self.stmt(s));
    }

    fn stmt(&mut self, stmt: &mut Stmt) {
        let (exprs, blocks) = stmt.parts_mut();
        exprs.into_iter().for_each(|e| self.expr(e));
        blocks.into_iter().for_each(|b| self.block(b));
    }

    fn expr(&mut self, expr: &mut Expr) {
        if let ExprKind::Call { name, args } = &expr.kind {
            if name == "getopt" {
                self.found = true;
                match value(args, self.args, expr.span) {
                    Ok(kind) => expr.kind = kind,
                    Err(d) => self.errors.push(d),
                }
                return;
            }
        }
        for child in expr.children_mut() {
            self.expr(child);
        }
    }
}

/// The literal a `getopt(args…)` call stands for.
fn value(
    call_args: &[Expr],
    program_args: &[String],
    span: crate::ast::Span,
) -> Result<ExprKind, Diagnostic> {
    let usage = || {
        Diagnostic::error(span, "getopt takes a name and an optional default")
            .with_label("invalid getopt call")
            .with_note("getopt(\"name\") is a bool flag; getopt(\"name\", 10) and getopt(\"name\", \"text\") take the default's type")
    };
    let (name, default) = match call_args {
        [Expr {
            kind: ExprKind::Str(n),
            ..
        }] => (n, None),
        [Expr {
            kind: ExprKind::Str(n),
            ..
        }, d] => (n, Some(d)),
        _ => return Err(usage()),
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let given = lookup(program_args, &name);
    let bad = |expected: &str, text: &str| {
        Diagnostic::error(
            span,
            format!("program argument `--{name}` must be {expected}"),
        )
        .with_label(format!("`{text}` given"))
    };
    match default.map(|d| &d.kind) {
        None => match given {
            None => Ok(ExprKind::Int(0)),
            Some(None) => Ok(ExprKind::Int(1)),
            Some(Some(text)) => match text.as_str() {
                "true" | "1" => Ok(ExprKind::Int(1)),
                "false" | "0" => Ok(ExprKind::Int(0)),
                _ => Err(bad("true or false", &text)),
            },
        },
        Some(ExprKind::Ident(b)) if b == "true" || b == "false" => match given {
            None => Ok(ExprKind::Int(u64::from(b == "true"))),
            Some(None) => Ok(ExprKind::Int(1)),
            Some(Some(text)) => match text.as_str() {
                "true" | "1" => Ok(ExprKind::Int(1)),
                "false" | "0" => Ok(ExprKind::Int(0)),
                _ => Err(bad("true or false", &text)),
            },
        },
        Some(ExprKind::Str(s)) => Ok(ExprKind::Str(match given {
            Some(Some(text)) => text.into_bytes(),
            _ => s.clone(),
        })),
        Some(kind @ (ExprKind::Int(_) | ExprKind::Unary { op: UnOp::Neg, .. })) => match given {
            Some(Some(text)) => parse_int(&text).ok_or_else(|| bad("an integer", &text)),
            Some(None) => Err(bad("an integer", "")),
            None => match kind {
                ExprKind::Unary { expr, .. } => match expr.kind {
                    ExprKind::Int(v) => Ok(ExprKind::Int(v.wrapping_neg())),
                    _ => Err(usage()),
                },
                other => Ok(other.clone()),
            },
        },
        Some(_) => Err(usage()),
    }
}

/// `Some(Some(value))` for `--name=value`, `Some(None)` for `--name`.
fn lookup(program_args: &[String], name: &str) -> Option<Option<String>> {
    program_args.iter().rev().find_map(|arg| {
        let rest = arg.strip_prefix("--")?;
        match rest.split_once('=') {
            Some((n, v)) if n == name => Some(Some(v.to_string())),
            None if rest == name => Some(None),
            _ => None,
        }
    })
}

fn parse_int(text: &str) -> Option<ExprKind> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let v = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    Some(ExprKind::Int(if neg { v.wrapping_neg() } else { v }))
}
