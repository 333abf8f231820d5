//! Map helpers (lookup, update, delete, in-place aggregation) and the ring buffer.

use super::{bad, Codegen, Src};
use crate::bpf::asm::Label;
use crate::bpf::insn::{self, helper, Alu, Jmp, Reg, Size, R0, R1, R10, R2, R3, R4};
use crate::bpf::EmitError;
use crate::ir::{AggOp, MapId, MapKind, MapSpec, Mem, Module, Operand, VReg, LOST_EVENTS_MAP};
use rtrace_stdlib::types::round8;

/// The per-CPU counter of records the ring buffer had no room for, if the module has one.
pub(super) fn lost_events_map(module: &Module) -> Option<MapId> {
    module
        .maps
        .iter()
        .position(|m| m.name == LOST_EVENTS_MAP && m.kind == MapKind::PerCpuArray)
        .map(|i| i as MapId)
}

pub(super) fn map_spec(module: &Module, map: MapId) -> Result<&MapSpec, EmitError> {
    module
        .maps
        .get(map as usize)
        .ok_or(EmitError::UnknownMap { map })
}

pub(super) fn is_array(kind: MapKind) -> bool {
    matches!(kind, MapKind::Array | MapKind::PerCpuArray)
}

impl Codegen<'_> {
    fn map(&self, map: MapId) -> Result<&MapSpec, EmitError> {
        let spec = map_spec(self.module, map)?;
        if spec.kind == MapKind::RingBuf {
            return bad(format!("map {map} is a ring buffer, not a key/value map"));
        }
        Ok(spec)
    }

    /// r2 = pointer to the key: the IR's key, or a zeroed scratch key for keyless maps.
    pub(super) fn key_arg(&mut self, map: MapId, key: Option<Mem>) -> Result<(), EmitError> {
        let key_size = self.map(map)?.key_size;
        let at = match key {
            Some(mem) => self.mem(mem, key_size)?,
            None => {
                let off = self.frame.scratch;
                self.zero_stack(off, key_size);
                (R10, off)
            }
        };
        self.addr_of(R2, at);
        Ok(())
    }

    /// Same key pointer again after a helper call clobbered r2 (already validated
    /// and, for keyless maps, already zeroed).
    fn key_arg_again(&mut self, key: Option<Mem>) {
        let at = match key {
            Some(mem) => self.frame.addr(mem),
            None => (R10, self.frame.scratch),
        };
        self.addr_of(R2, at);
    }

    fn lookup(&mut self, map: MapId, key: Option<Mem>) -> Result<(), EmitError> {
        self.key_arg(map, key)?;
        self.asm.ld_map(R1, map);
        self.asm.emit(insn::call(helper::MAP_LOOKUP_ELEM));
        Ok(())
    }

    pub(super) fn map_read(
        &mut self,
        map: MapId,
        key: Option<Mem>,
        dst: Mem,
        found: Option<VReg>,
    ) -> Result<(), EmitError> {
        let size = self.map(map)?.value_size;
        let dst = self.mem(dst, size)?;
        self.lookup(map, key)?;
        let (missing, done) = (self.asm.new_label(), self.asm.new_label());
        self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), missing);
        self.copy(dst, (R0, 0), size, R1);
        if let Some(f) = found {
            self.set_imm(f, 1);
        }
        self.asm.goto(done);
        self.asm.bind(missing);
        self.zero_at(dst, size);
        if let Some(f) = found {
            self.set_imm(f, 0);
        }
        self.asm.bind(done);
        Ok(())
    }

    /// The aggregated value after the lookup call (helpers clobbered r1–r5).
    fn agg_value(&mut self, val: Operand) -> Src {
        self.operand(val, R2)
    }

    pub(super) fn map_agg(
        &mut self,
        map: MapId,
        key: Option<Mem>,
        op: AggOp,
        val: Operand,
    ) -> Result<(), EmitError> {
        let spec = self.map(map)?;
        let kind = spec.kind;
        let needed = if op == AggOp::Count { 8 } else { 16 };
        if spec.value_size < needed {
            return bad(format!(
                "map {map} has {}-byte values, too small for {op:?}",
                spec.value_size
            ));
        }
        self.lookup(map, key)?;
        let (missing, done) = (self.asm.new_label(), self.asm.new_label());
        self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), missing);
        self.update_in_place(op, val, done);
        if is_array(kind) {
            // Array lookups cannot miss; the null check only satisfies the verifier.
            self.asm.bind(missing);
            self.asm.bind(done);
            return Ok(());
        }
        self.asm.goto(done);
        self.asm.bind(missing);
        self.insert_initial(map, key, op, val);
        self.asm.bind(done);
        Ok(())
    }

    /// r0 points at the value: apply `op` to it (per-CPU, so no atomics needed).
    fn update_in_place(&mut self, op: AggOp, val: Operand, done: Label) {
        let add = |cg: &mut Self, off: i16, src: Src| {
            cg.asm.emit(insn::ldx(Size::DW, R1, R0, off));
            cg.alu(Alu::Add, R1, src);
            cg.asm.emit(insn::stx(Size::DW, R0, off, R1));
        };
        match op {
            AggOp::Count => add(self, 0, Src::Imm(1)),
            AggOp::Add => {
                let v = self.agg_value(val);
                add(self, 0, v);
                add(self, 8, Src::Imm(1));
            }
            AggOp::Min | AggOp::Max => {
                // Materialise the value first: both paths below store it.
                let v = self.agg_value(val);
                let set = self.asm.new_label();
                self.asm.emit(insn::ldx(Size::DW, R1, R0, 8));
                self.asm.jump(insn::jmp_imm(Jmp::Eq, R1, 0, 0), set);
                self.asm.emit(insn::ldx(Size::DW, R1, R0, 0));
                // Keep the old value unless the new one is strictly better.
                let keep = if op == AggOp::Min { Jmp::SLe } else { Jmp::SGe };
                match v {
                    Src::Reg(r) => self.cond_jump(keep.swap(), r, Src::Reg(R1), done),
                    Src::Imm(_) => self.cond_jump(keep, R1, v, done),
                }
                self.asm.bind(set);
                self.store_value(R0, 0, v);
                self.asm.emit(insn::st(Size::DW, R0, 8, 1));
            }
        }
    }

    fn store_value(&mut self, base: Reg, off: i16, v: Src) {
        self.asm.emit(match v {
            Src::Reg(r) => insn::stx(Size::DW, base, off, r),
            Src::Imm(i) => insn::st(Size::DW, base, off, i),
        });
    }

    /// Missing hash entry: build the first value in scratch and insert it.
    fn insert_initial(&mut self, map: MapId, key: Option<Mem>, op: AggOp, val: Operand) {
        let key_bytes = if key.is_none() {
            round8(self.module.maps[map as usize].key_size)
        } else {
            0
        };
        let value = self.frame.scratch + key_bytes as i32;
        if op == AggOp::Count {
            self.asm.emit(insn::st(Size::DW, R10, value as i16, 1));
        } else {
            // Sum/avg/stats start at [val, 1]; min/max at [val, valid = 1].
            let v = self.agg_value(val);
            self.store_value(R10, value as i16, v);
            self.asm.emit(insn::st(Size::DW, R10, value as i16 + 8, 1));
        }
        self.asm.ld_map(R1, map);
        self.key_arg_again(key);
        self.stack_addr(R3, value);
        self.asm.emit(insn::mov64_imm(R4, 0)); // BPF_ANY
        self.asm.emit(insn::call(helper::MAP_UPDATE_ELEM));
    }

    pub(super) fn emit_record(&mut self, mem: Mem, len: u32) -> Result<(), EmitError> {
        let at = self.mem(mem, len)?;
        let ring = self
            .module
            .maps
            .iter()
            .position(|m| m.kind == MapKind::RingBuf)
            .ok_or(EmitError::NoRingBuffer)?;
        self.asm.ld_map(R1, ring as MapId);
        self.addr_of(R2, at);
        self.load_const(R3, i64::from(len));
        self.asm.emit(insn::mov64_imm(R4, 0));
        self.asm.emit(insn::call(helper::RINGBUF_OUTPUT));
        // A full ring buffer drops the record: count it so user space can say so.
        if let Some(lost) = lost_events_map(self.module) {
            let done = self.asm.new_label();
            self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), done);
            self.lookup(lost, None)?;
            self.asm.jump(insn::jmp_imm(Jmp::Eq, R0, 0, 0), done);
            self.update_in_place(AggOp::Count, Operand::Imm(0), done);
            self.asm.bind(done);
        }
        Ok(())
    }

    pub(super) fn map_write(
        &mut self,
        map: MapId,
        key: Option<Mem>,
        src: Mem,
    ) -> Result<(), EmitError> {
        let spec = self.map(map)?;
        let value = self.mem(src, spec.value_size)?;
        self.asm.ld_map(R1, map);
        self.key_arg(map, key)?;
        self.addr_of(R3, value);
        self.asm.emit(insn::mov64_imm(R4, 0)); // BPF_ANY
        self.asm.emit(insn::call(helper::MAP_UPDATE_ELEM));
        Ok(())
    }

    pub(super) fn map_delete(&mut self, map: MapId, key: Option<Mem>) -> Result<(), EmitError> {
        self.map(map)?;
        self.asm.ld_map(R1, map);
        self.key_arg(map, key)?;
        self.asm.emit(insn::call(helper::MAP_DELETE_ELEM));
        Ok(())
    }
}
