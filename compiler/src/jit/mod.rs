//! Cranelift JIT back end for user-space blocks (BEGIN, END, interval).
//!
//! Compiles IR functions to native code with the same semantics as the eBPF
//! back end: 64-bit wrap-around arithmetic, eBPF division rules, shifts modulo
//! 64, little-endian slots. Everything that is not pure computation (maps,
//! events, builtins, memory reads) goes through the [`Host`] trait, which the
//! runtime implements over the real BPF maps.
//!
//! ```text
//! compile(module, &[i, j]) ──► validate ──► codegen (Cranelift IR) ──► JITModule
//! JitProgram::run(k, host) ──► native code ──► trampolines ──► Host
//! ```
//!
//! Modules: [`host`] (the `Host` trait, trampolines, all unsafe pointer
//! handling), `validate` (bounds proofs), `codegen` (control flow and
//! dispatch), `arith` (trap-free scalar ops), `memory` (slot accesses).

mod arith;
mod codegen;
pub mod host;
mod memory;
mod validate;
mod vregs;

pub use host::{Host, HostRef};

use crate::ir;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Module};
use std::fmt;

/// Native code for some of a module's functions, ready to run.
pub struct JitProgram {
    /// `Some` until dropped; owns the executable memory `entries` point into.
    jit: Option<JITModule>,
    entries: Vec<host::Entry>,
    names: Vec<String>,
}

/// Why JIT compilation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitError {
    /// The IR function concerned, if the failure is specific to one.
    pub function: Option<String>,
    pub reason: String,
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(name) => write!(
                f,
                "cannot compile user-space block `{name}` to native code: {}",
                self.reason
            ),
            None => write!(f, "cannot set up the native code compiler: {}", self.reason),
        }
    }
}

impl std::error::Error for JitError {}

impl JitError {
    fn setup(reason: impl fmt::Display) -> JitError {
        JitError {
            function: None,
            reason: reason.to_string(),
        }
    }

    fn in_function(name: &str, reason: impl fmt::Display) -> JitError {
        JitError {
            function: Some(name.to_string()),
            reason: reason.to_string(),
        }
    }
}

/// Above this many IR instructions (over the functions compiled together),
/// compile for compilation speed: no mid-end optimisation and the single-pass
/// register allocator. Measured (release, `$x = $x + i * (pid & k)` per
/// statement, ~7 IR instructions each): at 30 statements 0.7 ms optimised vs
/// 0.4 ms quick; at 1,000, 12-25 ms vs 5 ms; at 10,000, 145 ms vs 50 ms. Below
/// it, compiling costs a millisecond or two either way and the optimised
/// pipeline makes better code.
const QUICK_ABOVE: usize = 1_000;

/// How much Cranelift works on the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tuning {
    /// E-graph optimisation and the backtracking register allocator.
    Optimised,
    /// Neither: compile time linear and small in the code size.
    Quick,
}

impl Tuning {
    fn for_size(ir_insts: usize) -> Tuning {
        if ir_insts > QUICK_ABOVE {
            Tuning::Quick
        } else {
            Tuning::Optimised
        }
    }
}

/// Compile `module.functions[i]` for each `i` in `functions`; the program's
/// function `k` is then `functions[k]`.
pub fn compile(module: &ir::Module, functions: &[usize]) -> Result<JitProgram, JitError> {
    let size = functions
        .iter()
        .filter_map(|&i| module.functions.get(i))
        .flat_map(|f| &f.blocks)
        .map(|b| b.insts.len() + 1)
        .sum();
    compile_tuned(module, functions, Tuning::for_size(size))
}

fn compile_tuned(
    module: &ir::Module,
    functions: &[usize],
    tuning: Tuning,
) -> Result<JitProgram, JitError> {
    let mut program = JitProgram {
        jit: Some(new_jit_module(tuning)?),
        entries: Vec::with_capacity(functions.len()),
        names: Vec::with_capacity(functions.len()),
    };
    let jit = program.jit.as_mut().expect("just created");
    let imports = codegen::Imports::declare(jit).map_err(JitError::setup)?;
    let mut ctx = jit.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut ids: Vec<FuncId> = Vec::with_capacity(functions.len());
    for &index in functions {
        let func = module.functions.get(index).ok_or_else(|| {
            JitError::setup(format!(
                "function {index} does not exist (the module has {})",
                module.functions.len()
            ))
        })?;
        validate::function(module, func).map_err(|p| JitError::in_function(&func.name, p))?;
        ctx.func.signature = codegen::entry_signature(jit);
        codegen::translate(module, func, jit, &imports, &mut ctx.func, &mut fctx);
        let id = jit
            .declare_anonymous_function(&ctx.func.signature)
            .map_err(|e| JitError::in_function(&func.name, e))?;
        jit.define_function(id, &mut ctx)
            .map_err(|e| JitError::in_function(&func.name, e))?;
        jit.clear_context(&mut ctx);
        ids.push(id);
        program.names.push(func.name.clone());
    }
    jit.finalize_definitions().map_err(JitError::setup)?;
    for id in ids {
        let code = jit.get_finalized_function(id);
        // SAFETY: `code` was compiled with `entry_signature` from validated IR
        // and lives in `program.jit`, which outlives `program.entries`.
        program.entries.push(unsafe { host::entry_from_code(code) });
    }
    Ok(program)
}

/// A `JITModule` for the host CPU with the trampolines registered.
fn new_jit_module(tuning: Tuning) -> Result<JITModule, JitError> {
    let mut flags = settings::builder();
    // With the backtracking allocator "none" compiles slower than "speed" (the
    // e-graph pass removes dead and duplicate constants before allocation);
    // the single-pass allocator does not mind them.
    let (opt_level, regalloc) = match tuning {
        Tuning::Optimised => ("speed", "backtracking"),
        Tuning::Quick => ("none", "single_pass"),
    };
    let settings = [
        ("opt_level", opt_level),
        ("regalloc_algorithm", regalloc),
        (
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        ),
        // Required by cranelift-jit.
        ("use_colocated_libcalls", "false"),
        ("is_pic", "false"),
        // Large slots must not jump over the stack guard page.
        ("enable_probestack", "true"),
        ("probestack_strategy", "inline"),
    ];
    for (name, value) in settings {
        flags
            .set(name, value)
            .map_err(|e| JitError::setup(format!("setting {name}={value}: {e}")))?;
    }
    let isa = cranelift_native::builder()
        .map_err(|e| JitError::setup(format!("this CPU is not supported: {e}")))?
        .finish(settings::Flags::new(flags))
        .map_err(JitError::setup)?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for f in host::HostFn::ALL {
        builder.symbol(f.symbol(), f.address());
    }
    Ok(JITModule::new(builder))
}

impl JitProgram {
    /// Run function `index` (a position in the slice given to [`compile`]).
    /// A panic inside `host` is re-raised here after the block has returned.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn run(&self, index: usize, host: &mut dyn Host) {
        let entry = *self.entries.get(index).unwrap_or_else(|| {
            panic!(
                "JIT function {index} does not exist ({} compiled)",
                self.entries.len()
            )
        });
        host::invoke(entry, host);
    }

    /// Number of compiled functions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The IR name of compiled function `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }
}

impl fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitProgram")
            .field("functions", &self.names)
            .finish()
    }
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        self.entries.clear();
        if let Some(jit) = self.jit.take() {
            // SAFETY: the only pointers into the module's code are `entries`,
            // cleared above; `run` borrows `self`, so no call is in progress.
            unsafe { jit.free_memory() };
        }
    }
}

#[cfg(test)]
mod tests;
