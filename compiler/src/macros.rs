//! `macro name(params) { body }` expansion, by AST substitution before checking.
//!
//! A call to a macro used as a statement becomes a nested block holding the macro's body; a
//! call used as a value needs a body of one expression, which takes the call's place.
//! Parameters bind as bpftrace documents them: `$x` names the caller's variable (writes are
//! seen by the caller), `@x` names the caller's map, a bare `x` takes any expression, which is
//! substituted where `x` appears. The macro's own variables are renamed per expansion so they
//! never meet the caller's.

use std::collections::HashMap;

use crate::ast::{Block, Expr, ExprKind, MacroDef, MacroParamKind, Program, Span, Stmt, StmtKind};
use crate::diag::Diagnostic;

/// Macros calling macros deeper than this are reported instead of expanded.
const MAX_DEPTH: usize = 64;

/// The program with every macro call expanded (`None` when it defines no macros).
pub fn expand(program: &Program) -> Result<Option<Program>, Vec<Diagnostic>> {
    if program.macros.is_empty() {
        return Ok(None);
    }
    let mut expander = Expander {
        macros: HashMap::new(),
        expansions: 0,
        stack: Vec::new(),
        errors: Vec::new(),
    };
    for def in &program.macros {
        expander.define(def);
    }
    let mut expanded = program.clone();
    expanded.macros.clear();
    for probe in &mut expanded.probes {
        if let Some(predicate) = &mut probe.predicate {
            expander.expr(predicate);
        }
        expander.block(&mut probe.body);
    }
    if expander.errors.is_empty() {
        Ok(Some(expanded))
    } else {
        Err(expander.errors)
    }
}

struct Expander<'a> {
    macros: HashMap<&'a str, &'a MacroDef>,
    /// Expansions so far: numbers the renamed variables.
    expansions: usize,
    /// Macros being expanded, innermost last.
    stack: Vec<&'a str>,
    errors: Vec<Diagnostic>,
}

impl<'a> Expander<'a> {
    fn define(&mut self, def: &'a MacroDef) {
        if let Some(first) = self.macros.get(def.name.as_str()) {
            self.errors.push(
                Diagnostic::error(def.span, format!("macro `{}` is defined twice", def.name))
                    .with_label("second definition")
                    .with_secondary(first.span, "first definition"),
            );
            return;
        }
        for (i, param) in def.params.iter().enumerate() {
            let same = def.params[..i]
                .iter()
                .any(|p| p.name == param.name && p.kind == param.kind);
            if same {
                self.errors.push(
                    Diagnostic::error(param.span, "duplicate macro parameter")
                        .with_label("this name is already a parameter"),
                );
            }
        }
        self.macros.insert(&def.name, def);
    }

    fn block(&mut self, block: &mut Block) {
        for stmt in &mut block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &mut Stmt) {
        if let StmtKind::Expr(call) = &stmt.kind {
            if let Some((def, args)) = self.macro_call(call) {
                if let Some(body) = self.instantiate(def, args, call.span) {
                    stmt.kind = StmtKind::Block(body);
                }
                return;
            }
        }
        let (exprs, blocks) = stmt.parts_mut();
        exprs.into_iter().for_each(|e| self.expr(e));
        blocks.into_iter().for_each(|b| self.block(b));
    }

    fn expr(&mut self, expr: &mut Expr) {
        if let Some((def, args)) = self.macro_call(expr) {
            let span = expr.span;
            if let Some(value) = self.instantiate_value(def, args, span) {
                *expr = value;
            }
            return;
        }
        for child in expr.children_mut() {
            self.expr(child);
        }
    }

    /// The macro and arguments of `expr` if it calls a macro.
    fn macro_call(&self, expr: &Expr) -> Option<(&'a MacroDef, Vec<Expr>)> {
        match &expr.kind {
            ExprKind::Call { name, args } => {
                let def = self.macros.get(name.as_str())?;
                Some((def, args.clone()))
            }
            _ => None,
        }
    }

    /// A macro used as a value: its body must be one expression.
    fn instantiate_value(&mut self, def: &'a MacroDef, args: Vec<Expr>, at: Span) -> Option<Expr> {
        let body = self.instantiate(def, args, at)?;
        match <[Stmt; 1]>::try_from(body.stmts) {
            Ok(
                [Stmt {
                    kind: StmtKind::Expr(value),
                    ..
                }],
            ) => Some(value),
            _ => {
                self.errors.push(
                    Diagnostic::error(at, format!("macro `{}` has no value", def.name))
                        .with_label("used as a value here")
                        .with_secondary(def.span, "its body is not a single expression")
                        .with_note("call it as a statement, or make its body one expression"),
                );
                None
            }
        }
    }

    /// The body of `def` for one call: parameters bound, locals renamed, inner calls expanded.
    fn instantiate(&mut self, def: &'a MacroDef, args: Vec<Expr>, at: Span) -> Option<Block> {
        if self.stack.contains(&def.name.as_str()) || self.stack.len() >= MAX_DEPTH {
            self.errors.push(
                Diagnostic::error(at, format!("macro `{}` expands into itself", def.name))
                    .with_label("recursive macro call")
                    .with_note("macros are expanded in place, so they cannot recurse"),
            );
            return None;
        }
        let bindings = self.bind(def, args, at)?;
        self.expansions += 1;
        let renamer = Renamer {
            bindings,
            suffix: format!("__{}{}", def.name, self.expansions),
        };
        let mut body = def.body.clone();
        renamer.block(&mut body);
        self.stack.push(&def.name);
        self.block(&mut body);
        self.stack.pop();
        Some(body)
    }

    /// Pairs each parameter with its argument, checking the argument's kind.
    fn bind(&mut self, def: &MacroDef, args: Vec<Expr>, at: Span) -> Option<Bindings> {
        if args.len() != def.params.len() {
            self.errors.push(
                Diagnostic::error(
                    at,
                    format!(
                        "macro `{}` takes {} argument{}, found {}",
                        def.name,
                        def.params.len(),
                        if def.params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .with_label("wrong number of arguments")
                .with_secondary(def.span, "macro defined here"),
            );
            return None;
        }
        let mut bindings = Bindings::default();
        let mut ok = true;
        for (param, arg) in def.params.iter().zip(args) {
            match (param.kind, &arg.kind) {
                (MacroParamKind::Expr, _) => {
                    bindings.exprs.insert(param.name.clone(), arg);
                }
                (MacroParamKind::Var, ExprKind::Var(name)) => {
                    bindings.vars.insert(param.name.clone(), name.clone());
                }
                (MacroParamKind::Map, ExprKind::Map { name, keys }) if keys.is_empty() => {
                    bindings.maps.insert(param.name.clone(), name.clone());
                }
                (MacroParamKind::Var, _) | (MacroParamKind::Map, _) => {
                    let (sigil, what) = match param.kind {
                        MacroParamKind::Var => ('$', "a variable (`$name`)"),
                        _ => ('@', "a map (`@name`, without keys)"),
                    };
                    self.errors.push(
                        Diagnostic::error(
                            arg.span,
                            format!(
                                "macro `{}` expects {what} for `{sigil}{}`",
                                def.name, param.name
                            ),
                        )
                        .with_label("not bindable by name")
                        .with_secondary(param.span, "parameter declared here"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(bindings)
    }
}

/// What each parameter stands for in one expansion.
#[derive(Default)]
struct Bindings {
    exprs: HashMap<String, Expr>,
    vars: HashMap<String, String>,
    maps: HashMap<String, String>,
}

/// Rewrites a copy of a macro body for one call site.
struct Renamer {
    bindings: Bindings,
    /// Appended to the macro's own variables, unique per expansion.
    suffix: String,
}

impl Renamer {
    fn var(&self, name: &str) -> String {
        match self.bindings.vars.get(name) {
            Some(bound) => bound.clone(),
            None => format!("{name}{}", self.suffix),
        }
    }

    fn block(&self, block: &mut Block) {
        for stmt in &mut block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&self, stmt: &mut Stmt) {
        if let StmtKind::Let { name, .. } | StmtKind::For { var: name, .. } = &mut stmt.kind {
            *name = self.var(name);
        }
        let (exprs, blocks) = stmt.parts_mut();
        exprs.into_iter().for_each(|e| self.expr(e));
        blocks.into_iter().for_each(|b| self.block(b));
    }

    fn expr(&self, expr: &mut Expr) {
        match &mut expr.kind {
            ExprKind::Ident(name) => {
                if let Some(arg) = self.bindings.exprs.get(name.as_str()) {
                    *expr = arg.clone();
                }
                return;
            }
            ExprKind::Var(name) => {
                *name = self.var(name);
                return;
            }
            ExprKind::Map { name, .. } => {
                if let Some(bound) = self.bindings.maps.get(name.as_str()) {
                    *name = bound.clone();
                }
            }
            _ => {}
        }
        for child in expr.children_mut() {
            self.expr(child);
        }
    }
}

#[cfg(test)]
mod tests;
