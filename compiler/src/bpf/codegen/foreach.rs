//! `bpf_for_each_map_elem` (helper 164, kernel ≥ 5.13): a map loop or `len()`
//! inside a kernel probe.
//!
//! The loop body is an IR function of its own, compiled as a callback
//! subprogram appended after the program's code: the caller loads its address
//! with a `BPF_PSEUDO_FUNC` `ld_imm64`. The callback has its own stack frame;
//! the probe's variables stay in the caller's frame and are reached through the
//! callback context pointer (`r4` on entry, kept in [`OUTER_BASE`]), which the
//! caller sets to the lowest of those variables' stack addresses. The kernel
//! visits the entries in the map's own order (hash bucket order).

use super::{Codegen, Pending};
use crate::bpf::insn::{self, helper, Alu, Insn, Reg, Size, R0, R1, R10, R2, R3, R4, R8};
use crate::bpf::{EmitError, MapReloc};
use crate::ir::{Effect, Function, Inst, MapId, Mem, SlotId, VReg};
use rtrace_stdlib::types::round8;

/// A callback slot living in the caller's frame: (slot, base register, offset).
pub(super) type Alias = (u32, Reg, i32);

/// Instructions and map relocations of a compiled function.
pub(super) type Code = (Vec<Insn>, Vec<MapReloc>);

/// Compiles a callback body (the driver's `compile` in callback mode).
pub(super) type CompileBody<'a> =
    dyn Fn(&Function, CallbackCx, &[Alias]) -> Result<Code, EmitError> + 'a;

/// Inside a callback: the register holding the caller's context pointer.
pub(super) const OUTER_BASE: Reg = R8;

/// What a function compiled as a callback needs to know about its entry and exit.
#[derive(Clone, Copy, Debug)]
pub(super) struct CallbackCx {
    /// Where the prologue copies the key, then the value (`ir::Inst::MapForEach`).
    pub entry: Option<Mem>,
    /// The 8 bytes whose bit 0 is returned (1 stops the iteration).
    pub stop: Option<Mem>,
    pub key_size: u32,
    pub value_size: u32,
}

fn unsupported<T>(what: &str) -> Result<T, EmitError> {
    Err(EmitError::Unsupported {
        what: what.to_string(),
    })
}

/// Whether `func` reads the probe context, which a callback does not receive.
fn uses_probe_context(func: &Function) -> bool {
    func.blocks.iter().flat_map(|b| &b.insts).any(|inst| {
        matches!(
            inst,
            Inst::CtxLoad { .. }
                | Inst::CtxAddr { .. }
                | Inst::StackId { .. }
                | Inst::Effect(Effect::Override { .. })
        )
    })
}

impl Codegen<'_> {
    /// The call `bpf_for_each_map_elem(map, body, ctx, 0)`; the body is
    /// compiled once this function's code is complete.
    pub(super) fn map_for_each(
        &mut self,
        map: MapId,
        body: &Function,
        outer: &[(SlotId, SlotId)],
        entry: Option<Mem>,
        stop: Option<Mem>,
        count: Option<VReg>,
    ) -> Result<(), EmitError> {
        let spec = super::maps::map_spec(self.module, map)?;
        let (key_size, value_size) = (spec.key_size, spec.value_size);
        if uses_probe_context(body) {
            return unsupported(
                "the body of a `for` loop over a map in a kernel probe cannot read the probe's \
                 context (args, argN, retval, stacks, override); copy what it needs into a \
                 variable before the loop",
            );
        }
        let mut homes = Vec::with_capacity(outer.len());
        for &(outer_slot, inner_slot) in outer {
            let size = self
                .func
                .slots
                .get(outer_slot as usize)
                .map_or(0, |s| s.size);
            let (base, off) = self.mem(Mem::at(outer_slot, 0), size)?;
            if base != R10 || self.callback.is_some() {
                return unsupported(
                    "this probe's variables do not fit the BPF stack together with a `for` loop \
                     over a map; use fewer or shorter strings and tuples in the probe",
                );
            }
            homes.push((inner_slot, off));
        }
        let ctx_off = homes.iter().map(|h| h.1).min();
        let aliases = homes
            .iter()
            .map(|&(slot, off)| (slot, OUTER_BASE, off - ctx_off.unwrap_or(0)))
            .collect();
        self.asm.ld_map(R1, map);
        let at = self.asm.ld_func(R2);
        match ctx_off {
            Some(off) => self.stack_addr(R3, off),
            None => self.asm.emit(insn::mov64_imm(R3, 0)),
        }
        self.asm.emit(insn::mov64_imm(R4, 0));
        self.asm.emit(insn::call(helper::FOR_EACH_MAP_ELEM));
        if let Some(count) = count {
            self.write_back(count, R0);
        }
        self.pending.push(Pending {
            at,
            body: body.clone(),
            aliases,
            cx: CallbackCx {
                entry,
                stop,
                key_size,
                value_size,
            },
        });
        Ok(())
    }

    /// Callback entry: keep the context pointer, copy the key and the value.
    pub(super) fn callback_prologue(&mut self, cx: CallbackCx) -> Result<(), EmitError> {
        self.asm.emit(insn::mov64_reg(OUTER_BASE, R4));
        if let Some(entry) = cx.entry {
            let value_at = round8(cx.key_size);
            let key = self.mem(entry, value_at + cx.value_size)?;
            self.copy(key, (R2, 0), cx.key_size, R0);
            let value = (key.0, key.1 + value_at as i32);
            self.copy(value, (R3, 0), cx.value_size, R0);
        }
        Ok(())
    }

    /// Callback exit: 0 continues the iteration, 1 stops it.
    pub(super) fn callback_return(&mut self, cx: CallbackCx) -> Result<(), EmitError> {
        match cx.stop {
            Some(stop) => {
                let (base, off) = self.mem(stop, 8)?;
                self.asm.emit(insn::ldx(Size::DW, R0, base, off as i16));
                self.asm.emit(insn::alu64_imm(Alu::And, R0, 1));
            }
            None => self.asm.emit(insn::mov64_imm(R0, 0)),
        }
        self.asm.emit(insn::exit());
        Ok(())
    }
}

/// Compile each pending callback and append it to `insns`, pointing the
/// `ld_imm64` that names it at its first instruction.
pub(super) fn append_callbacks(
    compile: &CompileBody,
    pending: Vec<Pending>,
    insns: &mut Vec<Insn>,
    relocs: &mut Vec<MapReloc>,
) -> Result<(), EmitError> {
    for p in pending {
        let (code, code_relocs) = compile(&p.body, p.cx, &p.aliases)?;
        let start = insns.len();
        insns[p.at].imm = (start - p.at - 1) as i32;
        relocs.extend(code_relocs.into_iter().map(|r| MapReloc {
            insn: r.insn + start,
            map: r.map,
        }));
        insns.extend(code);
    }
    Ok(())
}
