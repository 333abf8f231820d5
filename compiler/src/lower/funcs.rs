//! Lowering of the networking and side-effect functions: values built from
//! byte parts (`ntop`, `macaddr`, `pton`), byte swaps and kernel effects.

use super::{FnLower, Val};
use crate::ir::{Effect, Inst, Mem, Operand};
use crate::typed::{Part, PartSrc, TEffect, TExpr};
use rtrace_stdlib::types::Type;

impl FnLower<'_> {
    /// A zeroed buffer of `size` bytes with every part written into it.
    pub(super) fn build(&mut self, parts: &[Part], size: u32) -> Val {
        let mem = self.temp(size);
        self.emit(Inst::Zero {
            mem,
            len: rtrace_stdlib::types::round8(size).max(8),
        });
        for part in parts {
            self.write_part(mem.offset(part.at), &part.src);
        }
        Val::Mem(mem)
    }

    fn write_part(&mut self, dst: Mem, src: &PartSrc) {
        match src {
            PartSrc::Int { value, size } => {
                let v = self.scalar(value);
                self.emit(Inst::Store {
                    mem: dst,
                    src: Operand::Reg(v),
                    size: *size,
                });
            }
            PartSrc::DPath { addr, len } => {
                let addr = self.scalar(addr);
                self.emit(Inst::Effect(Effect::DPath {
                    addr,
                    dst,
                    len: *len,
                }));
            }
            PartSrc::Mem { addr, len, user } => {
                let a = self.scalar(addr);
                self.emit(Inst::Read {
                    dst,
                    len: *len,
                    addr: a,
                    user: *user,
                });
            }
            PartSrc::Copy { value, len } => {
                let v = self.value(value);
                self.store_into(dst, &Type::Bytes { len: *len }, v, &value.ty);
            }
            PartSrc::Buf {
                addr,
                count,
                cap,
                user,
            } => {
                let a = self.scalar(addr);
                let (addr, count) = self.scalar_after(a, count);
                self.emit(Inst::ReadBuf {
                    dst,
                    cap: *cap,
                    count,
                    addr,
                    user: *user,
                });
            }
            PartSrc::Ctx { off, len } => {
                let a = self.vreg();
                self.emit(Inst::CtxAddr { dst: a, off: *off });
                self.emit(Inst::Read {
                    dst,
                    len: *len,
                    addr: a,
                    user: false,
                });
            }
        }
    }

    pub(super) fn bswap(&mut self, e: &TExpr, bits: u8) -> Val {
        let src = self.scalar(e);
        let dst = self.vreg();
        self.emit(Inst::Bswap { dst, src, bits });
        Val::Scalar(dst)
    }

    pub(super) fn effect(&mut self, effect: &TEffect) {
        let inst = match effect {
            TEffect::Signal(sig) => {
                let sig = self.scalar(sig);
                Effect::Signal { sig }
            }
            TEffect::Override(rc) => {
                let rc = self.scalar(rc);
                let ctx = self.vreg();
                self.emit(Inst::CtxAddr { dst: ctx, off: 0 });
                Effect::Override { ctx, rc }
            }
            TEffect::Debugf { format, args } => {
                // Arguments first: each is spilled, so control flow in one
                // cannot lose another.
                let mut regs = [None; 3];
                let mut spills = Vec::new();
                for a in args.iter().take(3) {
                    let v = self.scalar(a);
                    let spill = self.temp(8);
                    self.store64(spill, v);
                    spills.push(spill);
                }
                let len = format.len() as u32 + 1;
                let fmt = self.temp(len);
                self.store_bytes(fmt, format, rtrace_stdlib::types::round8(len));
                for (reg, spill) in regs.iter_mut().zip(spills) {
                    *reg = Some(self.load64(spill));
                }
                Effect::TracePrintk {
                    fmt,
                    len,
                    args: regs,
                }
            }
        };
        self.emit(Inst::Effect(inst));
    }
}
