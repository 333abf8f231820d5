//! Scalar, memory, context, builtin and string instructions.

use super::{bad, ctx_direct_ok, fits_i32, Codegen, Src};
use crate::bpf::insn::{self, helper, Alu, Jmp, Reg, Size, R0, R1, R10, R2, R3, R4, R5};
use crate::bpf::EmitError;
use crate::ir::{BinOp, Builtin, Cond, Mem, Operand, VReg};

impl Codegen<'_> {
    pub(super) fn mov(&mut self, dst: VReg, src: VReg) {
        if self.loc(dst) == self.loc(src) {
            return;
        }
        let r = self.read(src, R0);
        self.write_back(dst, r);
    }

    pub(super) fn unary(&mut self, dst: VReg, src: VReg, op: fn(Reg) -> insn::Insn) {
        let rs = self.read(src, R1);
        let t = self.def_reg(dst, R0);
        if t != rs {
            self.asm.emit(insn::mov64_reg(t, rs));
        }
        self.asm.emit(op(t));
        self.write_back(dst, t);
    }

    pub(super) fn bin(&mut self, dst: VReg, op: BinOp, a: VReg, b: Operand) {
        let alu = alu_of(op);
        if let Operand::Imm(i) = b {
            match (op, i) {
                // eBPF: x / 0 = 0 and x % 0 = x; the verifier rejects a constant 0 divisor.
                (BinOp::UDiv | BinOp::SDiv, 0) => return self.set_imm(dst, 0),
                (BinOp::URem | BinOp::SRem, 0) => return self.mov(dst, a),
                (BinOp::Add | BinOp::Sub | BinOp::Or | BinOp::Xor, 0) | (BinOp::Mul, 1) => {
                    return self.mov(dst, a)
                }
                (BinOp::Shl | BinOp::LShr | BinOp::AShr, _) if i & 63 == 0 => {
                    return self.mov(dst, a)
                }
                (BinOp::And, 0xffff_ffff) => {
                    let ra = self.read(a, R1);
                    let t = self.def_reg(dst, R0);
                    self.asm.emit(insn::mov32_reg(t, ra));
                    return self.write_back(dst, t);
                }
                _ => {}
            }
        }
        if matches!(op, BinOp::SDiv | BinOp::SRem) {
            return self.signed_div(dst, op, a, b);
        }
        let b = match (op, b) {
            // Shift amounts are modulo 64 (the verifier rejects immediates ≥ 64).
            (BinOp::Shl | BinOp::LShr | BinOp::AShr, Operand::Imm(i)) => Operand::Imm(i & 63),
            _ => b,
        };
        let ra = self.read(a, R1);
        let src = self.operand(b, R2);
        let t = self.def_reg(dst, R0);
        if t == ra {
            self.alu(alu, t, src);
            self.write_back(dst, t);
        } else if src == Src::Reg(t) {
            if alu.is_commutative() {
                self.alu(alu, t, Src::Reg(ra));
                self.write_back(dst, t);
            } else {
                self.asm.emit(insn::mov64_reg(R0, ra));
                self.alu(alu, R0, src);
                self.write_back(dst, R0);
            }
        } else {
            self.asm.emit(insn::mov64_reg(t, ra));
            self.alu(alu, t, src);
            self.write_back(dst, t);
        }
    }

    pub(super) fn cmp(&mut self, dst: VReg, cond: Cond, a: VReg, b: Operand) {
        let ra = self.read(a, R1);
        let src = self.operand(b, R2);
        let home = self.def_reg(dst, R0);
        let t = if home == ra || src == Src::Reg(home) {
            R0
        } else {
            home
        };
        let skip = self.asm.new_label();
        self.asm.emit(insn::mov64_imm(t, 1));
        self.cond_jump(jmp_of(cond), ra, src, skip);
        self.asm.emit(insn::mov64_imm(t, 0));
        self.asm.bind(skip);
        self.write_back(dst, t);
    }

    /// Signed division and remainder from unsigned ones, so the program loads on
    /// kernels older than 6.6 (no `sdiv`/`smod`): |a| / |b| with the sign fixed
    /// up after. By zero this gives 0 and `a`, and MIN / -1 wraps, as eBPF defines.
    fn signed_div(&mut self, dst: VReg, op: BinOp, a: VReg, b: Operand) {
        let ra = self.read(a, R1);
        match self.operand(b, R2) {
            Src::Imm(i) => self.asm.emit(insn::mov64_imm(R2, i)),
            Src::Reg(r) if r != R2 => self.asm.emit(insn::mov64_reg(R2, r)),
            Src::Reg(_) => {}
        }
        let abs = |cg: &mut Self, v: Reg, sign: Reg| {
            cg.asm.emit(insn::mov64_reg(sign, v));
            cg.asm.emit(insn::alu64_imm(Alu::Arsh, sign, 63));
            cg.asm.emit(insn::alu64_reg(Alu::Xor, v, sign));
            cg.asm.emit(insn::alu64_reg(Alu::Sub, v, sign));
        };
        self.asm.emit(insn::mov64_reg(R4, ra));
        abs(self, R4, R3); // r4 = |a|, r3 = sign of a
        abs(self, R2, R5); // r2 = |b|, r5 = sign of b
        if op == BinOp::SDiv {
            self.asm.emit(insn::alu64_reg(Alu::Div, R4, R2));
            self.asm.emit(insn::alu64_reg(Alu::Xor, R3, R5)); // quotient sign
        } else {
            self.asm.emit(insn::alu64_reg(Alu::Mod, R4, R2)); // remainder takes a's sign
        }
        self.asm.emit(insn::alu64_reg(Alu::Xor, R4, R3));
        self.asm.emit(insn::alu64_reg(Alu::Sub, R4, R3));
        let t = self.def_reg(dst, R0);
        self.asm.emit(insn::mov64_reg(t, R4));
        self.write_back(dst, t);
    }

    /// Sign-extend the low `bits` of `rs` into `t` with two shifts (`movsx` needs 6.6+).
    fn sign_extend(&mut self, t: Reg, rs: Reg, bits: u8) {
        if t != rs {
            self.asm.emit(insn::mov64_reg(t, rs));
        }
        let shift = 64 - i32::from(bits);
        self.asm.emit(insn::alu64_imm(Alu::Lsh, t, shift));
        self.asm.emit(insn::alu64_imm(Alu::Arsh, t, shift));
    }

    pub(super) fn ext(&mut self, dst: VReg, src: VReg, bits: u8, signed: bool) {
        let rs = self.read(src, R1);
        let t = self.def_reg(dst, R0);
        match (bits, signed) {
            (8 | 16 | 32, true) => self.sign_extend(t, rs, bits),
            (32, false) => self.asm.emit(insn::mov32_reg(t, rs)),
            (8 | 16, false) => {
                if t != rs {
                    self.asm.emit(insn::mov64_reg(t, rs));
                }
                let mask = (1i32 << bits) - 1;
                self.asm.emit(insn::alu64_imm(Alu::And, t, mask));
            }
            (b, _) if b == 0 || b >= 64 => {
                if t != rs {
                    self.asm.emit(insn::mov64_reg(t, rs));
                }
            }
            (b, signed) => {
                // Any other width: shift the field to the top and back down.
                let shift = i32::from(64 - b);
                if t != rs {
                    self.asm.emit(insn::mov64_reg(t, rs));
                }
                self.asm.emit(insn::alu64_imm(Alu::Lsh, t, shift));
                let down = if signed { Alu::Arsh } else { Alu::Rsh };
                self.asm.emit(insn::alu64_imm(down, t, shift));
            }
        }
        self.write_back(dst, t);
    }

    pub(super) fn access_size(&self, size: u8) -> Result<Size, EmitError> {
        match size {
            1 | 2 | 4 | 8 => Ok(Size::from_bytes(u32::from(size))),
            _ => bad(format!(
                "{}: access size {size} is not 1, 2, 4 or 8",
                self.func.name
            )),
        }
    }

    pub(super) fn load(
        &mut self,
        dst: VReg,
        mem: Mem,
        size: u8,
        signed: bool,
    ) -> Result<(), EmitError> {
        let sz = self.access_size(size)?;
        let (base, off) = self.mem(mem, u32::from(size))?;
        let off = off as i16;
        let t = self.def_reg(dst, R0);
        self.asm.emit(if signed && size < 8 {
            insn::ldxsx(sz, t, base, off)
        } else {
            insn::ldx(sz, t, base, off)
        });
        self.write_back(dst, t);
        Ok(())
    }

    pub(super) fn store(&mut self, mem: Mem, src: Operand, size: u8) -> Result<(), EmitError> {
        let sz = self.access_size(size)?;
        let (base, off) = self.mem(mem, u32::from(size))?;
        let off = off as i16;
        match src {
            // Narrow stores keep the low bits of the (truncated) immediate.
            Operand::Imm(i) if size < 8 || fits_i32(i) => {
                self.asm.emit(insn::st(sz, base, off, i as i32))
            }
            _ => {
                let Src::Reg(r) = self.operand(src, R1) else {
                    unreachable!("a 64-bit immediate is materialised in a register");
                };
                self.asm.emit(insn::stx(sz, base, off, r));
            }
        }
        Ok(())
    }

    pub(super) fn ctx_load(
        &mut self,
        dst: VReg,
        off: u32,
        size: u8,
        signed: bool,
    ) -> Result<(), EmitError> {
        let sz = self.access_size(size)?;
        let Ok(off) = i16::try_from(off) else {
            return bad(format!(
                "{}: context offset {off} is too large",
                self.func.name
            ));
        };
        if !ctx_direct_ok(&self.func.context, off as u32, size) {
            return self.ctx_load_indirect(dst, off, sz, signed);
        }
        let ctx = self.read(self.live.ctx_var, R1);
        let t = self.def_reg(dst, R0);
        self.asm.emit(insn::ldx(sz, t, ctx, off));
        if signed && size < 8 {
            // Sign-extending loads are not allowed on the context.
            self.sign_extend(t, t, size * 8);
        }
        self.write_back(dst, t);
        Ok(())
    }

    /// A context field the verifier will not let us load directly: copy it to
    /// scratch with `bpf_probe_read_kernel` (zero on fault), then load it.
    pub(super) fn ctx_load_indirect(
        &mut self,
        dst: VReg,
        off: i16,
        size: Size,
        signed: bool,
    ) -> Result<(), EmitError> {
        self.read_into(self.live.ctx_var, R3);
        if off != 0 {
            self.asm.emit(insn::alu64_imm(Alu::Add, R3, i32::from(off)));
        }
        let scratch = self.frame.scratch;
        self.stack_addr(R1, scratch);
        self.asm.emit(insn::mov64_imm(R2, size.bytes() as i32));
        self.asm.emit(insn::call(helper::PROBE_READ_KERNEL));
        let t = self.def_reg(dst, R0);
        self.asm.emit(if signed && size != Size::DW {
            insn::ldxsx(size, t, R10, scratch as i16)
        } else {
            insn::ldx(size, t, R10, scratch as i16)
        });
        self.write_back(dst, t);
        Ok(())
    }

    pub(super) fn ctx_addr(&mut self, dst: VReg, off: u32) -> Result<(), EmitError> {
        let Ok(off) = i32::try_from(off) else {
            return bad(format!(
                "{}: context offset {off} is too large",
                self.func.name
            ));
        };
        let ctx = self.read(self.live.ctx_var, R1);
        let t = self.def_reg(dst, R0);
        if t != ctx {
            self.asm.emit(insn::mov64_reg(t, ctx));
        }
        if off != 0 {
            self.asm.emit(insn::alu64_imm(Alu::Add, t, off));
        }
        self.write_back(dst, t);
        Ok(())
    }

    pub(super) fn probe_read(
        &mut self,
        dst: Mem,
        len: u32,
        addr: VReg,
        user: bool,
        string: bool,
    ) -> Result<(), EmitError> {
        let at = self.mem(dst, len)?;
        if len == 0 {
            return Ok(());
        }
        if string {
            // The helper stops at the NUL; clear the rest so equal strings hash equal.
            self.zero_at(at, len);
        }
        let helper = match (user, string) {
            (false, false) => helper::PROBE_READ_KERNEL,
            (true, false) => helper::PROBE_READ_USER,
            (false, true) => helper::PROBE_READ_KERNEL_STR,
            (true, true) => helper::PROBE_READ_USER_STR,
        };
        self.read_into(addr, R3);
        self.addr_of(R1, at);
        self.load_const(R2, i64::from(len));
        self.asm.emit(insn::call(helper));
        Ok(())
    }

    pub(super) fn builtin(&mut self, dst: VReg, which: Builtin) {
        let id = match which {
            Builtin::Pid | Builtin::Tid => helper::GET_CURRENT_PID_TGID,
            Builtin::Uid | Builtin::Gid => helper::GET_CURRENT_UID_GID,
            Builtin::Nsecs | Builtin::Elapsed => helper::KTIME_GET_NS,
            Builtin::Cpu => helper::GET_SMP_PROCESSOR_ID,
            Builtin::Rand => helper::GET_PRANDOM_U32,
            Builtin::Cgroup => helper::GET_CURRENT_CGROUP_ID,
            Builtin::CurTask => helper::GET_CURRENT_TASK,
            Builtin::AttachCookie => helper::GET_ATTACH_COOKIE,
            Builtin::FuncIp => helper::GET_FUNC_IP,
            Builtin::NumaId => helper::GET_NUMA_NODE_ID,
        };
        if matches!(which, Builtin::AttachCookie | Builtin::FuncIp) {
            self.read_into(self.live.ctx_var, R1);
        }
        self.asm.emit(insn::call(id));
        match which {
            // Low halves: a 32-bit move zero-extends.
            Builtin::Tid | Builtin::Uid => {
                let t = self.def_reg(dst, R0);
                self.asm.emit(insn::mov32_reg(t, R0));
                return self.write_back(dst, t);
            }
            Builtin::Pid | Builtin::Gid => self.asm.emit(insn::alu64_imm(Alu::Rsh, R0, 32)),
            Builtin::Elapsed => {
                let start = self.opts.start_ns as i64;
                if fits_i32(start) {
                    self.asm.emit(insn::alu64_imm(Alu::Sub, R0, start as i32));
                } else {
                    self.load_const(R1, start);
                    self.asm.emit(insn::alu64_reg(Alu::Sub, R0, R1));
                }
            }
            _ => {}
        }
        self.write_back(dst, R0);
    }

    /// Byte compare that stops at the first difference or the first NUL.
    pub(super) fn str_eq(&mut self, dst: VReg, a: Mem, b: Mem, len: u32) -> Result<(), EmitError> {
        let a = self.mem(a, len)?;
        let b = self.mem(b, len)?;
        if len == 0 {
            self.set_imm(dst, 1);
            return Ok(());
        }
        let (equal, differ, done) = (
            self.asm.new_label(),
            self.asm.new_label(),
            self.asm.new_label(),
        );
        for i in 0..len as i32 {
            self.asm.emit(insn::ldx(Size::B, R1, a.0, (a.1 + i) as i16));
            self.asm.emit(insn::ldx(Size::B, R2, b.0, (b.1 + i) as i16));
            self.asm.jump(insn::jmp_reg(Jmp::Ne, R1, R2, 0), differ);
            if i + 1 < len as i32 {
                self.asm.jump(insn::jmp_imm(Jmp::Eq, R1, 0, 0), equal);
            }
        }
        let t = self.def_reg(dst, R0);
        self.asm.bind(equal);
        self.asm.emit(insn::mov64_imm(t, 1));
        self.asm.goto(done);
        self.asm.bind(differ);
        self.asm.emit(insn::mov64_imm(t, 0));
        self.asm.bind(done);
        self.write_back(dst, t);
        Ok(())
    }

    /// The current task's comm, 16 bytes NUL-padded by the helper.
    pub(super) fn comm(&mut self, dst: Mem) -> Result<(), EmitError> {
        let at = self.mem(dst, 16)?;
        self.addr_of(R1, at);
        self.asm.emit(insn::mov64_imm(R2, 16));
        self.asm.emit(insn::call(helper::GET_CURRENT_COMM));
        Ok(())
    }
}

pub(super) fn alu_of(op: BinOp) -> Alu {
    match op {
        BinOp::Add => Alu::Add,
        BinOp::Sub => Alu::Sub,
        BinOp::Mul => Alu::Mul,
        BinOp::UDiv => Alu::Div,
        BinOp::SDiv => Alu::SDiv,
        BinOp::URem => Alu::Mod,
        BinOp::SRem => Alu::SMod,
        BinOp::And => Alu::And,
        BinOp::Or => Alu::Or,
        BinOp::Xor => Alu::Xor,
        BinOp::Shl => Alu::Lsh,
        BinOp::LShr => Alu::Rsh,
        BinOp::AShr => Alu::Arsh,
    }
}

pub(super) fn jmp_of(cond: Cond) -> Jmp {
    match cond {
        Cond::Eq => Jmp::Eq,
        Cond::Ne => Jmp::Ne,
        Cond::ULt => Jmp::Lt,
        Cond::ULe => Jmp::Le,
        Cond::UGt => Jmp::Gt,
        Cond::UGe => Jmp::Ge,
        Cond::SLt => Jmp::SLt,
        Cond::SLe => Jmp::SLe,
        Cond::SGt => Jmp::SGt,
        Cond::SGe => Jmp::SGe,
    }
}
