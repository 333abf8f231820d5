//! `buf(p, n)`: a bounded read of a runtime number of bytes.

use super::Codegen;
use crate::bpf::insn::{self, helper, Jmp, Size, R1, R2, R3};
use crate::bpf::EmitError;
use crate::ir::{Mem, VReg};
use rtrace_stdlib::types::BUF_DATA;

impl Codegen<'_> {
    /// Store `min(count, cap)` at `dst` and read that many bytes after it. The
    /// clip is a compare on the very register passed as the size, so the
    /// verifier knows the read stays within the `cap` bytes of room.
    pub(super) fn read_buf(
        &mut self,
        dst: Mem,
        cap: u32,
        count: VReg,
        addr: VReg,
        user: bool,
    ) -> Result<(), EmitError> {
        let (base, off) = self.mem(dst, BUF_DATA + cap)?;
        let cap = cap as i32;
        self.read_into(count, R2);
        self.asm.emit(insn::jmp_imm(Jmp::Le, R2, cap, 1));
        self.asm.emit(insn::mov64_imm(R2, cap));
        self.asm.emit(insn::stx(Size::DW, base, off as i16, R2));
        self.read_into(addr, R3);
        self.addr_of(R1, (base, off + BUF_DATA as i32));
        let helper = if user {
            helper::PROBE_READ_USER
        } else {
            helper::PROBE_READ_KERNEL
        };
        self.asm.emit(insn::call(helper));
        Ok(())
    }
}
