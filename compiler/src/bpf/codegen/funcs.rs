//! Byte swaps and the side-effect helpers (`signal`, `override`, `debugf`).

use super::Codegen;
use crate::bpf::insn::{self, helper, R0, R1, R2, R3, R4, R5};
use crate::bpf::EmitError;
use crate::ir::{Effect, VReg};

impl Codegen<'_> {
    pub(super) fn bswap(&mut self, dst: VReg, src: VReg, bits: u8) {
        let rs = self.read(src, R1);
        let t = self.def_reg(dst, R0);
        if t != rs {
            self.asm.emit(insn::mov64_reg(t, rs));
        }
        self.asm.emit(insn::bswap(t, bits));
        self.write_back(dst, t);
    }

    pub(super) fn effect(&mut self, effect: Effect) -> Result<(), EmitError> {
        match effect {
            Effect::Signal { sig } => {
                self.read_into(sig, R1);
                self.asm.emit(insn::call(helper::SEND_SIGNAL));
            }
            Effect::Override { ctx, rc } => {
                self.read_into(rc, R2);
                self.read_into(ctx, R1);
                self.asm.emit(insn::call(helper::OVERRIDE_RETURN));
            }
            Effect::TracePrintk { fmt, len, args } => {
                let off = self.mem(fmt, len)?;
                for (arg, reg) in args.iter().zip([R3, R4, R5]) {
                    if let Some(a) = arg {
                        self.read_into(*a, reg);
                    }
                }
                self.addr_of(R1, off);
                self.load_const(R2, i64::from(len));
                self.asm.emit(insn::call(helper::TRACE_PRINTK));
            }
            Effect::DPath { addr, dst, len } => {
                let at = self.mem(dst, len)?;
                self.read_into(addr, R1);
                self.addr_of(R2, at);
                self.load_const(R3, i64::from(len));
                self.asm.emit(insn::call(helper::D_PATH));
            }
        }
        Ok(())
    }
}
