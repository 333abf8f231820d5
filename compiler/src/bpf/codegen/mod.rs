//! Instruction selection: each IR instruction expands to a short eBPF sequence.
//!
//! Conventions inside one expansion: IR values live where the allocator put them
//! (r6–r9 or a spill slot); r0–r5 are free scratch; r1 holds the context only at
//! entry, where the prologue moves it to the context variable's home.
//!
//! This module holds the driver (allocation, frame, block layout, terminators)
//! and the location helpers; [`scalar`] selects ALU, memory, context, builtin and
//! string instructions, [`maps`] the map helpers and the ring buffer.

mod buf;
mod foreach;
mod funcs;
mod maps;
mod percpu;
mod scalar;
mod scratch;
mod stacks;

use maps::{is_array, map_spec};
use scalar::jmp_of;

use super::asm::{Asm, Label};
use super::frame::Frame;
use super::insn::{self, Alu, Jmp, Reg, Size, R0, R1, R10, R2, R6, R7, R8, R9};
use super::liveness::{self, Liveness};
use super::regalloc::{self, Allocation, Loc};
use super::scratch_map::scratch_map;
use super::{BpfProgram, EmitError, EmitOptions};
use crate::ir::{BlockId, Cond, Context, Function, Inst, Mem, Module, Operand, Term, VReg};
use rtrace_stdlib::types::round8;

/// Compile one function (see `bpf::emit_function`); also returns the bytes of
/// the scratch map it uses (0 if everything fits on the stack).
pub fn emit(
    module: &Module,
    func: &Function,
    opts: &EmitOptions,
) -> Result<(BpfProgram, u32), EmitError> {
    if func.context == Context::User {
        return Err(EmitError::UserContext {
            function: func.name.clone(),
        });
    }
    let (insns, map_relocs, map_bytes) = compile(module, func, opts, None)?;
    let program = BpfProgram {
        name: func.name.clone(),
        insns,
        map_relocs,
    };
    Ok((program, map_bytes))
}

/// A callback subprogram still to be compiled and appended (`foreach`).
struct Pending {
    /// Index of the `ld_imm64` that loads its address.
    at: usize,
    body: Function,
    /// Body slots that live in the caller's frame: (slot, base, offset).
    aliases: Vec<(u32, Reg, i32)>,
    cx: foreach::CallbackCx,
}

type Compiled = (Vec<insn::Insn>, Vec<super::MapReloc>, u32);

/// Instructions (callback subprograms appended), map relocations and scratch
/// map bytes of `func`, compiled as a program or, with `callback`, as a
/// callback whose `aliases` slots live in the caller's frame.
fn compile(
    module: &Module,
    func: &Function,
    opts: &EmitOptions,
    callback: Option<(foreach::CallbackCx, &[foreach::Alias])>,
) -> Result<Compiled, EmitError> {
    let live = liveness::analyse(func)?;
    let scratch = scratch_bytes(module, func, &live)?;
    let planned = match callback {
        // A callback keeps the caller's context pointer in `OUTER_BASE` and
        // never uses the scratch map (its entry registers would be clobbered).
        Some((_, aliases)) => {
            let mut alloc = regalloc::allocate(func, &live, &[R6, R7, R9]);
            alloc.locs[live.ctx_var as usize] = None;
            let frame =
                Frame::layout_with_aliases(func, &live, alloc.spill_slots, scratch, None, aliases)?;
            Ok((alloc, frame, None))
        }
        None => plan(func, &live, scratch, None),
    };
    let (alloc, frame, scratch_base) = match planned {
        Err(EmitError::StackLimit { .. }) if scratch_map(module).is_some() => {
            let map = scratch_map(module).unwrap_or_default();
            let (alloc, frame, _) = plan(func, &live, scratch.max(8), Some(SCRATCH_BASE))?;
            (alloc, frame, Some(map))
        }
        other => other?,
    };
    let map_bytes = frame.map_bytes;
    let mut asm = Asm::new();
    let labels = (0..func.blocks.len()).map(|_| asm.new_label()).collect();
    let mut cg = Codegen {
        module,
        func,
        opts,
        live: &live,
        alloc,
        frame,
        asm,
        labels,
        scratch_map: scratch_base,
        callback: callback.map(|c| c.0),
        pending: Vec::new(),
    };
    if let Some(cx) = cg.callback {
        cg.callback_prologue(cx)?;
    }
    cg.prologue();
    cg.body()?;
    let pending = std::mem::take(&mut cg.pending);
    let (mut insns, mut map_relocs) = cg.asm.finish()?;
    let compile_body = |body: &Function, cx, aliases: &[(u32, Reg, i32)]| {
        compile(module, body, opts, Some((cx, aliases))).map(|(i, r, _)| (i, r))
    };
    foreach::append_callbacks(&compile_body, pending, &mut insns, &mut map_relocs)?;
    Ok((insns, map_relocs, map_bytes))
}

/// Register allocation and frame layout; with `map_base` the reserved register
/// is kept out of allocation and big slots may live in the scratch map.
fn plan(
    func: &Function,
    live: &Liveness,
    scratch: u32,
    map_base: Option<Reg>,
) -> Result<(Allocation, Frame, Option<u32>), EmitError> {
    let regs: &[Reg] = if map_base.is_some() {
        &[R6, R7, R8]
    } else {
        &[R6, R7, R8, R9]
    };
    let mut alloc = regalloc::allocate(func, live, regs);
    // The scratch-map lookup in the prologue clobbers r1.
    if map_base.is_none() && ctx_stays_in_r1(func) {
        alloc.locs[live.ctx_var as usize] = Some(Loc::Reg(R1));
    }
    let frame = Frame::layout(func, live, alloc.spill_slots, scratch, map_base)?;
    Ok((alloc, frame, None))
}

/// Bytes of scratch stack the expansions need: zero keys for keyless maps and the
/// initial value of a missing aggregation entry.
fn scratch_bytes(module: &Module, func: &Function, live: &Liveness) -> Result<u32, EmitError> {
    let mut need = 0;
    for &b in &live.order {
        for inst in &func.blocks[b as usize].insts {
            if let Inst::CtxLoad { off, size, .. } = *inst {
                if !ctx_direct_ok(&func.context, off, size) {
                    need = need.max(8);
                }
            }
            if matches!(inst, Inst::Emit { .. }) && maps::lost_events_map(module).is_some() {
                need = need.max(8); // the zero index of the lost-events counter
            }
            let (map, key) = match inst {
                Inst::MapRead { map, key, .. }
                | Inst::MapWrite { map, key, .. }
                | Inst::MapDelete { map, key }
                | Inst::MapAgg { map, key, .. }
                | Inst::MapReadCpu { map, key, .. } => (*map, key),
                _ => continue,
            };
            let spec = map_spec(module, map)?;
            let key_bytes = if key.is_none() {
                round8(spec.key_size)
            } else {
                0
            };
            let value_bytes = match inst {
                Inst::MapAgg { .. } if !is_array(spec.kind) => 16,
                _ => 0,
            };
            need = need.max(key_bytes + value_bytes);
        }
    }
    Ok(need)
}

/// True if every context use is a direct load or address computation at the very
/// start of the entry block: then r1 still holds the context there and the
/// prologue need not save it.
fn ctx_stays_in_r1(func: &Function) -> bool {
    let is_ctx_use = |inst: &Inst| {
        matches!(
            inst,
            Inst::CtxLoad { .. }
                | Inst::CtxAddr { .. }
                | Inst::StackId { .. }
                | Inst::Builtin {
                    which: crate::ir::Builtin::AttachCookie | crate::ir::Builtin::FuncIp,
                    ..
                }
        )
    };
    let leading = func.blocks[0]
        .insts
        .iter()
        .take_while(|inst| match **inst {
            Inst::CtxLoad { off, size, .. } => ctx_direct_ok(&func.context, off, size),
            Inst::CtxAddr { .. } => true,
            _ => false,
        })
        .count();
    let total: usize = func
        .blocks
        .iter()
        .map(|b| b.insts.iter().filter(|i| is_ctx_use(i)).count())
        .sum();
    leading > 0 && leading == total
}

/// Whether the verifier allows a direct `size`-byte load at `off` of this context
/// (otherwise the field is fetched with `bpf_probe_read_kernel`).
pub(super) fn ctx_direct_ok(context: &Context, off: u32, size: u8) -> bool {
    /// `sizeof(struct pt_regs)` on x86-64.
    const PT_REGS: u32 = 168;
    let size = u32::from(size);
    if size == 0 || !off.is_multiple_of(size) {
        return false;
    }
    match context {
        // The common header (first 8 bytes) of a tracepoint record is off limits.
        Context::Tracepoint => (8..8192).contains(&off),
        // bpf_perf_event_data: pt_regs (8-byte loads only), then sample_period, addr.
        Context::PerfEvent => off + size <= PT_REGS + 16 && (size == 8 || off >= PT_REGS),
        Context::Kprobe => off + size <= PT_REGS,
        Context::User => false,
    }
}

/// The register holding the scratch map's value pointer when the map is used.
const SCRATCH_BASE: Reg = R9;

fn fits_i32(v: i64) -> bool {
    i32::try_from(v).is_ok()
}

/// A second ALU/jump operand once materialised.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Reg(Reg),
    Imm(i32),
}

struct Codegen<'a> {
    module: &'a Module,
    func: &'a Function,
    opts: &'a EmitOptions,
    live: &'a Liveness,
    alloc: Allocation,
    frame: Frame,
    asm: Asm,
    /// One label per IR block.
    labels: Vec<Label>,
    /// The scratch map, if big slots live there (pointer in `SCRATCH_BASE`).
    scratch_map: Option<u32>,
    /// Set when this function is a `bpf_for_each_map_elem` callback.
    callback: Option<foreach::CallbackCx>,
    /// Callbacks this function passes to `bpf_for_each_map_elem`.
    pending: Vec<Pending>,
}

fn bad<T>(what: String) -> Result<T, EmitError> {
    Err(EmitError::InvalidIr { what })
}

impl Codegen<'_> {
    // ---- locations ----

    fn loc(&self, v: VReg) -> Loc {
        // Every variable referenced in emitted code received a location.
        self.alloc.locs[v as usize].unwrap_or(Loc::Reg(R0))
    }

    /// A register holding `v`, loading spilled values into `scratch`.
    fn read(&mut self, v: VReg, scratch: Reg) -> Reg {
        match self.loc(v) {
            Loc::Reg(r) => r,
            Loc::Spill(s) => {
                let off = self.frame.spill(s) as i16;
                self.asm.emit(insn::ldx(Size::DW, scratch, R10, off));
                scratch
            }
        }
    }

    /// Put `v` into exactly `target` (a helper argument register).
    fn read_into(&mut self, v: VReg, target: Reg) {
        let r = self.read(v, target);
        if r != target {
            self.asm.emit(insn::mov64_reg(target, r));
        }
    }

    /// The register to compute `v` in: its home register, or `scratch` if spilled.
    fn def_reg(&self, v: VReg, scratch: Reg) -> Reg {
        match self.loc(v) {
            Loc::Reg(r) => r,
            Loc::Spill(_) => scratch,
        }
    }

    /// Move a value computed in `reg` to `v`'s home.
    fn write_back(&mut self, v: VReg, reg: Reg) {
        match self.loc(v) {
            Loc::Reg(r) if r != reg => self.asm.emit(insn::mov64_reg(r, reg)),
            Loc::Reg(_) => {}
            Loc::Spill(s) => {
                let off = self.frame.spill(s) as i16;
                self.asm.emit(insn::stx(Size::DW, R10, off, reg));
            }
        }
    }

    /// `v = value`
    fn set_imm(&mut self, v: VReg, value: i64) {
        match self.loc(v) {
            Loc::Reg(r) => self.load_const(r, value),
            Loc::Spill(s) if fits_i32(value) => {
                let off = self.frame.spill(s) as i16;
                self.asm.emit(insn::st(Size::DW, R10, off, value as i32));
            }
            Loc::Spill(_) => {
                self.load_const(R0, value);
                self.write_back(v, R0);
            }
        }
    }

    /// `reg = value` in as few slots as possible.
    fn load_const(&mut self, reg: Reg, value: i64) {
        if fits_i32(value) {
            self.asm.emit(insn::mov64_imm(reg, value as i32));
        } else if (0..=u32::MAX as i64).contains(&value) {
            // A 32-bit move zero-extends.
            self.asm.emit(insn::mov32_imm(reg, value as u32 as i32));
        } else {
            self.asm.emit_all(&insn::ld_imm64(reg, value));
        }
    }

    /// Materialise an operand: registers as they are, small constants as immediates.
    fn operand(&mut self, op: Operand, scratch: Reg) -> Src {
        match op {
            Operand::Reg(v) => Src::Reg(self.read(v, scratch)),
            Operand::Imm(i) if fits_i32(i) => Src::Imm(i as i32),
            Operand::Imm(i) => {
                self.load_const(scratch, i);
                Src::Reg(scratch)
            }
        }
    }

    /// Base register and offset of `len` bytes at `mem`, checked against the slot.
    fn mem(&self, mem: Mem, len: u32) -> Result<(Reg, i32), EmitError> {
        let Some(slot) = self.func.slots.get(mem.slot as usize) else {
            return bad(format!(
                "{}: slot s{} does not exist",
                self.func.name, mem.slot
            ));
        };
        if u64::from(mem.off) + u64::from(len) > u64::from(slot.size) {
            return bad(format!(
                "{}: access of {len} bytes at s{}+{} overflows the {}-byte slot",
                self.func.name, mem.slot, mem.off, slot.size
            ));
        }
        Ok(self.frame.addr(mem))
    }

    /// `reg = r10 + off`
    fn stack_addr(&mut self, reg: Reg, off: i32) {
        self.addr_of(reg, (R10, off));
    }

    /// `reg = base + off` (a stack or scratch-map address).
    fn addr_of(&mut self, reg: Reg, (base, off): (Reg, i32)) {
        self.asm.emit(insn::mov64_reg(reg, base));
        if off != 0 {
            self.asm.emit(insn::alu64_imm(Alu::Add, reg, off));
        }
    }

    fn alu(&mut self, op: Alu, dst: Reg, src: Src) {
        self.asm.emit(match src {
            Src::Reg(r) => insn::alu64_reg(op, dst, r),
            Src::Imm(i) => insn::alu64_imm(op, dst, i),
        });
    }

    fn cond_jump(&mut self, cond: Jmp, a: Reg, b: Src, target: Label) {
        let jump = match b {
            Src::Reg(r) => insn::jmp_reg(cond, a, r, 0),
            Src::Imm(i) => insn::jmp_imm(cond, a, i, 0),
        };
        self.asm.jump(jump, target);
    }

    // ---- stack block moves ----

    /// The widest access (8/4/2/1) that fits `left` bytes and is aligned at every offset.
    fn chunk(left: u32, offsets: &[i32]) -> Size {
        [8u32, 4, 2, 1]
            .into_iter()
            .find(|&s| s <= left && offsets.iter().all(|o| o.rem_euclid(s as i32) == 0))
            .map_or(Size::B, Size::from_bytes)
    }

    fn zero_stack(&mut self, off: i32, len: u32) {
        self.zero_at((R10, off), len);
    }

    /// Zero `len` bytes at `base + off`.
    fn zero_at(&mut self, (base, off): (Reg, i32), len: u32) {
        let mut done = 0;
        while done < len {
            let at = off + done as i32;
            let size = Self::chunk(len - done, &[at]);
            self.asm.emit(insn::st(size, base, at as i16, 0));
            done += size.bytes();
        }
    }

    /// Copy `len` bytes from `src_base + src_off` to `dst_base + dst_off` through `tmp`.
    fn copy(&mut self, dst: (Reg, i32), src: (Reg, i32), len: u32, tmp: Reg) {
        let mut done = 0;
        while done < len {
            let d = dst.1 + done as i32;
            let s = src.1 + done as i32;
            let size = Self::chunk(len - done, &[d, s]);
            self.asm.emit(insn::ldx(size, tmp, src.0, s as i16));
            self.asm.emit(insn::stx(size, dst.0, d as i16, tmp));
            done += size.bytes();
        }
    }

    // ---- function structure ----

    /// Save the context where the allocator wants it; zero variables that may be
    /// read before being written (the verifier rejects uninitialised registers).
    fn prologue(&mut self) {
        let ctx = self.live.ctx_var;
        if self.alloc.locs[ctx as usize].is_some() {
            self.write_back(ctx, R1);
        }
        if let Some(map) = self.scratch_map {
            self.load_scratch_base(map);
        }
        let entry_live: Vec<VReg> = self.live.live_in[0].iter().filter(|&v| v != ctx).collect();
        for v in entry_live {
            self.set_imm(v, 0);
        }
    }

    fn body(&mut self) -> Result<(), EmitError> {
        let order = self.live.order.clone();
        for (i, &b) in order.iter().enumerate() {
            let next = order.get(i + 1).copied();
            self.asm.bind(self.labels[b as usize]);
            let block = &self.func.blocks[b as usize];
            let fused = self.fusable_compare(b);
            let count = block.insts.len() - usize::from(fused.is_some());
            for inst in &block.insts[..count] {
                self.inst(inst)?;
            }
            self.terminator(&block.term, next, fused)?;
        }
        Ok(())
    }

    /// A block ending in `Cmp` whose result only feeds the branch: jump on the
    /// comparison directly instead of materialising 0/1.
    fn fusable_compare(&self, b: BlockId) -> Option<(Cond, VReg, Operand)> {
        let block = &self.func.blocks[b as usize];
        let Term::Branch { cond, .. } = block.term else {
            return None;
        };
        match block.insts.last() {
            Some(&Inst::Cmp {
                dst,
                cond: c,
                a,
                b: rhs,
            }) if dst == cond && !self.live.live_out[b as usize].contains(dst) => Some((c, a, rhs)),
            _ => None,
        }
    }

    fn terminator(
        &mut self,
        term: &Term,
        next: Option<BlockId>,
        fused: Option<(Cond, VReg, Operand)>,
    ) -> Result<(), EmitError> {
        match *term {
            Term::Return => match self.callback {
                Some(cx) => self.callback_return(cx)?,
                None => {
                    self.asm.emit(insn::mov64_imm(R0, 0));
                    self.asm.emit(insn::exit());
                }
            },
            Term::Jump(t) => {
                if next != Some(t) {
                    self.asm.goto(self.labels[t as usize]);
                }
            }
            Term::Branch { cond, then, els } => {
                let (jmp, a, b) = match fused {
                    Some((c, a, b)) => {
                        let ra = self.read(a, R1);
                        (jmp_of(c), ra, self.operand(b, R2))
                    }
                    None => (Jmp::Ne, self.read(cond, R1), Src::Imm(0)),
                };
                let (then_l, els_l) = (self.labels[then as usize], self.labels[els as usize]);
                if then == els {
                    if next != Some(then) {
                        self.asm.goto(then_l);
                    }
                } else if next == Some(then) {
                    let negated = jmp.negate().unwrap_or(Jmp::Ne);
                    self.cond_jump(negated, a, b, els_l);
                } else {
                    self.cond_jump(jmp, a, b, then_l);
                    if next != Some(els) {
                        self.asm.goto(els_l);
                    }
                }
            }
        }
        Ok(())
    }

    // ---- instructions ----

    fn inst(&mut self, inst: &Inst) -> Result<(), EmitError> {
        match *inst {
            Inst::Const { dst, value } => self.set_imm(dst, value),
            Inst::Mov { dst, src } => self.mov(dst, src),
            Inst::Bin { dst, op, a, b } => self.bin(dst, op, a, b),
            Inst::Cmp { dst, cond, a, b } => self.cmp(dst, cond, a, b),
            Inst::Neg { dst, src } => self.unary(dst, src, insn::neg64),
            Inst::Not { dst, src } => self.unary(dst, src, |r| insn::alu64_imm(Alu::Xor, r, -1)),
            Inst::Ext {
                dst,
                src,
                bits,
                signed,
            } => self.ext(dst, src, bits, signed),
            Inst::Load {
                dst,
                mem,
                size,
                signed,
            } => self.load(dst, mem, size, signed)?,
            Inst::Store { mem, src, size } => self.store(mem, src, size)?,
            Inst::Zero { mem, len } => {
                let at = self.mem(mem, len)?;
                self.zero_at(at, len);
            }
            Inst::Copy { dst, src, len } => {
                let d = self.mem(dst, len)?;
                let s = self.mem(src, len)?;
                self.copy(d, s, len, R1);
            }
            Inst::CtxLoad {
                dst,
                off,
                size,
                signed,
            } => self.ctx_load(dst, off, size, signed)?,
            Inst::CtxAddr { dst, off } => self.ctx_addr(dst, off)?,
            Inst::Read {
                dst,
                len,
                addr,
                user,
            } => self.probe_read(dst, len, addr, user, false)?,
            Inst::ReadStr {
                dst,
                len,
                addr,
                user,
            } => self.probe_read(dst, len, addr, user, true)?,
            Inst::Builtin { dst, which } => self.builtin(dst, which),
            Inst::Comm { dst } => self.comm(dst)?,
            Inst::StrEq { dst, a, b, len } => self.str_eq(dst, a, b, len)?,
            Inst::MapRead {
                map,
                key,
                dst,
                found,
            } => self.map_read(map, key, dst, found)?,
            Inst::MapWrite { map, key, src } => self.map_write(map, key, src)?,
            Inst::MapDelete { map, key } => self.map_delete(map, key)?,
            Inst::MapAgg { map, key, op, val } => self.map_agg(map, key, op, val)?,
            Inst::Emit { mem, len } => self.emit_record(mem, len)?,
            Inst::MapReadCpu {
                map,
                key,
                cpu,
                dst,
                found,
            } => self.map_read_cpu(map, key, cpu, dst, found)?,
            Inst::MapEntry { .. } | Inst::MapLen { .. } => {
                return bad(format!(
                    "{}: map iteration and len() run only in user space",
                    self.func.name
                ))
            }
            Inst::Bswap { dst, src, bits } => self.bswap(dst, src, bits),
            Inst::Effect(effect) => self.effect(effect)?,
            Inst::StackId { dst, map, user } => self.stack_id(dst, map, user)?,
            Inst::ReadBuf {
                dst,
                cap,
                count,
                addr,
                user,
            } => self.read_buf(dst, cap, count, addr, user)?,
            Inst::MapForEach {
                map,
                ref body,
                ref outer,
                entry,
                stop,
                count,
            } => self.map_for_each(map, body, outer, entry, stop, count)?,
        }
        Ok(())
    }
}
