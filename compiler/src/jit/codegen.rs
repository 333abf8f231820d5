//! Translation of one IR function into a Cranelift function.
//!
//! Shape of the output: a fresh entry block takes the `*mut HostRef` argument
//! and jumps to IR block 0 (IR blocks may jump back to block 0, which a
//! Cranelift entry block must not be). Every IR block becomes one Cranelift
//! block and every slot an explicit stack slot. A vreg written once and read
//! only later in its block is the Cranelift value of its definition; any other
//! vreg is a `Variable` (the frontend builds SSA form; a vreg read before any
//! write is 0). See `vregs`.

use super::arith;
use super::host::{agg_code, builtin_code, HostFn, Param};
use super::memory::{self, Place};
use super::vregs;
use crate::ir::{self, Inst, Mem, Operand, Term};
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{
    AbiParam, Block, FuncRef, InstBuilder, Signature, StackSlot, StackSlotData, StackSlotKind,
    Type, Value,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;

/// The trampolines, declared once per `JITModule` as imported functions.
pub(crate) struct Imports {
    ids: HashMap<HostFn, FuncId>,
}

impl Imports {
    /// Errors are returned as text (Cranelift's error type is large).
    pub(crate) fn declare(jit: &mut JITModule) -> Result<Imports, String> {
        let ptr_ty = jit.target_config().pointer_type();
        let mut ids = HashMap::new();
        for f in HostFn::ALL {
            let mut sig = jit.make_signature();
            sig.params.push(AbiParam::new(ptr_ty));
            for p in f.params() {
                sig.params.push(AbiParam::new(match p {
                    Param::Ptr => ptr_ty,
                    Param::U64 => I64,
                }));
            }
            if f.returns_value() {
                sig.returns.push(AbiParam::new(I64));
            }
            let id = jit
                .declare_function(f.symbol(), Linkage::Import, &sig)
                .map_err(|e| e.to_string())?;
            ids.insert(f, id);
        }
        Ok(Imports { ids })
    }
}

/// The most arguments a trampoline takes after the host pointer.
const MAX_CALL_ARGS: usize = 6;

/// The signature of every compiled block: `extern "C" fn(*mut HostRef)`.
pub(crate) fn entry_signature(jit: &JITModule) -> Signature {
    let mut sig = jit.make_signature();
    sig.params
        .push(AbiParam::new(jit.target_config().pointer_type()));
    sig
}

/// Fill `func` (already given `entry_signature`) with the translation of `ir_func`.
pub(crate) fn translate(
    module: &ir::Module,
    ir_func: &ir::Function,
    jit: &mut JITModule,
    imports: &Imports,
    func: &mut cranelift_codegen::ir::Function,
    fctx: &mut FunctionBuilderContext,
) {
    let ptr_ty = jit.target_config().pointer_type();
    let mut b = FunctionBuilder::new(func, fctx);

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    let blocks: Vec<Block> = ir_func.blocks.iter().map(|_| b.create_block()).collect();
    let regs = vregs::block_local(ir_func)
        .into_iter()
        .map(|local| {
            if local {
                Reg::Value(None)
            } else {
                Reg::Var(b.declare_var(I64))
            }
        })
        .collect();
    let slots: Vec<StackSlot> = ir_func
        .slots
        .iter()
        .map(|s| {
            b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, s.size, 3))
        })
        .collect();

    b.switch_to_block(entry);
    let host = b.block_params(entry)[0];
    b.ins().jump(blocks[0], &[]);

    let mut t = Translator {
        b,
        module,
        jit,
        imports,
        func_refs: [None; HostFn::ALL.len()],
        regs,
        slot_bases: vec![None; slots.len()],
        slots,
        blocks,
        host,
        ptr_ty,
    };
    for (index, block) in ir_func.blocks.iter().enumerate() {
        t.b.switch_to_block(t.blocks[index]);
        // IR blocks may be entered from anywhere: addresses are not shared
        // across them. Within one, the blocks `memory` creates are entered only
        // from where it was, so an address computed earlier dominates them.
        t.slot_bases.fill(None);
        for inst in &block.insts {
            t.inst(inst);
        }
        t.term(&block.term);
    }
    t.b.seal_all_blocks();
    let config = t.jit.target_config();
    t.b.finalize(config);
}

/// How a vreg is translated.
enum Reg {
    /// Written once, read later in the same block: its value once written.
    Value(Option<Value>),
    Var(Variable),
}

struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    module: &'a ir::Module,
    jit: &'a mut JITModule,
    imports: &'a Imports,
    /// The trampolines declared in this function so far, by `HostFn`.
    func_refs: [Option<FuncRef>; HostFn::ALL.len()],
    regs: Vec<Reg>,
    slots: Vec<StackSlot>,
    /// The address of each slot, if already computed in the current IR block.
    slot_bases: Vec<Option<Value>>,
    blocks: Vec<Block>,
    /// The `*mut HostRef` argument, passed on to every trampoline.
    host: Value,
    ptr_ty: Type,
}

impl Translator<'_, '_> {
    fn inst(&mut self, inst: &Inst) {
        match inst {
            Inst::Const { dst, value } => {
                let v = self.b.ins().iconst(I64, *value);
                self.set(*dst, v);
            }
            Inst::Mov { dst, src } => {
                let v = self.get(*src);
                self.set(*dst, v);
            }
            Inst::Bin { dst, op, a, b } => {
                let x = self.get(*a);
                let v = match *b {
                    Operand::Reg(r) => {
                        let y = self.get(r);
                        arith::binary(&mut self.b, *op, x, y)
                    }
                    Operand::Imm(imm) => arith::binary_imm(&mut self.b, *op, x, imm),
                };
                self.set(*dst, v);
            }
            Inst::Cmp { dst, cond, a, b } => {
                let x = self.get(*a);
                let y = self.operand(*b);
                let v = arith::compare(&mut self.b, *cond, x, y);
                self.set(*dst, v);
            }
            Inst::Neg { dst, src } => {
                let x = self.get(*src);
                let v = self.b.ins().ineg(x);
                self.set(*dst, v);
            }
            Inst::Not { dst, src } => {
                let x = self.get(*src);
                let v = self.b.ins().bnot(x);
                self.set(*dst, v);
            }
            Inst::Ext {
                dst,
                src,
                bits,
                signed,
            } => {
                let x = self.get(*src);
                let v = arith::extend(&mut self.b, x, *bits, *signed);
                self.set(*dst, v);
            }
            Inst::Bswap { dst, src, bits } => {
                let x = self.get(*src);
                let v = arith::byte_swap(&mut self.b, x, *bits);
                self.set(*dst, v);
            }
            // `validate` rejects kernel-only effects before translation.
            Inst::Effect(_) => {}
            Inst::Load {
                dst,
                mem,
                size,
                signed,
            } => {
                let place = self.place(*mem);
                let v = memory::load(&mut self.b, place, *size, *signed);
                self.set(*dst, v);
            }
            Inst::Store { mem, src, size } => {
                let v = self.operand(*src);
                let place = self.place(*mem);
                memory::store(&mut self.b, place, v, *size);
            }
            Inst::Zero { mem, len } => {
                let place = self.place(*mem);
                memory::zero(&mut self.b, self.ptr_ty, place, *len);
            }
            Inst::Copy { dst, src, len } => {
                let (to, from) = (self.place(*dst), self.place(*src));
                memory::copy(&mut self.b, self.ptr_ty, to, from, *len);
            }
            // No probe context in user space: fields read as 0, addresses are null.
            Inst::CtxLoad { dst, .. } | Inst::CtxAddr { dst, .. } => {
                let v = self.b.ins().iconst(I64, 0);
                self.set(*dst, v);
            }
            // No stack to take (the checker keeps stacks out of user-space
            // blocks): the helper's "no such stack" answer, -EFAULT.
            Inst::StackId { dst, .. } => {
                let v = self.b.ins().iconst(I64, -14);
                self.set(*dst, v);
            }
            Inst::Read {
                dst,
                len,
                addr,
                user,
            } => self.read(HostFn::Read, *dst, *len, *addr, *user),
            Inst::ReadStr {
                dst,
                len,
                addr,
                user,
            } => self.read(HostFn::ReadStr, *dst, *len, *addr, *user),
            Inst::ReadBuf {
                dst,
                cap,
                count,
                addr,
                user,
            } => self.read_buf(*dst, *cap, *count, *addr, *user),
            Inst::Builtin { dst, which } => {
                let code = self.imm(builtin_code(*which) as i64);
                let v = self
                    .call(HostFn::Builtin, &[code])
                    .expect("builtins return a value");
                self.set(*dst, v);
            }
            Inst::Comm { dst } => {
                let at = self.addr(*dst);
                self.call(HostFn::Comm, &[at]);
            }
            Inst::StrEq { dst, a, b, len } => {
                let (x, y) = (self.place(*a), self.place(*b));
                let v = memory::str_eq(&mut self.b, self.ptr_ty, x, y, *len);
                self.set(*dst, v);
            }
            Inst::MapRead {
                map,
                key,
                dst,
                found,
            } => {
                let [id, key, key_len] = self.map_args(*map, *key);
                let dst = self.addr(*dst);
                let value_len = self.imm(i64::from(self.map_spec(*map).value_size));
                let args = [id, key, key_len, dst, value_len];
                let v = self
                    .call(HostFn::MapRead, &args)
                    .expect("map reads return whether the key was found");
                if let Some(found) = found {
                    self.set(*found, v);
                }
            }
            Inst::MapWrite { map, key, src } => {
                let [id, key, key_len] = self.map_args(*map, *key);
                let src = self.addr(*src);
                let value_len = self.imm(i64::from(self.map_spec(*map).value_size));
                self.call(HostFn::MapWrite, &[id, key, key_len, src, value_len]);
            }
            Inst::MapAgg { map, key, op, val } => {
                let [id, key, key_len] = self.map_args(*map, *key);
                let op = self.imm(agg_code(*op) as i64);
                let val = self.operand(*val);
                self.call(HostFn::MapAgg, &[id, key, key_len, op, val]);
            }
            Inst::MapDelete { map, key } => {
                let args = self.map_args(*map, *key);
                self.call(HostFn::MapDelete, &args);
            }
            Inst::Emit { mem, len } => {
                let at = self.addr(*mem);
                let len = self.imm(i64::from(*len));
                self.call(HostFn::Emit, &[at, len]);
            }
            Inst::MapEntry {
                map,
                cursor,
                index,
                key,
                value,
                found,
            } => {
                let spec = self.map_spec(*map);
                let (key_size, value_size) = (spec.key_size, spec.value_size);
                let id = self.imm(i64::from(*map) | (i64::from(*cursor) << 32));
                let i = self.get(*index);
                let (k, kl) = (self.addr(*key), self.imm(i64::from(key_size)));
                let (v, vl) = (self.addr(*value), self.imm(i64::from(value_size)));
                let r = self
                    .call(HostFn::MapEntry, &[id, i, k, kl, v, vl])
                    .expect("map_entry returns whether there was an entry");
                self.set(*found, r);
            }
            Inst::MapLen { map, dst } => {
                let id = self.imm(i64::from(*map));
                let r = self
                    .call(HostFn::MapLen, &[id])
                    .expect("map_len returns a count");
                self.set(*dst, r);
            }
            // Rejected by `validate`: user space reads per-CPU maps merged.
            Inst::MapReadCpu { .. } => {}
            Inst::MapForEach { .. } => {}
        }
    }

    fn term(&mut self, term: &Term) {
        match term {
            Term::Jump(target) => {
                self.b.ins().jump(self.blocks[*target as usize], &[]);
            }
            Term::Branch { cond, then, els } => {
                let c = self.get(*cond);
                let (then, els) = (self.blocks[*then as usize], self.blocks[*els as usize]);
                self.b.ins().brif(c, then, &[], els, &[]);
            }
            Term::Return => {
                self.b.ins().return_(&[]);
            }
        }
    }

    fn get(&mut self, reg: ir::VReg) -> Value {
        match self.regs[reg as usize] {
            Reg::Value(Some(v)) => v,
            Reg::Value(None) => unreachable!("a block-local vreg is read after its write"),
            Reg::Var(var) => self.b.use_var(var),
        }
    }

    fn set(&mut self, reg: ir::VReg, v: Value) {
        match &mut self.regs[reg as usize] {
            Reg::Value(slot) => *slot = Some(v),
            Reg::Var(var) => self.b.def_var(*var, v),
        }
    }

    fn imm(&mut self, value: i64) -> Value {
        self.b.ins().iconst(I64, value)
    }

    fn operand(&mut self, op: Operand) -> Value {
        match op {
            Operand::Reg(r) => self.get(r),
            Operand::Imm(v) => self.imm(v),
        }
    }

    /// `mem` with its slot's address, computed once per IR block.
    fn place(&mut self, mem: Mem) -> Place {
        let slot = self.slots[mem.slot as usize];
        let base = match self.slot_bases[mem.slot as usize] {
            Some(base) => base,
            None => {
                let base = self.b.ins().stack_addr(self.ptr_ty, slot, 0);
                self.slot_bases[mem.slot as usize] = Some(base);
                base
            }
        };
        Place {
            slot,
            off: mem.off,
            base,
        }
    }

    fn addr(&mut self, mem: Mem) -> Value {
        let place = self.place(mem);
        memory::addr(&mut self.b, self.ptr_ty, place)
    }

    fn map_spec(&self, map: ir::MapId) -> &ir::MapSpec {
        &self.module.maps[map as usize]
    }

    /// `map, key pointer (null if keyless), key length` for a map trampoline.
    fn map_args(&mut self, map: ir::MapId, key: Option<Mem>) -> [Value; 3] {
        let id = self.imm(i64::from(map));
        let (ptr, len) = match key {
            Some(k) => (self.addr(k), i64::from(self.map_spec(map).key_size)),
            None => (self.b.ins().iconst(self.ptr_ty, 0), 0),
        };
        let len = self.imm(len);
        [id, ptr, len]
    }

    fn read(&mut self, which: HostFn, dst: Mem, len: u32, addr: ir::VReg, user: bool) {
        let at = self.addr(dst);
        let len = self.imm(i64::from(len));
        let addr = self.get(addr);
        let user = self.imm(i64::from(user));
        self.call(which, &[at, len, addr, user]);
    }

    /// `buf(p, n)`: the count clipped to `cap` at `dst`, that many bytes after it.
    fn read_buf(&mut self, dst: Mem, cap: u32, count: ir::VReg, addr: ir::VReg, user: bool) {
        let cap = self.imm(i64::from(cap));
        let count = self.get(count);
        let count = self.b.ins().umin(count, cap);
        let place = self.place(dst);
        memory::store(&mut self.b, place, count, 8);
        let data = self.addr(dst.offset(rtrace_stdlib::types::BUF_DATA));
        let addr = self.get(addr);
        let user = self.imm(i64::from(user));
        self.call(HostFn::Read, &[data, count, addr, user]);
    }

    /// Call a trampoline with the host pointer prepended; its result, if it
    /// has one.
    fn call(&mut self, which: HostFn, args: &[Value]) -> Option<Value> {
        let func_ref = match self.func_refs[which as usize] {
            Some(r) => r,
            None => {
                let r = self
                    .jit
                    .declare_func_in_func(self.imports.ids[&which], self.b.func);
                self.func_refs[which as usize] = Some(r);
                r
            }
        };
        let mut all = [self.host; MAX_CALL_ARGS + 1];
        all[1..=args.len()].copy_from_slice(args);
        let call = self.b.ins().call(func_ref, &all[..=args.len()]);
        self.b.inst_results(call).first().copied()
    }
}
