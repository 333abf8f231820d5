//! `kstack` / `ustack`: the id of the current stack in a stack-trace map.

use super::{bad, Codegen};
use crate::bpf::insn::{self, helper, R0, R1};
use crate::bpf::EmitError;
use crate::ir::{MapId, MapKind, VReg};

/// `BPF_F_USER_STACK`: walk the user stack instead of the kernel's.
const BPF_F_USER_STACK: i32 = 1 << 8;

impl Codegen<'_> {
    /// `dst = bpf_get_stackid(ctx, map, flags)` (negative on error).
    pub(super) fn stack_id(&mut self, dst: VReg, map: MapId, user: bool) -> Result<(), EmitError> {
        let kind = super::maps::map_spec(self.module, map)?.kind;
        if !matches!(kind, MapKind::StackTrace | MapKind::StackTraceBuildId) {
            return bad(format!("map {map} is not a stack trace map"));
        }
        let ctx = self.read(self.live.ctx_var, R1);
        if ctx != R1 {
            self.asm.emit(insn::mov64_reg(R1, ctx));
        }
        self.asm.ld_map(insn::R2, map);
        let flags = if user { BPF_F_USER_STACK } else { 0 };
        self.asm.emit(insn::mov64_imm(insn::R3, flags));
        self.asm.emit(insn::call(helper::GET_STACKID));
        self.write_back(dst, R0);
        Ok(())
    }
}
