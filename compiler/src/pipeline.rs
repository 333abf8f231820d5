//! The whole compiler, stage by stage: source → AST → typed program → IR →
//! eBPF programs + ELF (kernel probes) and IR functions for the JIT (user space).

use crate::bpf::{self, BpfProgram, EmitOptions};
use crate::diag::{Diagnostic, Diagnostics};
use crate::kprobe_multi::KprobeSites;
use crate::probes::Target;
use crate::typed::{TypedProbe, TypedProgram};
use crate::uprobe_multi::UprobeSites;
use crate::{ast, check, ir, lower, parse, syscalls};
use std::fmt;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub check: check::Options,
    pub emit: EmitOptions,
    /// Whether to attach the sites of a block on one binary with one
    /// `uprobe_multi` link (the kernel must support it: 6.6 and later). Asked
    /// only when a script has such a block, since asking the kernel costs a
    /// program load; `None` never merges.
    pub uprobe_multi: Option<fn() -> bool>,
    /// Whether to run the functions of a wildcard kprobe block in one program
    /// told apart by attach cookies (Linux 5.15; one `kprobe_multi` link where
    /// the kernel has it, else a perf kprobe with a cookie per function).
    /// Asked only when a script has such a block.
    pub kprobe_multi: Option<fn() -> bool>,
}

/// A probe that runs in the kernel: its target and its eBPF program.
#[derive(Clone, Debug)]
pub struct KernelProbe {
    /// Index into `Compiled::program.probes` and `Compiled::module.functions`;
    /// for a merged syscall program, its first member probe (the function is
    /// appended after the probes' own).
    pub index: usize,
    pub target: Target,
    pub program: BpfProgram,
    /// ELF section name, which tells aya the program type.
    pub section: String,
    /// For a program standing for many uprobe/USDT sites: the sites of its
    /// `uprobe_multi` link ([`crate::uprobe_multi`]).
    pub multi: Option<UprobeSites>,
    /// For a program standing for the functions of a wildcard kprobe block:
    /// the functions of its `kprobe_multi` link ([`crate::kprobe_multi`]).
    pub kmulti: Option<KprobeSites>,
}

/// Everything the runtime needs to run a script.
#[derive(Debug)]
pub struct Compiled {
    pub ast: ast::Program,
    pub program: TypedProgram,
    pub module: ir::Module,
    pub kernel: Vec<KernelProbe>,
    /// Indexes (into `module.functions`) of the user-space blocks, in source order.
    pub user: Vec<usize>,
    pub elf: Vec<u8>,
}

impl Compiled {
    /// Number of probes bpftrace would report in "Attaching N probes...": the
    /// sites of one USDT probe count once.
    pub fn probe_count(&self) -> usize {
        let mut seen: Vec<(usize, &str)> = self
            .program
            .probes
            .iter()
            .map(|p| {
                (
                    p.block,
                    self.program.probe_names[p.probe_id as usize].as_str(),
                )
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// The ring buffer map (always the last map).
    pub fn ringbuf_map(&self) -> ir::MapId {
        (self.module.maps.len() - 1) as ir::MapId
    }

    /// The per-CPU counter of events lost to a full ring buffer (just before it).
    pub fn lost_events_map(&self) -> ir::MapId {
        (self.module.maps.len() - 2) as ir::MapId
    }
}

#[derive(Debug)]
pub enum CompileError {
    /// Errors in the script, with spans.
    Script(Diagnostics),
    /// A probe that cannot become eBPF (e.g. stack too large), with its probe name.
    Emit {
        probe: String,
        error: bpf::EmitError,
    },
}

impl CompileError {
    /// Render for the terminal (`file:line:col`, source line, caret).
    pub fn render(&self, file_name: &str, source: &str, color: bool) -> String {
        match self {
            CompileError::Script(d) => d.render(file_name, source, color),
            CompileError::Emit { probe, error } => format!("error: {probe}: {error}\n"),
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Script(d) => {
                for x in &d.0 {
                    writeln!(f, "{}", x.message)?;
                }
                Ok(())
            }
            CompileError::Emit { probe, error } => write!(f, "{probe}: {error}"),
        }
    }
}

impl From<Vec<Diagnostic>> for CompileError {
    fn from(d: Vec<Diagnostic>) -> CompileError {
        CompileError::Script(Diagnostics(d))
    }
}

/// Compile a script.
pub fn compile(source: &str, opts: &Options) -> Result<Compiled, CompileError> {
    let ast = parse::parse(source).map_err(|d| CompileError::from(vec![d]))?;
    let program = check::check(&ast, &opts.check)?;
    let mut module = lower::lower(&program);
    let (mut merged, mut scratch_bytes) =
        emit_merged(merges(&program, opts), &mut module, &opts.emit);
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    for (index, probe) in program.probes.iter().enumerate() {
        if probe.target.runs_in_user_space() {
            user.push(index);
            continue;
        }
        if let Some(slot) = merged
            .iter_mut()
            .find(|(members, _)| members.contains(&index))
        {
            kernel.extend(slot.1.take());
            continue;
        }
        let func = &module.functions[index];
        let (prog, scratch) =
            bpf::emit_function_sized(&module, func, &opts.emit).map_err(|error| {
                CompileError::Emit {
                    probe: program.probe_names[probe.probe_id as usize].clone(),
                    error,
                }
            })?;
        scratch_bytes = scratch_bytes.max(scratch);
        kernel.push(KernelProbe {
            index,
            section: section_name(&probe.target, &func.name),
            target: probe.target.clone(),
            program: prog,
            multi: None,
            kmulti: None,
        });
    }
    if let Some(map) = bpf::scratch_map::scratch_map(&module) {
        let spec = &mut module.maps[map as usize];
        spec.value_size = spec
            .value_size
            .max(rtrace_stdlib::types::round8(scratch_bytes));
    }
    let sections: Vec<(BpfProgram, String)> = kernel
        .iter()
        .map(|k| (k.program.clone(), k.section.clone()))
        .collect();
    let elf = bpf::write_elf(&module, &sections);
    Ok(Compiled {
        ast,
        program,
        module,
        kernel,
        user,
        elf,
    })
}

/// One program that serves several probes: its members, its merged body, and
/// the sites a multi link attaches it to (uprobe_multi or kprobe_multi).
struct Merge {
    members: Vec<usize>,
    probe: TypedProbe,
    multi: Option<UprobeSites>,
    kmulti: Option<KprobeSites>,
}

/// The merged programs of this script: syscall tracepoints on raw tracepoints
/// ([`crate::syscalls`]) and, where the kernel has the links, multi-site uprobes
/// ([`crate::uprobe_multi`]) and multi-function kprobes ([`crate::kprobe_multi`]).
fn merges(program: &TypedProgram, opts: &Options) -> Vec<Merge> {
    let mut out: Vec<Merge> = syscalls::merge(program)
        .into_iter()
        .map(|m| Merge {
            members: m.members,
            probe: m.probe,
            multi: None,
            kmulti: None,
        })
        .collect();
    let uprobes = crate::uprobe_multi::merge(program);
    if !uprobes.is_empty() && opts.uprobe_multi.is_some_and(|supported| supported()) {
        out.extend(uprobes.into_iter().map(|m| Merge {
            members: m.members,
            probe: m.probe,
            multi: Some(m.sites),
            kmulti: None,
        }));
    }
    let kprobes = crate::kprobe_multi::merge(program);
    if !kprobes.is_empty() && opts.kprobe_multi.is_some_and(|supported| supported()) {
        out.extend(kprobes.into_iter().map(|m| Merge {
            members: m.members,
            probe: m.probe,
            multi: None,
            kmulti: Some(m.sites),
        }));
    }
    out
}

/// Compile the merged programs, appending their functions to `module`. Returns
/// each one's member probes and kernel probe (whose `index` is its first
/// member's), and the scratch-map bytes they need. A merged program that cannot
/// be emitted is dropped: its members keep programs of their own.
fn emit_merged(
    merges: Vec<Merge>,
    module: &mut ir::Module,
    emit: &EmitOptions,
) -> (Vec<MergedProbes>, u32) {
    let mut out = Vec::new();
    let mut scratch_bytes = 0;
    for m in merges {
        let func = lower::lower_extra(&module.maps, module.functions.len(), &m.probe);
        let Ok((prog, scratch)) = bpf::emit_function_sized(module, &func, emit) else {
            continue;
        };
        scratch_bytes = scratch_bytes.max(scratch);
        let probe = KernelProbe {
            index: m.members[0],
            section: section_name(&m.probe.target, &func.name),
            target: m.probe.target.clone(),
            program: prog,
            multi: m.multi,
            kmulti: m.kmulti,
        };
        module.functions.push(func);
        out.push((m.members, Some(probe)));
    }
    (out, scratch_bytes)
}

/// The probes one merged program serves, and that program (taken once emitted).
type MergedProbes = (Vec<usize>, Option<KernelProbe>);

/// The ELF section name that makes aya create the right program type. User-space
/// probes are named after their program (paths do not belong in section names).
fn section_name(target: &Target, program: &str) -> String {
    match target {
        Target::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
        Target::Profile { .. } | Target::Software { .. } | Target::Hardware { .. } => {
            "perf_event".into()
        }
        Target::Kprobe {
            function,
            ret: false,
            ..
        } => format!("kprobe/{function}"),
        Target::Kprobe {
            function,
            ret: true,
            ..
        } => format!("kretprobe/{function}"),
        Target::RawTracepoint { name } => format!("raw_tp/{name}"),
        Target::Fentry {
            function,
            ret: false,
            ..
        } => format!("fentry/{function}"),
        Target::Fentry {
            function,
            ret: true,
            ..
        } => format!("fexit/{function}"),
        Target::Uprobe { ret: false, .. } | Target::Usdt { .. } => format!("uprobe/{program}"),
        Target::Uprobe { ret: true, .. } => format!("uretprobe/{program}"),
        Target::Begin | Target::End | Target::Interval { .. } => unreachable!("user-space probe"),
    }
}
