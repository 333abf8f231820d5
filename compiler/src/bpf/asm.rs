//! An instruction buffer with forward/backward labels and map relocations.

use super::insn::{self, Insn, Reg};
use super::{EmitError, MapReloc};
use crate::ir::MapId;

/// A jump target, bound to an instruction index once its position is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    /// (jump instruction index, target)
    fixups: Vec<(usize, Label)>,
    relocs: Vec<MapReloc>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    pub fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    pub fn emit_all(&mut self, insns: &[Insn]) {
        self.insns.extend_from_slice(insns);
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The next emitted instruction is the label's target.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }

    /// Emit a jump (`ja` or conditional) whose offset is patched to reach `target`.
    pub fn jump(&mut self, jump: Insn, target: Label) {
        self.fixups.push((self.insns.len(), target));
        self.insns.push(jump);
    }

    /// `goto target`
    pub fn goto(&mut self, target: Label) {
        self.jump(insn::ja(0), target);
    }

    /// `reg = map` with a relocation for the loader.
    pub fn ld_map(&mut self, reg: Reg, map: MapId) {
        self.relocs.push(MapReloc {
            insn: self.insns.len(),
            map,
        });
        self.emit_all(&insn::ld_map_fd(reg));
    }

    /// `reg = &subprogram` (`BPF_PSEUDO_FUNC`); returns the instruction's index
    /// so the caller can patch the offset once the subprogram is placed.
    pub fn ld_func(&mut self, reg: Reg) -> usize {
        let at = self.insns.len();
        let mut pair = insn::ld_imm64(reg, 0);
        pair[0].src = insn::BPF_PSEUDO_FUNC;
        self.emit_all(&pair);
        at
    }

    /// Resolve every jump; fails if an offset does not fit 16 bits.
    pub fn finish(mut self) -> Result<(Vec<Insn>, Vec<MapReloc>), EmitError> {
        let too_large = EmitError::TooLarge {
            insns: self.insns.len(),
        };
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0].ok_or_else(|| EmitError::InvalidIr {
                what: "a jump targets a block that was never placed".to_string(),
            })?;
            let off = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(off).map_err(|_| too_large.clone())?;
        }
        Ok((self.insns, self.relocs))
    }
}
