//! Counting map inserts the kernel refused (a full map), per script map, so user
//! space can warn instead of silently losing keys.

use super::Codegen;
use crate::bpf::insn::{self, helper, Alu, Jmp, Size, R0, R1, R10, R2};
use crate::ir::{MapId, Module};
use crate::lower::internal_maps::DROPPED_UPDATES_MAP;

/// The dropped-updates counter map, if the module has one.
pub(super) fn dropped_map(module: &Module) -> Option<MapId> {
    module
        .maps
        .iter()
        .position(|m| m.name == DROPPED_UPDATES_MAP)
        .map(|i| i as MapId)
}

impl Codegen<'_> {
    /// Right after a `map_update_elem` call on `map`: if it failed (r0 != 0),
    /// add one to the map's counter. Uses the first 8 scratch bytes for the index.
    pub(super) fn count_dropped_update(&mut self, map: MapId) {
        let Some(counters) = dropped_map(self.module) else {
            return;
        };
        if map >= self.module.maps[counters as usize].max_entries {
            return;
        }
        let done = self.asm.new_label();
        self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), done);
        let key = self.frame.scratch;
        self.asm
            .emit(insn::st(Size::W, R10, key as i16, map as i32));
        self.stack_addr(R2, key);
        self.asm.ld_map(R1, counters);
        self.asm.emit(insn::call(helper::MAP_LOOKUP_ELEM));
        self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), done);
        self.asm.emit(insn::ldx(Size::DW, R1, R0, 0));
        self.asm.emit(insn::alu64_imm(Alu::Add, R1, 1));
        self.asm.emit(insn::stx(Size::DW, R0, 0, R1));
        self.asm.bind(done);
    }
}
