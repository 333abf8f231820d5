//! Checks an IR function before JIT compilation.
//!
//! Compiled code accesses stack slots without bounds checks and hands slot
//! pointers to the host trampolines, so every memory range, register, block and
//! map reference is proven in range here first. Malformed IR then becomes a
//! `JitError` instead of memory corruption.

use crate::ir::{Function, Inst, Mem, Module, Operand, Term, VReg};

/// Why a function cannot be compiled, as a sentence fragment.
pub(crate) type Problem = String;

/// Most stack bytes a compiled block may use: far below any thread's stack.
const MAX_FRAME_BYTES: u64 = 256 * 1024;

pub(crate) fn function(module: &Module, func: &Function) -> Result<(), Problem> {
    if func.blocks.is_empty() {
        return Err("it has no blocks".into());
    }
    let frame: u64 = func.slots.iter().map(|s| u64::from(s.size)).sum();
    if frame > MAX_FRAME_BYTES {
        return Err(format!(
            "its slots need {frame} bytes of stack, more than the {MAX_FRAME_BYTES} allowed"
        ));
    }
    let check = Checker { module, func };
    for (index, block) in func.blocks.iter().enumerate() {
        for inst in &block.insts {
            check
                .inst(inst)
                .map_err(|p| format!("in block b{index}, {p} ({inst:?})"))?;
        }
        check
            .term(&block.term)
            .map_err(|p| format!("in block b{index}, {p} ({:?})", block.term))?;
    }
    Ok(())
}

struct Checker<'a> {
    module: &'a Module,
    func: &'a Function,
}

impl Checker<'_> {
    fn inst(&self, inst: &Inst) -> Result<(), Problem> {
        match inst {
            Inst::Const { dst, .. }
            | Inst::CtxAddr { dst, .. }
            | Inst::Builtin { dst, .. }
            | Inst::StackId { dst, .. } => self.reg(*dst),
            Inst::Mov { dst, src } | Inst::Neg { dst, src } | Inst::Not { dst, src } => {
                self.regs(&[*dst, *src])
            }
            Inst::Bin { dst, a, b, .. } | Inst::Cmp { dst, a, b, .. } => {
                self.regs(&[*dst, *a])?;
                self.operand(*b)
            }
            Inst::Ext { dst, src, bits, .. } => {
                self.regs(&[*dst, *src])?;
                match bits {
                    8 | 16 | 32 | 64 => Ok(()),
                    _ => Err(format!("cannot extend from {bits} bits")),
                }
            }
            Inst::Load { dst, mem, size, .. } => {
                self.reg(*dst)?;
                access_size(*size)?;
                self.mem(*mem, u32::from(*size))
            }
            Inst::Store { mem, src, size } => {
                self.operand(*src)?;
                access_size(*size)?;
                self.mem(*mem, u32::from(*size))
            }
            Inst::CtxLoad { dst, size, .. } => {
                self.reg(*dst)?;
                access_size(*size)
            }
            Inst::Zero { mem, len } => self.mem(*mem, *len),
            Inst::Copy { dst, src, len } => {
                self.mem(*dst, *len)?;
                self.mem(*src, *len)
            }
            Inst::Read { dst, len, addr, .. } | Inst::ReadStr { dst, len, addr, .. } => {
                self.reg(*addr)?;
                self.mem(*dst, *len)
            }
            Inst::Comm { dst } => self.mem(*dst, 16),
            Inst::ReadBuf {
                dst,
                cap,
                count,
                addr,
                ..
            } => {
                self.reg(*count)?;
                self.reg(*addr)?;
                self.mem(*dst, rtrace_stdlib::types::BUF_DATA + cap)
            }
            Inst::StrEq { dst, a, b, len } => {
                self.reg(*dst)?;
                self.mem(*a, *len)?;
                self.mem(*b, *len)
            }
            Inst::MapRead {
                map,
                key,
                dst,
                found,
            } => {
                if let Some(found) = found {
                    self.reg(*found)?;
                }
                let (key_size, value_size) = self.map(*map)?;
                self.key(*key, key_size)?;
                self.mem(*dst, value_size)?;
                match key {
                    Some(k) if overlap(*k, key_size, *dst, value_size) => {
                        Err("the key and the destination overlap".into())
                    }
                    _ => Ok(()),
                }
            }
            Inst::MapWrite { map, key, src } => {
                let (key_size, value_size) = self.map(*map)?;
                self.key(*key, key_size)?;
                self.mem(*src, value_size)
            }
            Inst::MapAgg { map, key, val, .. } => {
                self.operand(*val)?;
                let (key_size, _) = self.map(*map)?;
                self.key(*key, key_size)
            }
            Inst::MapDelete { map, key } => {
                let (key_size, _) = self.map(*map)?;
                self.key(*key, key_size)
            }
            Inst::Emit { mem, len } => self.mem(*mem, *len),
            Inst::MapEntry {
                map,
                index,
                key,
                value,
                found,
                ..
            } => {
                self.regs(&[*index, *found])?;
                let (key_size, value_size) = self.map(*map)?;
                self.mem(*key, key_size)?;
                self.mem(*value, value_size)?;
                if overlap(*key, key_size, *value, value_size) {
                    return Err("the key and the value buffers overlap".into());
                }
                Ok(())
            }
            Inst::MapLen { map, dst } => {
                self.reg(*dst)?;
                self.map(*map).map(|_| ())
            }
            Inst::MapReadCpu { .. } => Err("per-CPU reads exist only in kernel programs".into()),
            Inst::MapForEach { .. } => {
                Err("bpf_for_each_map_elem exists only in kernel programs".into())
            }
            Inst::Bswap { dst, src, bits } => {
                self.regs(&[*dst, *src])?;
                match bits {
                    16 | 32 | 64 => Ok(()),
                    _ => Err(format!("cannot swap the bytes of {bits} bits")),
                }
            }
            Inst::Effect(_) => Err("a kernel-only helper cannot run in user space".into()),
        }
    }

    fn term(&self, term: &Term) -> Result<(), Problem> {
        match term {
            Term::Jump(target) => self.block(*target),
            Term::Branch { cond, then, els } => {
                self.reg(*cond)?;
                self.block(*then)?;
                self.block(*els)
            }
            Term::Return => Ok(()),
        }
    }

    fn reg(&self, reg: VReg) -> Result<(), Problem> {
        if reg < self.func.num_vregs {
            Ok(())
        } else {
            Err(format!(
                "register v{reg} is out of range (the function declares {})",
                self.func.num_vregs
            ))
        }
    }

    fn regs(&self, regs: &[VReg]) -> Result<(), Problem> {
        regs.iter().try_for_each(|r| self.reg(*r))
    }

    fn operand(&self, op: Operand) -> Result<(), Problem> {
        match op {
            Operand::Reg(r) => self.reg(r),
            Operand::Imm(_) => Ok(()),
        }
    }

    fn block(&self, id: u32) -> Result<(), Problem> {
        if (id as usize) < self.func.blocks.len() {
            Ok(())
        } else {
            Err(format!("block b{id} does not exist"))
        }
    }

    /// `len` bytes from `mem` must lie inside the slot.
    fn mem(&self, mem: Mem, len: u32) -> Result<(), Problem> {
        let slot = self
            .func
            .slots
            .get(mem.slot as usize)
            .ok_or_else(|| format!("slot s{} does not exist", mem.slot))?;
        if u64::from(mem.off) + u64::from(len) <= u64::from(slot.size) {
            Ok(())
        } else {
            Err(format!(
                "{len} bytes at offset {} overflow slot s{} of {} bytes",
                mem.off, mem.slot, slot.size
            ))
        }
    }

    fn key(&self, key: Option<Mem>, key_size: u32) -> Result<(), Problem> {
        key.map_or(Ok(()), |k| self.mem(k, key_size))
    }

    /// The map's (key size, value size).
    fn map(&self, map: u32) -> Result<(u32, u32), Problem> {
        self.module
            .maps
            .get(map as usize)
            .map(|m| (m.key_size, m.value_size))
            .ok_or_else(|| format!("map {map} does not exist"))
    }
}

fn access_size(size: u8) -> Result<(), Problem> {
    match size {
        1 | 2 | 4 | 8 => Ok(()),
        _ => Err(format!("cannot access {size} bytes at once")),
    }
}

fn overlap(a: Mem, a_len: u32, b: Mem, b_len: u32) -> bool {
    let (a0, b0) = (u64::from(a.off), u64::from(b.off));
    a.slot == b.slot && a0 < b0 + u64::from(b_len) && b0 < a0 + u64::from(a_len)
}
