//! Many syscall tracepoints as one raw tracepoint program.
//!
//! Every `syscalls:sys_enter_*` tracepoint is fed by the `sys_enter` raw
//! tracepoint (`sys_exit_*` by `sys_exit`). Closing a perf-event tracepoint
//! costs tens of milliseconds of RCU waits, a raw tracepoint almost nothing; so a
//! block that attaches to many syscall tracepoints is compiled into one program
//! on the raw tracepoint that dispatches on the syscall number, with the
//! tracepoint semantics kept: `probe` is the syscall tracepoint's name,
//! `args.X` reads the argument the tracepoint would have recorded (from the
//! saved user registers), syscalls the block does not name and ia32 syscalls
//! run nothing.

mod dispatch;
mod numbers;
mod rewrite;

use crate::check::kernel_types::KernelTypes;
use crate::probes::Target;
use crate::typed::{TStmt, TypedProbe, TypedProgram, VarId};
use dispatch::Route;
use rewrite::{Direction, Rewrite};
use rtrace_stdlib::types::Type;

pub use numbers::number;

/// A block merges its syscall tracepoints of one direction when it names at
/// least this many. Below it, detaching costs at most a few hundred
/// milliseconds, and separate tracepoints run only on their own syscalls where
/// the raw tracepoint runs (and dispatches) on every syscall of the system.
pub const MERGE_THRESHOLD: usize = 8;

/// Fixed variables of a merged program; the bodies' own follow.
const NR_VAR: VarId = 0;
const PROBE_VAR: VarId = 1;
const CLASS_VAR: VarId = 2;
const FIXED_VARS: [Type; 3] = [Type::I64, Type::Probe, Type::I64];

/// `current->thread_info.status` when BTF cannot tell (x86-64: `flags` and
/// `syscall_work` come first, `thread_info` starts `task_struct`).
const DEFAULT_STATUS_OFFSET: u32 = 16;
/// `struct pt_regs` offset of `orig_ax`, the syscall number at exit.
const PT_REGS_ORIG_AX: u32 = 120;

/// One program on `sys_enter` or `sys_exit` standing for several typed probes.
#[derive(Clone, Debug)]
pub struct MergedProbe {
    /// A probe on `Target::RawTracepoint` whose body does the dispatch.
    pub probe: TypedProbe,
    /// Indexes into `TypedProgram::probes` of the probes it replaces, in order.
    pub members: Vec<usize>,
}

/// A syscall tracepoint target: its direction and syscall number.
fn syscall_of(target: &Target) -> Option<(Direction, u32)> {
    let Target::Tracepoint { category, name } = target else {
        return None;
    };
    if category != "syscalls" {
        return None;
    }
    let (direction, call) = match (
        name.strip_prefix("sys_enter_"),
        name.strip_prefix("sys_exit_"),
    ) {
        (Some(call), _) => (Direction::Enter, call),
        (_, Some(call)) => (Direction::Exit, call),
        _ => return None,
    };
    Some((direction, number(call)?))
}

/// The probes of one block on syscall tracepoints of one direction.
struct Group {
    direction: Direction,
    /// (probe index, syscall number)
    members: Vec<(usize, u32)>,
}

fn groups(program: &TypedProgram) -> Vec<Group> {
    let mut out: Vec<(usize, Group)> = Vec::new();
    for (i, p) in program.probes.iter().enumerate() {
        let Some((direction, nr)) = syscall_of(&p.target) else {
            continue;
        };
        match out
            .iter_mut()
            .find(|(block, g)| *block == p.block && g.direction == direction)
        {
            Some((_, g)) => g.members.push((i, nr)),
            None => out.push((
                p.block,
                Group {
                    direction,
                    members: vec![(i, nr)],
                },
            )),
        }
    }
    out.into_iter()
        .map(|(_, g)| g)
        .filter(|g| g.members.len() >= MERGE_THRESHOLD)
        .collect()
}

/// A group's bodies rewritten for the raw tracepoint, as one dispatch section.
struct Section {
    routes: Vec<Route>,
    /// (predicate, body) per class, class `i + 1`.
    bodies: Vec<(Option<crate::typed::TExpr>, Vec<TStmt>)>,
    members: Vec<usize>,
}

/// Rewrites a group's probes; `vars` receives the classes' variables. `None` if
/// some body cannot run on the raw tracepoint.
fn section(program: &TypedProgram, group: &Group, vars: &mut Vec<Type>) -> Option<Section> {
    // (rewritten predicate/body/vars with a common base, to find equal bodies)
    type Shape = (Option<crate::typed::TExpr>, Vec<TStmt>, Vec<Type>);
    let mut shapes: Vec<Shape> = Vec::new();
    let mut bodies = Vec::new();
    let mut routes = Vec::new();
    let rewritten = |probe: &TypedProbe, var_base: VarId| {
        let rw = Rewrite {
            direction: group.direction,
            nr_var: NR_VAR,
            probe_var: PROBE_VAR,
            var_base,
        };
        let mut predicate = probe.predicate.clone();
        if let Some(p) = predicate.as_mut() {
            rw.expr(p).ok()?;
        }
        let mut body = probe.body.clone();
        rw.stmts(&mut body).ok()?;
        Some((predicate, body))
    };
    let probe_base = FIXED_VARS.len() as VarId;
    for &(index, nr) in &group.members {
        let probe = &program.probes[index];
        let (predicate, body) = rewritten(probe, probe_base)?;
        let shape = (predicate, body, probe.vars.clone());
        let class = match shapes.iter().position(|s| *s == shape) {
            Some(c) => c,
            None => {
                let base = vars.len() as VarId;
                bodies.push(rewritten(probe, base)?);
                vars.extend(probe.vars.iter().cloned());
                shapes.push(shape);
                shapes.len() - 1
            }
        };
        routes.push(Route {
            nr,
            probe_id: probe.probe_id,
            class: class as u32 + 1,
        });
    }
    routes.sort_by_key(|r| r.nr);
    routes.dedup_by_key(|r| r.nr);
    Some(Section {
        routes,
        bodies,
        members: group.members.iter().map(|&(i, _)| i).collect(),
    })
}

/// Offset of `thread_info.status` in `task_struct`, from BTF when it has them.
fn compat_status_offset() -> u32 {
    let mut kernel = KernelTypes::new();
    let lookup = |kernel: &mut KernelTypes| {
        let task = kernel.find_record(false, "task_struct")?;
        let info = kernel.member(task, "thread_info").ok()?;
        let thread_info = kernel.find_record(false, "thread_info")?;
        let status = kernel.member(thread_info, "status").ok()?;
        Some(info.offset + status.offset)
    };
    lookup(&mut kernel).unwrap_or(DEFAULT_STATUS_OFFSET)
}

/// The merged programs for `program`: at most one per direction, each standing
/// for the blocks that name at least [`MERGE_THRESHOLD`] syscall tracepoints of
/// that direction. Blocks that cannot be merged keep their own tracepoints.
pub fn merge(program: &TypedProgram) -> Vec<MergedProbe> {
    let all = groups(program);
    if all.is_empty() {
        return Vec::new();
    }
    let status_offset = compat_status_offset();
    let mut out = Vec::new();
    for direction in [Direction::Enter, Direction::Exit] {
        let mut vars = FIXED_VARS.to_vec();
        let mut sections = Vec::new();
        let mut ends_early_seen = false;
        // Walk backwards: only the last merged block may end the program early
        // (`return`, `exit()`), or the blocks after it would not run.
        for group in all.iter().rev().filter(|g| g.direction == direction) {
            let ends_early = group
                .members
                .iter()
                .any(|&(i, _)| rewrite::ends_early(&program.probes[i].body));
            if ends_early && (ends_early_seen || !sections.is_empty()) {
                continue;
            }
            if let Some(s) = section(program, group, &mut vars) {
                ends_early_seen |= ends_early;
                sections.push(s);
            }
        }
        if sections.is_empty() {
            continue;
        }
        sections.reverse();
        out.push(merged_probe(
            program,
            direction,
            sections,
            vars,
            status_offset,
        ));
    }
    out
}

fn merged_probe(
    program: &TypedProgram,
    direction: Direction,
    sections: Vec<Section>,
    vars: Vec<Type>,
    status_offset: u32,
) -> MergedProbe {
    let (raw, nr) = match direction {
        Direction::Enter => (
            "sys_enter",
            crate::typed::TExprKind::CtxInt {
                off: 8,
                size: 8,
                signed: true,
            },
        ),
        Direction::Exit => (
            "sys_exit",
            rewrite::saved_register(PT_REGS_ORIG_AX, 8, true),
        ),
    };
    let mut body = vec![
        dispatch::assign(
            NR_VAR,
            crate::check::texpr(nr, Type::I64, Default::default()),
        ),
        TStmt::If {
            cond: dispatch::in_compat_syscall(status_offset),
            then: vec![TStmt::Return],
            els: Vec::new(),
        },
    ];
    let mut members = Vec::new();
    for s in sections {
        body.push(dispatch::assign(
            CLASS_VAR,
            crate::check::texpr(
                crate::typed::TExprKind::Int(0),
                Type::I64,
                Default::default(),
            ),
        ));
        body.extend(dispatch::route_tree(
            &s.routes, NR_VAR, PROBE_VAR, CLASS_VAR,
        ));
        body.extend(dispatch::class_chain(CLASS_VAR, s.bodies));
        members.extend(s.members);
    }
    let first = &program.probes[members[0]];
    let probe = TypedProbe {
        target: Target::RawTracepoint { name: raw.into() },
        probe_id: first.probe_id,
        block: first.block,
        wildcard: members.iter().all(|&i| program.probes[i].wildcard),
        vars,
        predicate: None,
        body,
    };
    MergedProbe { probe, members }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{compile, Options};
    use crate::typed::TExprKind;

    fn checked(source: &str) -> TypedProgram {
        let ast = crate::parse::parse(source).unwrap();
        crate::check::check(&ast, &Default::default()).unwrap()
    }

    fn sections(program: &TypedProgram) -> Vec<String> {
        merge(program)
            .iter()
            .map(|m| format!("{:?}", m.probe.target))
            .collect()
    }

    #[test]
    fn a_wildcard_block_becomes_one_program_with_one_body() {
        let program = checked("tracepoint:syscalls:sys_enter_* { @[probe] = count(); }");
        let merged = merge(&program);
        assert_eq!(merged.len(), 1);
        let m = &merged[0];
        let mapped = program
            .probes
            .iter()
            .filter(|p| syscall_of(&p.target).is_some())
            .count();
        assert!(mapped > 300, "only {mapped} syscalls mapped");
        assert_eq!(m.members.len(), mapped);
        assert_eq!(
            m.probe.target,
            Target::RawTracepoint {
                name: "sys_enter".into()
            }
        );
        // The fixed variables and no body variables: a single class.
        assert_eq!(m.probe.vars, FIXED_VARS.to_vec());
        let classes = format!("{:?}", m.probe.body).matches("Agg {").count();
        assert_eq!(classes, 1, "one shared body");
    }

    #[test]
    fn few_tracepoints_stay_tracepoints() {
        let program = checked(
            "tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_write { @ = count(); }",
        );
        assert!(merge(&program).is_empty());
    }

    #[test]
    fn only_the_last_block_may_end_the_program() {
        let program = checked(
            "tracepoint:syscalls:sys_exit_* { return; }
             tracepoint:syscalls:sys_exit_* { @ = count(); }
             tracepoint:syscalls:sys_enter_* { @e = count(); }
             tracepoint:syscalls:sys_enter_* { exit(); }",
        );
        let merged = merge(&program);
        assert_eq!(
            sections(&program),
            [
                "RawTracepoint { name: \"sys_enter\" }",
                "RawTracepoint { name: \"sys_exit\" }"
            ]
        );
        let blocks = |m: &MergedProbe| {
            let mut b: Vec<usize> = m.members.iter().map(|&i| program.probes[i].block).collect();
            b.dedup();
            b
        };
        assert_eq!(blocks(&merged[0]), [2, 3]);
        assert_eq!(blocks(&merged[1]), [1], "block 0 returns before block 1");
    }

    #[test]
    fn record_fields_map_to_registers_and_raw_arguments() {
        let rw = |direction| Rewrite {
            direction,
            nr_var: NR_VAR,
            probe_var: PROBE_VAR,
            var_base: 3,
        };
        let field = |off, direction| {
            let mut e = crate::check::texpr(
                TExprKind::CtxInt {
                    off,
                    size: 8,
                    signed: false,
                },
                Type::U64,
                Default::default(),
            );
            rw(direction).expr(&mut e).map(|_| e.kind)
        };
        // Fourth argument: r10, not rcx as in a function call.
        assert_eq!(
            field(16 + 3 * 8, Direction::Enter),
            Ok(rewrite::saved_register(56, 8, false))
        );
        assert_eq!(field(8, Direction::Enter), Ok(TExprKind::Var(NR_VAR)));
        let ret = TExprKind::CtxInt {
            off: 8,
            size: 8,
            signed: false,
        };
        assert_eq!(field(16, Direction::Exit), Ok(ret));
        assert!(field(0, Direction::Enter).is_err(), "common header");
        assert!(field(24, Direction::Exit).is_err());
    }

    #[test]
    fn the_pipeline_emits_raw_tracepoint_programs() {
        let compiled = compile(
            "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }
             tracepoint:syscalls:sys_exit_read { @r = count(); }",
            &Options::default(),
        )
        .unwrap();
        let sections: Vec<&str> = compiled.kernel.iter().map(|k| k.section.as_str()).collect();
        assert_eq!(
            sections,
            ["raw_tp/sys_enter", "tracepoint/syscalls/sys_exit_read"]
        );
        assert_eq!(compiled.probe_count(), compiled.program.probes.len());
    }
}
