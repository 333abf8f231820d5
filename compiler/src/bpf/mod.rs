//! eBPF back end: IR → eBPF instructions → in-memory ELF that aya loads.
//!
//! - [`insn`]: instruction encoder and disassembler
//! - `liveness`, `regalloc`: block order, live ranges, linear-scan allocation of r6–r9
//! - `frame`: stack layout of IR slots, spill slots and scratch space below r10
//! - `codegen`: the driver and instruction selection (`scalar`: ALU, memory,
//!   context, builtins, strings; `maps`: map helpers and the ring buffer)
//! - `asm`: instruction buffer with labels and map relocations
//! - [`elf`]: the relocatable ELF (program sections, legacy `maps`, `license`)

mod asm;
mod codegen;
pub mod elf;
mod frame;
pub mod insn;
mod liveness;
mod regalloc;
pub mod scratch_map;

use crate::ir::{self, MapId};
use std::fmt;

pub use elf::{map_object_name, write_elf};
pub use insn::Insn;

/// Facts about the run that code generation bakes into the program.
#[derive(Clone, Debug, Default)]
pub struct EmitOptions {
    /// `bpf_ktime_get_ns()` value when the tracer started; `elapsed` subtracts it.
    pub start_ns: u64,
}

/// One compiled probe program.
#[derive(Clone, Debug, PartialEq)]
pub struct BpfProgram {
    /// The IR function's name; also the ELF symbol name aya finds the program by.
    pub name: String,
    pub insns: Vec<Insn>,
    /// Every `ld_imm64` that loads a map fd.
    pub map_relocs: Vec<MapReloc>,
}

/// The `ld_imm64` at instruction index `insn` loads map `map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapReloc {
    pub insn: usize,
    pub map: MapId,
}

/// The BPF stack size limit per program.
pub const STACK_LIMIT: u32 = 512;

/// Why a function cannot be turned into eBPF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// Slots, spills and scratch space need more stack than the kernel allows.
    StackLimit { needed: u32, limit: u32 },
    /// A user-space function was handed to the kernel back end.
    UserContext { function: String },
    /// An instruction names a map the module does not have.
    UnknownMap { map: MapId },
    /// `Emit` was used but the module has no ring buffer map.
    NoRingBuffer,
    /// The program is too long for 16-bit jump offsets.
    TooLarge { insns: usize },
    /// The IR is inconsistent (a lowering bug); the text says what.
    InvalidIr { what: String },
    /// A construct the kernel back end cannot compile here; the text says what.
    Unsupported { what: String },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::StackLimit { needed, limit } => write!(
                f,
                "this probe needs {needed} bytes of BPF stack but the kernel allows only {limit}; \
                 use fewer or shorter strings and tuples in one probe"
            ),
            EmitError::UserContext { function } => write!(
                f,
                "function {function} runs in user space and cannot be compiled to eBPF"
            ),
            EmitError::UnknownMap { map } => {
                write!(f, "internal error: map {map} is used but not declared")
            }
            EmitError::NoRingBuffer => write!(
                f,
                "internal error: the program emits events but the module has no ring buffer map"
            ),
            EmitError::TooLarge { insns } => write!(
                f,
                "this probe compiles to {insns} eBPF instructions, too many for 16-bit jump offsets; \
                 split it into several probes"
            ),
            EmitError::InvalidIr { what } => write!(f, "internal error in the IR: {what}"),
            EmitError::Unsupported { what } => f.write_str(what),
        }
    }
}

impl std::error::Error for EmitError {}

/// Compile one kernel-side IR function to eBPF instructions.
pub fn emit_function(
    module: &ir::Module,
    func: &ir::Function,
    opts: &EmitOptions,
) -> Result<BpfProgram, EmitError> {
    codegen::emit(module, func, opts).map(|(program, _)| program)
}

/// Like [`emit_function`], also returning how many bytes of the scratch map
/// ([`scratch_map::SCRATCH_MAP`]) the program uses (0: it fits on the stack).
pub fn emit_function_sized(
    module: &ir::Module,
    func: &ir::Function,
    opts: &EmitOptions,
) -> Result<(BpfProgram, u32), EmitError> {
    codegen::emit(module, func, opts)
}

/// Readable assembly of a program, one numbered instruction per line, maps named
/// by their kernel object name.
pub fn disassemble(prog: &BpfProgram) -> String {
    let map_at = |index: usize| {
        prog.map_relocs
            .iter()
            .find(|r| r.insn == index)
            .map(|r| map_object_name(r.map))
    };
    insn::disassemble_insns(&prog.insns, &map_at)
}
