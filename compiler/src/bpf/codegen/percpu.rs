//! Reading one CPU's copy of a per-CPU map entry (`bpf_map_lookup_percpu_elem`),
//! which lets a kernel probe sum an aggregation over all CPUs.

use super::Codegen;
use crate::bpf::insn::{self, helper, Jmp, R0, R1, R3};
use crate::bpf::EmitError;
use crate::ir::{MapId, Mem, VReg};

impl Codegen<'_> {
    pub(super) fn map_read_cpu(
        &mut self,
        map: MapId,
        key: Option<Mem>,
        cpu: VReg,
        dst: Mem,
        found: VReg,
    ) -> Result<(), EmitError> {
        let size = super::maps::map_spec(self.module, map)?.value_size;
        let dst = self.mem(dst, size)?;
        self.key_arg(map, key)?;
        self.read_into(cpu, R3);
        self.asm.ld_map(R1, map);
        self.asm.emit(insn::call(helper::MAP_LOOKUP_PERCPU_ELEM));
        let (missing, done) = (self.asm.new_label(), self.asm.new_label());
        self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), missing);
        self.copy(dst, (R0, 0), size, R1);
        self.set_imm(found, 1);
        self.asm.goto(done);
        self.asm.bind(missing);
        self.zero_at(dst, size);
        self.set_imm(found, 0);
        self.asm.bind(done);
        Ok(())
    }
}
