//! The checker: resolves attach points, builtins, variables and maps, infers and
//! checks types, and produces one typed body per concrete probe target.
//!
//! Map and variable types are inferred from assignments anywhere in the script,
//! so the checker runs twice: the first pass only learns types, the second
//! reports errors and builds the typed program.
//!
//! Statements and expressions are here; calls are in `calls`, variables and maps
//! in `storage`, kernel types (BTF) in [`kernel_types`] and `kernel_access`.

use crate::ast::{self, BinOp, Expr, ExprKind, Span, Stmt, StmtKind, UnOp};
use crate::diag::Diagnostic;
use crate::ir::{self, Builtin, Cond, EventSpec, MapId};
use crate::probe_context;
use crate::probes::Target;
use crate::tracefs::{self, FieldKind, Format};
use crate::typed::*;
use kernel_access::{default_user, int_view, is_int_like};
use kernel_types::KernelTypes;
use rtrace_stdlib::catalogue::{self, Kind};
use rtrace_stdlib::types::Type;
use std::collections::HashMap;

mod c_definitions;
mod calls;
mod config_words;
mod flow;
mod funcs;
mod getopt;
mod int_addr_space;
mod kernel_access;
mod kernel_casts;
mod kernel_macros;
pub mod kernel_types;
mod record_copy;
mod record_names;
mod script_defines;
pub mod settings;
mod stacks;
mod storage;
mod targets;
use targets::{resolve_targets, BlockTarget};
mod string_index;
mod strings;
pub mod symbols;

/// Settings that change how a script is checked.
#[derive(Clone, Debug)]
pub struct Options {
    /// Positional parameters `$1`, `$2`, …
    pub params: Vec<String>,
    /// Default capacity of strings read with `str()` (bytes, including the NUL).
    pub strlen: u32,
    /// `-p PID`: every kernel probe only fires for this process, user-space
    /// probes are attached to it alone.
    pub pid: Option<i32>,
    /// `-c CMD`: the child's pid (the `cpid` builtin) and its program's path.
    pub cpid: Option<i32>,
    pub command: Option<std::path::PathBuf>,
    /// `--dry-run`: nothing is attached, so a kernel or user function this machine
    /// does not have is compiled against a placeholder (with a warning) instead of
    /// failing, and the program is still verified.
    pub dry_run: bool,
    /// `--unsafe`: allow `system`, `signal` and `override`.
    pub allow_unsafe: bool,
    /// `max_entries` of keyed maps (`BPFTRACE_MAP_KEYS_MAX`, `max_map_keys`).
    pub map_keys_max: u32,
    /// Named program arguments (`--name=value`, `--flag`) read by `getopt`.
    pub program_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            params: Vec::new(),
            strlen: 256,
            pid: None,
            cpid: None,
            command: None,
            dry_run: false,
            allow_unsafe: false,
            map_keys_max: crate::lower::MAP_KEYS_MAX,
            program_args: Vec::new(),
        }
    }
}

pub fn check(program: &ast::Program, opts: &Options) -> Result<TypedProgram, Vec<Diagnostic>> {
    let expanded = crate::macros::expand(program)?;
    let program = expanded.as_ref().unwrap_or(program);
    let with_options = getopt::resolve(program, &opts.program_args)?;
    let program = with_options.as_ref().unwrap_or(program);
    let mut opts = opts.clone();
    let config_warnings = apply_config(program, &mut opts)?;
    let (targets, mut warnings) = resolve_targets(program, &opts)?;
    warnings.extend(config_warnings);
    let kernel = KernelTypes::with_script_types(&program.c_definitions).map_err(|d| vec![d])?;
    let mut checker = Checker {
        opts,
        maps: Vec::new(),
        map_ids: HashMap::new(),
        events: Vec::new(),
        probe_names: Vec::new(),
        diags: Vec::new(),
        warnings: Vec::new(),
        report: false,
        remembered_vars: HashMap::new(),
        kernel,
        stack_maps: Vec::new(),
        script_defines: script_defines::collect(&program.c_definitions),
    };
    // Pass 1 learns map and variable types; pass 2 reports and builds.
    checker.check_all(program, &targets);
    checker.report = true;
    checker.events.clear();
    checker.probe_names.clear();
    checker.diags.clear();
    let probes = checker.check_all(program, &targets);
    checker.check_maps_typed();
    if !checker.diags.is_empty() {
        return Err(checker.diags);
    }
    Ok(TypedProgram {
        maps: checker.maps,
        events: checker.events,
        probes,
        probe_names: checker.probe_names,
        warnings: warnings.into_iter().chain(checker.warnings).collect(),
        stack_maps: checker.stack_maps,
        map_keys_max: checker.opts.map_keys_max,
    })
}

fn apply_config(
    program: &ast::Program,
    opts: &mut Options,
) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    let mut warnings = Vec::new();
    for item in &program.config {
        if let Some(word) = config_words::word(item) {
            warnings.extend(config_words::check(item, &word).map_err(|d| vec![d])?);
            continue;
        }
        let value = match item.value.kind {
            ExprKind::Int(v) => v,
            _ => {
                return Err(vec![Diagnostic::error(
                    item.value.span,
                    "config values must be integers",
                )])
            }
        };
        settings::apply(item, value, opts).map_err(|d| vec![d])?;
    }
    Ok(warnings)
}

struct Checker {
    opts: Options,
    maps: Vec<MapDecl>,
    map_ids: HashMap<String, MapId>,
    events: Vec<EventSpec>,
    probe_names: Vec<String>,
    diags: Vec<Diagnostic>,
    /// Warnings of the reporting pass.
    warnings: Vec<Diagnostic>,
    /// Only the second pass reports errors.
    report: bool,
    /// Variable types learnt in the first pass, by (block, target, name).
    remembered_vars: HashMap<(usize, usize, String), Type>,
    /// Kernel types (BTF), shared by both passes so type handles agree.
    kernel: KernelTypes,
    /// Stack maps used so far: (user, depth).
    stack_maps: Vec<(bool, u32)>,
    /// The script's integer `#define`s.
    script_defines: HashMap<String, i64>,
}

/// What the checker knows while inside one probe body.
struct ProbeCx<'a> {
    target: &'a Target,
    format: Option<Format>,
    probe_id: u32,
    block: usize,
    target_index: usize,
    vars: Vec<(String, Type)>,
    loop_depth: u32,
    /// Variables declared in the open nested blocks (hidden when theirs ends).
    scoped: Vec<VarId>,
    /// Nesting depth of blocks inside the probe body.
    depth: u32,
    /// Nesting depth of `for` loops over maps (kernel probes allow one).
    map_loops: u32,
    /// Integer variables last assigned an address computed from a pointer,
    /// with that pointer's address space (`true`: user).
    int_addr_spaces: Vec<(VarId, bool)>,
}

impl ProbeCx<'_> {
    fn user(&self) -> bool {
        self.target.runs_in_user_space()
    }
}

pub(crate) fn texpr(kind: TExprKind, ty: Type, span: Span) -> TExpr {
    TExpr { kind, ty, span }
}

pub(crate) fn poison(span: Span) -> TExpr {
    texpr(TExprKind::Int(0), Type::I64, span)
}

impl Checker {
    /// Reports `d` (in the reporting pass); warnings do not fail the check.
    fn error(&mut self, d: Diagnostic) {
        match (self.report, d.is_error()) {
            (false, _) => {}
            (true, true) => self.diags.push(d),
            (true, false) => self.warnings.push(d),
        }
    }

    fn check_all(
        &mut self,
        program: &ast::Program,
        targets: &[Vec<BlockTarget>],
    ) -> Vec<TypedProbe> {
        let mut out = Vec::new();
        for (block, (probe, resolved)) in program.probes.iter().zip(targets).enumerate() {
            for (target_index, bt) in resolved.iter().enumerate() {
                let r = &bt.resolved;
                let probe_id = self.probe_names.len() as u32;
                self.probe_names.push(r.name.clone());
                let format = match &r.target {
                    Target::Tracepoint { category, name } => tracefs::root()
                        .and_then(|root| tracefs::read_format(&root, category, name).ok()),
                    _ => None,
                };
                let mut cx = ProbeCx {
                    target: &r.target,
                    format,
                    probe_id,
                    block,
                    target_index,
                    vars: Vec::new(),
                    loop_depth: 0,
                    scoped: Vec::new(),
                    depth: 0,
                    map_loops: 0,
                    int_addr_spaces: Vec::new(),
                };
                let predicate = probe.predicate.as_ref().map(|p| {
                    let e = self.expr(&mut cx, p);
                    self.want_int(&e, "a predicate");
                    e
                });
                let predicate = match self.opts.pid {
                    Some(pid) => probe_context::pid_filter(pid, &r.target, predicate),
                    None => predicate,
                };
                let body = self.stmts(&mut cx, &probe.body.stmts);
                out.push(TypedProbe {
                    target: r.target.clone(),
                    probe_id,
                    block,
                    wildcard: bt.wildcard,
                    vars: cx.vars.into_iter().map(|(_, t)| t).collect(),
                    predicate,
                    body,
                });
            }
        }
        out
    }

    fn check_maps_typed(&mut self) {
        let untyped: Vec<_> = self
            .maps
            .iter()
            .filter(|m| m.value == Type::None)
            .map(|m| (m.span, m.name.clone()))
            .collect();
        for (span, name) in untyped {
            self.error(
                Diagnostic::error(span, format!("map `{name}` is read but never assigned"))
                    .with_label("never assigned"),
            );
        }
    }

    fn want_int(&mut self, e: &TExpr, what: &str) {
        if !is_int_like(&e.ty) && !matches!(e.ty, Type::Ksym | Type::Probe) {
            self.error(
                Diagnostic::error(e.span, format!("{what} must be an integer, found {}", e.ty))
                    .with_label(format!("this is {}", e.ty)),
            );
        }
    }

    // ---- statements ----

    fn stmts(&mut self, cx: &mut ProbeCx, stmts: &[Stmt]) -> Vec<TStmt> {
        let mut out = Vec::new();
        for s in stmts {
            self.stmt(cx, s, &mut out);
        }
        out
    }

    fn stmt(&mut self, cx: &mut ProbeCx, s: &Stmt, out: &mut Vec<TStmt>) {
        match &s.kind {
            StmtKind::Expr(e) => {
                if let ExprKind::Call { name, args } = &e.kind {
                    if let Some(st) = self.statement_call(cx, name, args, e.span) {
                        out.push(st);
                        return;
                    }
                }
                let te = self.expr(cx, e);
                out.push(TStmt::Expr(te));
            }
            StmtKind::Assign { target, op, value } => {
                if let Some(st) = self.assign(cx, target, *op, value, s.span) {
                    out.push(st);
                }
            }
            StmtKind::Let { name, value } => {
                let was_visible = self.find_var(cx, name).is_some();
                if let Some(v) = value {
                    let v = self.expr(cx, v);
                    let id = self.let_var(cx, name, &v.ty, was_visible, s.span);
                    out.push(TStmt::Assign {
                        target: LValue::Var(id),
                        value: v,
                    });
                } else if self.find_var(cx, name).is_none() {
                    // Declared without a value: typed by its first assignment.
                    let key = (cx.block, cx.target_index, name.clone());
                    if let Some(t) = self.remembered_vars.get(&key).cloned() {
                        cx.vars.push((name.clone(), t));
                        self.declared(cx, (cx.vars.len() - 1) as VarId, false);
                    }
                }
            }
            StmtKind::If { cond, then, els } => {
                let cond = self.expr(cx, cond);
                self.want_int(&cond, "an `if` condition");
                let then = self.scoped_stmts(cx, &then.stmts);
                let els = els
                    .as_ref()
                    .map(|b| self.scoped_stmts(cx, &b.stmts))
                    .unwrap_or_default();
                out.push(TStmt::If { cond, then, els });
            }
            StmtKind::While { cond, body } => {
                let cond = self.expr(cx, cond);
                self.want_int(&cond, "a `while` condition");
                cx.loop_depth += 1;
                let body = self.scoped_stmts(cx, &body.stmts);
                cx.loop_depth -= 1;
                out.push(TStmt::While { cond, body });
            }
            StmtKind::Unroll { count, body } => {
                let errors_before = self.diags.len();
                let n = match self.expr(cx, count).kind {
                    TExprKind::Int(n) if (1..=100).contains(&n) => n as u32,
                    _ if self.diags.len() > errors_before => 1,
                    _ => {
                        self.error(
                            Diagnostic::error(
                                count.span,
                                "unroll needs a constant count from 1 to 100",
                            )
                            .with_label("not a constant between 1 and 100"),
                        );
                        1
                    }
                };
                cx.loop_depth += 1;
                let body = self.scoped_stmts(cx, &body.stmts);
                cx.loop_depth -= 1;
                out.push(TStmt::Unroll { count: n, body });
            }
            StmtKind::For { var, iter, body } => {
                if let Some(st) = self.for_loop(cx, var, iter, body, s.span) {
                    out.push(st);
                }
            }
            StmtKind::Break | StmtKind::Continue => {
                if cx.loop_depth == 0 {
                    self.error(Diagnostic::error(
                        s.span,
                        "`break` and `continue` must be inside a loop",
                    ));
                }
                out.push(if matches!(s.kind, StmtKind::Break) {
                    TStmt::Break
                } else {
                    TStmt::Continue
                });
            }
            StmtKind::Return => out.push(TStmt::Return),
            StmtKind::Block(b) => out.extend(self.scoped_stmts(cx, &b.stmts)),
        }
    }

    fn assign(
        &mut self,
        cx: &mut ProbeCx,
        target: &Expr,
        op: Option<BinOp>,
        value: &Expr,
        span: Span,
    ) -> Option<TStmt> {
        match &target.kind {
            ExprKind::Map { name, keys } => {
                if op.is_none() {
                    if let ExprKind::Call { name: f, args } = &value.kind {
                        if let Some(agg) = self.aggregation(cx, f, args, value.span) {
                            let (func, v) = agg;
                            let key = self.map_key(cx, name, keys, target.span);
                            let map = self.map_id(name, target.span);
                            self.set_map_value(map, agg_type(func), value.span);
                            return Some(TStmt::Agg {
                                map,
                                key,
                                func,
                                value: v,
                            });
                        }
                    }
                }
                let key = self.map_key(cx, name, keys, target.span);
                let map = self.map_id(name, target.span);
                let value = match op {
                    None => self.expr(cx, value),
                    Some(op) => {
                        let current = self.map_value_expr(cx, map, key.clone(), target.span);
                        let rhs = self.expr(cx, value);
                        self.binary(op, current, rhs, span)
                    }
                };
                self.store_check(&value);
                self.record_copy_stays_local(&value, "stored in a map");
                self.set_map_value(map, value.ty.clone(), value.span);
                Some(TStmt::Assign {
                    target: LValue::Map {
                        map,
                        key: key.map(Box::new),
                    },
                    value,
                })
            }
            ExprKind::Var(name) => {
                let value = match op {
                    None => self.expr(cx, value),
                    Some(op) => {
                        let current = self.expr(cx, target);
                        let rhs = self.expr(cx, value);
                        self.binary(op, current, rhs, span)
                    }
                };
                self.store_check(&value);
                let id = self.define_var(cx, name, &value.ty, target.span);
                cx.note_int_addr_space(id, &value);
                Some(TStmt::Assign {
                    target: LValue::Var(id),
                    value,
                })
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        target.span,
                        "only a variable or a map entry can be assigned",
                    )
                    .with_label("not assignable"),
                );
                None
            }
        }
    }

    /// Values that cannot be stored in variables or maps.
    fn store_check(&mut self, value: &TExpr) {
        if value.ty == Type::None || value.ty.is_aggregation() {
            self.error(
                Diagnostic::error(
                    value.span,
                    format!("a value of type {} cannot be stored", value.ty),
                )
                .with_label("has no storable value"),
            );
        }
    }

    // ---- expressions ----

    fn expr(&mut self, cx: &mut ProbeCx, e: &Expr) -> TExpr {
        let span = e.span;
        match &e.kind {
            ExprKind::Int(v) => {
                let ty = if *v > i64::MAX as u64 {
                    Type::U64
                } else {
                    Type::I64
                };
                texpr(TExprKind::Int(*v as i64), ty, span)
            }
            ExprKind::Str(s) => texpr(
                TExprKind::Str(s.clone()),
                Type::Str {
                    len: s.len() as u32 + 1,
                },
                span,
            ),
            ExprKind::Ident(name) => self.builtin_var(cx, name, span),
            ExprKind::Var(name) => match self.find_var(cx, name) {
                Some(id) => texpr(TExprKind::Var(id), cx.vars[id as usize].1.clone(), span),
                None => {
                    self.missing_var(cx, name, span);
                    poison(span)
                }
            },
            ExprKind::Positional(n) => self.positional(*n, span),
            ExprKind::PositionalCount => texpr(
                TExprKind::Int(self.opts.params.len() as i64),
                Type::I64,
                span,
            ),
            ExprKind::Map { name, keys } => {
                let key = self.map_key(cx, name, keys, span);
                let map = self.map_id(name, span);
                self.map_value_expr(cx, map, key, span)
            }
            ExprKind::Call { name, args } => self.call(cx, name, args, span),
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(cx, lhs);
                let r = self.expr(cx, rhs);
                self.binary(*op, l, r, span)
            }
            ExprKind::Unary {
                op: UnOp::Deref, ..
            } => self.memory_value(cx, e),
            ExprKind::Unary {
                op: UnOp::AddrOf,
                expr,
            } => self.address_of(cx, expr, span),
            ExprKind::Unary { op, expr } => self.unary(cx, *op, expr, span),
            ExprKind::IncDec {
                target,
                increment,
                prefix,
            } => self.inc_dec(cx, target, *increment, *prefix, span),
            ExprKind::Ternary { cond, then, els } => {
                let c = self.expr(cx, cond);
                self.want_int(&c, "a condition");
                let t = self.expr(cx, then);
                let f = self.expr(cx, els);
                let ty = match unify(&t.ty, &f.ty) {
                    Some(ty) => ty,
                    None => {
                        self.error(
                            Diagnostic::error(
                                span,
                                format!("the branches of `?:` differ: {} and {}", t.ty, f.ty),
                            )
                            .with_label("mismatched branches"),
                        );
                        t.ty.clone()
                    }
                };
                texpr(
                    TExprKind::Ternary {
                        cond: Box::new(c),
                        then: Box::new(t),
                        els: Box::new(f),
                    },
                    ty,
                    span,
                )
            }
            ExprKind::Field { .. } | ExprKind::Index { .. } => self.memory_value(cx, e),
            ExprKind::TupleIndex { expr, index } => {
                let errors_before = self.diags.len();
                let t = self.expr(cx, expr);
                match &t.ty {
                    Type::Tuple(fields) if (*index as usize) < fields.len() => {
                        let ty = fields[*index as usize].clone();
                        texpr(
                            TExprKind::TupleField {
                                expr: Box::new(t),
                                index: *index,
                            },
                            ty,
                            span,
                        )
                    }
                    _ if self.diags.len() > errors_before => poison(span),
                    other => {
                        let msg = format!("cannot take element {index} of {other}");
                        self.error(Diagnostic::error(span, msg).with_label("not a tuple element"));
                        poison(span)
                    }
                }
            }
            ExprKind::Cast { ty, expr } => self.cast(cx, ty, expr, span),
            ExprKind::Tuple(elems) => {
                let elems: Vec<TExpr> = elems.iter().map(|x| self.expr(cx, x)).collect();
                let ty = Type::Tuple(elems.iter().map(|x| x.ty.clone()).collect());
                texpr(TExprKind::Tuple(elems), ty, span)
            }
            ExprKind::Sizeof(ast::SizeofArg::Type(t)) => self.sizeof_type(t, span),
            ExprKind::Sizeof(ast::SizeofArg::Expr(x)) => self.sizeof_expr(cx, x, span),
            ExprKind::Offsetof { ty, field } => self.offsetof(ty, field, span),
        }
    }

    fn positional(&mut self, n: u32, span: Span) -> TExpr {
        let Some(value) = self.opts.params.get((n as usize).wrapping_sub(1)).cloned() else {
            self.error(
                Diagnostic::error(span, format!("positional parameter ${n} is not given"))
                    .with_label("no such parameter")
                    .with_note("pass it after the script: rtrace script.rt 1234"),
            );
            return poison(span);
        };
        match parse_int(&value) {
            Some(v) => texpr(TExprKind::Int(v), Type::I64, span),
            None => texpr(
                TExprKind::Str(value.clone().into_bytes()),
                Type::Str {
                    len: value.len() as u32 + 1,
                },
                span,
            ),
        }
    }

    fn builtin_var(&mut self, cx: &mut ProbeCx, name: &str, span: Span) -> TExpr {
        let b = |which| TExprKind::Builtin(which);
        let (kind, ty) = match name {
            "pid" => (b(Builtin::Pid), Type::U32),
            "tid" => (b(Builtin::Tid), Type::U32),
            "uid" => (b(Builtin::Uid), Type::U64),
            "gid" => (b(Builtin::Gid), Type::U64),
            "nsecs" => (b(Builtin::Nsecs), Type::U64),
            "elapsed" => (b(Builtin::Elapsed), Type::U64),
            "cpu" => (b(Builtin::Cpu), Type::U32),
            "numaid" => (b(Builtin::NumaId), Type::U32),
            "rand" => (b(Builtin::Rand), Type::U32),
            "cgroup" => (b(Builtin::Cgroup), Type::U64),
            "curtask" => (b(Builtin::CurTask), self.curtask_type()),
            "comm" => (TExprKind::Comm, Type::Str { len: 16 }),
            "probe" => (TExprKind::ProbeId(cx.probe_id), Type::Probe),
            "kstack" | "ustack" => return self.stack_builtin(cx, name, &[], span),
            "retval" | "func" => {
                let read = probe_context::register_builtin(cx.target, name, span);
                return self.context_builtin(read);
            }
            "cpid" => match self.opts.cpid {
                Some(pid) => (TExprKind::Int(pid.into()), Type::U32),
                None => {
                    self.error(
                        Diagnostic::error(span, "`cpid` needs a command to trace")
                            .with_label("no child process")
                            .with_note("start one with -c 'CMD'"),
                    );
                    return poison(span);
                }
            },
            "args" => {
                self.error(
                    Diagnostic::error(span, "`args` must be used with a field, like args->count")
                        .with_label("needs a field"),
                );
                return poison(span);
            }
            _ => {
                if let Some(n) = name
                    .strip_prefix("arg")
                    .and_then(|d| d.parse::<usize>().ok())
                {
                    let read = probe_context::arg(cx.target, n, span);
                    return self.context_builtin(read);
                }
                if let Some(&v) = self.script_defines.get(name) {
                    return texpr(TExprKind::Int(v), Type::I64, span);
                }
                if let Some(v) = kernel_macros::value(name) {
                    return texpr(TExprKind::Int(v), Type::I64, span);
                }
                if let Some(constant) = self.enum_constant(name, span) {
                    return constant;
                }
                let hint = catalogue::suggest(name, Kind::Variable)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "variables start with `$`, maps with `@`".to_string());
                self.error(
                    Diagnostic::error(span, format!("unknown identifier `{name}`"))
                        .with_label("not a builtin")
                        .with_note(hint),
                );
                return poison(span);
            }
        };
        texpr(kind, ty, span)
    }

    /// `argN`, `retval`, `func`: what the probe's context holds.
    fn context_builtin(&mut self, read: Result<TExpr, Diagnostic>) -> TExpr {
        read.unwrap_or_else(|d| {
            let span = d.span;
            self.error(d);
            poison(span)
        })
    }

    /// `args->field` of a tracepoint, typed by its format file.
    fn tracepoint_field(&mut self, cx: &mut ProbeCx, field: &str, span: Span) -> TExpr {
        let Target::Tracepoint { category, name } = cx.target else {
            return poison(span);
        };
        let Some(format) = &cx.format else {
            self.error(Diagnostic::error(
                span,
                format!("cannot read the format of tracepoint {category}:{name}"),
            ));
            return poison(span);
        };
        let Some(f) = format.field(field) else {
            let names: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
            let best = names
                .iter()
                .map(|n| (catalogue::edit_distance(field, n), *n))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, n)| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            self.error(
                Diagnostic::error(
                    span,
                    format!("tracepoint {category}:{name} has no field `{field}`"),
                )
                .with_label("unknown field")
                .with_note(format!("{best}its fields: {}", names.join(", "))),
            );
            return poison(span);
        };
        match f.kind {
            FieldKind::Int { signed } if matches!(f.size, 1 | 2 | 4 | 8) => {
                let signed = signed && !f.is_pointer;
                let raw = texpr(
                    TExprKind::CtxInt {
                        off: f.offset,
                        size: f.size as u8,
                        signed,
                    },
                    Type::Int {
                        bits: (f.size * 8) as u8,
                        signed,
                    },
                    span,
                );
                if f.is_pointer && f.size == 8 {
                    let c_type = f.c_type.clone();
                    return self.typed_pointer(cx, &c_type, raw);
                }
                raw
            }
            FieldKind::CharArray => texpr(
                TExprKind::CtxCharArray {
                    off: f.offset,
                    len: f.size,
                },
                Type::Str { len: f.size },
                span,
            ),
            FieldKind::DataLocString => texpr(
                TExprKind::CtxDataLoc {
                    off: f.offset,
                    len: self.opts.strlen,
                },
                Type::Str {
                    len: self.opts.strlen,
                },
                span,
            ),
            FieldKind::Other if !f.c_type.contains("__data_loc") && f.size > 0 => {
                funcs::ctx_bytes(f.offset, f.size, span)
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        span,
                        format!("field `{field}` ({}) cannot be read yet", f.c_type),
                    )
                    .with_label("unsupported field type"),
                );
                poison(span)
            }
        }
    }

    fn binary(&mut self, op: BinOp, l: TExpr, r: TExpr, span: Span) -> TExpr {
        use BinOp::*;
        if matches!(op, Eq | Ne) && (l.ty.is_str() || r.ty.is_str()) {
            if !(l.ty.is_str() && r.ty.is_str()) {
                self.error(
                    Diagnostic::error(span, format!("cannot compare {} with {}", l.ty, r.ty))
                        .with_label("mismatched types"),
                );
            }
            return texpr(
                TExprKind::StrEq {
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                    negate: op == Ne,
                },
                Type::I64,
                span,
            );
        }
        if let Some(e) = self.pointer_arith(op, &l, &r, span) {
            return e;
        }
        let (l, r) = (int_view(l), int_view(r));
        for side in [&l, &r] {
            if !side.ty.is_int() && !matches!(side.ty, Type::Ksym | Type::Probe) {
                self.error(
                    Diagnostic::error(
                        side.span,
                        format!(
                            "the operands of `{}` must be integers, found {}",
                            op.symbol(),
                            side.ty
                        ),
                    )
                    .with_label(format!("this is {}", side.ty)),
                );
                return poison(span);
            }
        }
        let signed = is_signed(&l.ty) && is_signed(&r.ty);
        let ty = Type::Int { bits: 64, signed };
        let arith = |op| (op, ty.clone());
        let (irop, ty) = match op {
            LogAnd => return texpr(TExprKind::LogAnd(Box::new(l), Box::new(r)), Type::I64, span),
            LogOr => return texpr(TExprKind::LogOr(Box::new(l), Box::new(r)), Type::I64, span),
            Eq | Ne | Lt | Le | Gt | Ge => {
                let cond = compare_cond(op, signed);
                return texpr(
                    TExprKind::Cmp {
                        cond,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    },
                    Type::I64,
                    span,
                );
            }
            Add => arith(ir::BinOp::Add),
            Sub => arith(ir::BinOp::Sub),
            Mul => arith(ir::BinOp::Mul),
            Div => arith(if signed {
                ir::BinOp::SDiv
            } else {
                ir::BinOp::UDiv
            }),
            Mod => arith(if signed {
                ir::BinOp::SRem
            } else {
                ir::BinOp::URem
            }),
            BitAnd => arith(ir::BinOp::And),
            BitOr => arith(ir::BinOp::Or),
            BitXor => arith(ir::BinOp::Xor),
            Shl => arith(ir::BinOp::Shl),
            Shr => {
                // The shift follows the left operand's signedness, as in C.
                let s = is_signed(&l.ty);
                (
                    if s { ir::BinOp::AShr } else { ir::BinOp::LShr },
                    Type::Int {
                        bits: 64,
                        signed: s,
                    },
                )
            }
        };
        texpr(
            TExprKind::Binary {
                op: irop,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            ty,
            span,
        )
    }

    fn unary(&mut self, cx: &mut ProbeCx, op: UnOp, inner: &Expr, span: Span) -> TExpr {
        let v = int_view(self.expr(cx, inner));
        match op {
            UnOp::Neg | UnOp::BitNot | UnOp::LogNot => {
                self.want_int(&v, "the operand");
                let (kind, ty) = match op {
                    UnOp::Neg => (TExprKind::Neg(Box::new(v)), Type::I64),
                    UnOp::BitNot => {
                        let ty = Type::Int {
                            bits: 64,
                            signed: is_signed(&v.ty),
                        };
                        (TExprKind::BitNot(Box::new(v)), ty)
                    }
                    _ => (TExprKind::LogNot(Box::new(v)), Type::I64),
                };
                texpr(kind, ty, span)
            }
            // `expr` reads memory for these before `unary` is reached.
            UnOp::Deref | UnOp::AddrOf => poison(span),
        }
    }

    fn inc_dec(
        &mut self,
        cx: &mut ProbeCx,
        target: &Expr,
        increment: bool,
        prefix: bool,
        span: Span,
    ) -> TExpr {
        let lvalue = match &target.kind {
            ExprKind::Var(name) => match self.find_var(cx, name) {
                Some(id) => LValue::Var(id),
                None => {
                    self.error(
                        Diagnostic::error(
                            target.span,
                            format!("variable ${name} is used before it is assigned"),
                        )
                        .with_label("not assigned yet"),
                    );
                    return poison(span);
                }
            },
            ExprKind::Map { name, keys } => {
                let key = self.map_key(cx, name, keys, target.span);
                let map = self.map_id(name, target.span);
                if self.maps[map as usize].value == Type::None {
                    self.set_map_value(map, Type::I64, span);
                }
                LValue::Map {
                    map,
                    key: key.map(Box::new),
                }
            }
            _ => {
                self.error(Diagnostic::error(
                    target.span,
                    "++ and -- need a variable or a map entry",
                ));
                return poison(span);
            }
        };
        let ty = match &lvalue {
            LValue::Var(id) => cx.vars[*id as usize].1.clone(),
            LValue::Map { map, .. } => self.maps[*map as usize].value.clone(),
        };
        if !ty.is_int() {
            self.error(Diagnostic::error(
                span,
                format!("++ and -- need an integer, found {ty}"),
            ));
        }
        texpr(
            TExprKind::IncDec {
                target: lvalue,
                increment,
                prefix,
            },
            ty,
            span,
        )
    }
}

fn is_signed(t: &Type) -> bool {
    matches!(t, Type::Int { signed: true, .. })
}

fn compare_cond(op: BinOp, signed: bool) -> Cond {
    match (op, signed) {
        (BinOp::Eq, _) => Cond::Eq,
        (BinOp::Ne, _) => Cond::Ne,
        (BinOp::Lt, true) => Cond::SLt,
        (BinOp::Le, true) => Cond::SLe,
        (BinOp::Gt, true) => Cond::SGt,
        (BinOp::Ge, true) => Cond::SGe,
        (BinOp::Lt, false) => Cond::ULt,
        (BinOp::Le, false) => Cond::ULe,
        (BinOp::Gt, false) => Cond::UGt,
        _ => Cond::UGe,
    }
}

/// The common type of two values stored in one place (variable, map, branch):
/// integers keep the first type, strings take the larger capacity, tuples unify
/// element-wise.
pub fn unify(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Int { .. }, Type::Int { .. }) => Some(a.clone()),
        // An enum or pointer variable may also be given plain integers (and 0).
        (Type::Int { .. }, Type::Enum(_) | Type::Ptr { .. })
        | (Type::Enum(_) | Type::Ptr { .. }, Type::Int { .. }) => Some(a.clone()),
        (Type::Str { len: x }, Type::Str { len: y }) => Some(Type::Str { len: *x.max(y) }),
        (Type::Tuple(x), Type::Tuple(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .map(|(p, q)| unify(p, q))
            .collect::<Option<Vec<_>>>()
            .map(Type::Tuple),
        _ if a == b => Some(a.clone()),
        _ => None,
    }
}

fn agg_type(f: AggFunc) -> Type {
    match f {
        AggFunc::Count => Type::Count,
        AggFunc::Sum => Type::Sum,
        AggFunc::Avg => Type::Avg,
        AggFunc::Min => Type::Min,
        AggFunc::Max => Type::Max,
        AggFunc::Stats => Type::Stats,
        AggFunc::Hist => Type::Hist,
        AggFunc::Lhist { min, max, step } => Type::Lhist { min, max, step },
    }
}

/// Integer type names accepted in casts and `sizeof`.
pub fn int_type_named(name: &str) -> Option<Type> {
    let (bits, signed) = match name {
        "int8" | "int8_t" | "s8" | "char" | "signed char" => (8, true),
        "uint8" | "uint8_t" | "u8" | "unsigned char" | "bool" => (8, false),
        "int16" | "int16_t" | "s16" | "short" => (16, true),
        "uint16" | "uint16_t" | "u16" | "unsigned short" => (16, false),
        "int32" | "int32_t" | "s32" | "int" => (32, true),
        "uint32" | "uint32_t" | "u32" | "unsigned int" | "unsigned" => (32, false),
        "int64" | "int64_t" | "s64" | "long" | "long long" => (64, true),
        "uint64" | "uint64_t" | "u64" | "unsigned long" | "unsigned long long" | "size_t" => {
            (64, false)
        }
        _ => return None,
    };
    Some(Type::Int { bits, signed })
}

/// Positional parameters that look like integers are integers.
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    s.parse().ok()
}
