//! Prologue of a function whose big slots live in the scratch map.

use super::{Codegen, SCRATCH_BASE};
use crate::bpf::insn::{self, helper, Jmp, Size, R0, R1, R10, R2};

impl Codegen<'_> {
    /// `SCRATCH_BASE` = &scratch[0]; a failed lookup (impossible for an array
    /// with one entry, but the verifier insists) ends the program.
    pub(super) fn load_scratch_base(&mut self, map: u32) {
        let key = self.frame.scratch;
        self.asm.emit(insn::st(Size::W, R10, key as i16, 0));
        self.stack_addr(R2, key);
        self.asm.ld_map(R1, map);
        self.asm.emit(insn::call(helper::MAP_LOOKUP_ELEM));
        let found = self.asm.new_label();
        self.asm.jump(insn::jmp_imm(Jmp::Ne, R0, 0, 0), found);
        self.asm.emit(insn::exit());
        self.asm.bind(found);
        self.asm.emit(insn::mov64_reg(SCRATCH_BASE, R0));
    }
}
