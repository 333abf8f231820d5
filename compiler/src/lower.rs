//! Lowering: the typed program → IR, one `ir::Function` per typed probe (same
//! order), plus map specs and the event ring buffer.
//!
//! Conventions that keep both back ends simple:
//! - a vreg is used only in the block that defines it; values that cross blocks
//!   (variables, `&&`/`||`/`?:` results, operands around control flow) go through
//!   stack slots;
//! - integers are kept normalised in vregs: sign- or zero-extended to 64 bits
//!   according to their type;
//! - unreachable blocks are removed at the end (the verifier rejects dead code).

use crate::ir::{
    self, AggOp, BlockId, Cond, Context, Function, Inst, MapKind, MapSpec, Mem, Operand, Term,
    VReg, LOST_EVENTS_MAP,
};
use crate::probes::Target;
use crate::typed::*;
use rtrace_stdlib::types::{round8, tuple_layout, Type, HIST_BUCKETS};

mod aggregate;
mod flow;
mod kernel_for;
pub use flow::possible_cpus;
mod funcs;
mod stacks;
pub use stacks::USER_PIDS_MAP;
pub mod internal_maps;
mod record_copy;
pub mod strcontains;
mod string_index;

/// Maximum entries of a keyed map (bpftrace's `BPFTRACE_MAP_KEYS_MAX` default).
pub const MAP_KEYS_MAX: u32 = 4096;
/// Ring buffer size for events: large enough that printf bursts are not lost.
pub const RINGBUF_BYTES: u32 = 1 << 20;

/// The lowered module; `module.functions[i]` implements `program.probes[i]`; the
/// lost-events counter and the ring buffer are the last two maps.
pub fn lower(program: &TypedProgram) -> ir::Module {
    let mut maps: Vec<MapSpec> = program
        .maps
        .iter()
        .map(|m| map_spec(m, program.map_keys_max))
        .collect();
    maps.extend(stacks::stack_map_specs(
        &program.stack_maps,
        &program.events,
    ));
    maps.push(internal_maps::scratch_map());
    maps.push(internal_maps::dropped_updates_map(program.maps.len()));
    maps.push(MapSpec {
        name: LOST_EVENTS_MAP.to_string(),
        kind: MapKind::PerCpuArray,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        key_type: Type::None,
        value_type: Type::Count,
    });
    maps.push(MapSpec {
        name: ".events".to_string(),
        kind: MapKind::RingBuf,
        key_size: 0,
        value_size: 0,
        max_entries: RINGBUF_BYTES,
        key_type: Type::None,
        value_type: Type::None,
    });
    let functions = program
        .probes
        .iter()
        .enumerate()
        .map(|(i, p)| FnLower::lower_probe(&maps, i, p))
        .collect();
    ir::Module {
        maps,
        events: program.events.clone(),
        functions,
    }
}

/// Lower a probe that is not one of `program.probes` (a merged syscall program)
/// against the module's maps; `index` only names the function.
pub fn lower_extra(maps: &[MapSpec], index: usize, probe: &TypedProbe) -> Function {
    FnLower::lower_probe(maps, index, probe)
}

/// Number of lhist buckets: underflow, `(max - min) / step` ranges, overflow.
pub fn lhist_bucket_count(min: i64, max: i64, step: i64) -> u32 {
    ((max - min) / step) as u32 + 2
}

fn map_spec(decl: &MapDecl, keys_max: u32) -> MapSpec {
    let keyless = decl.key == Type::None;
    let user_key = round8(decl.key.size());
    let (kind, key_size, max_entries) = match (&decl.value, keyless) {
        (Type::Hist, true) => (MapKind::PerCpuArray, 4, HIST_BUCKETS),
        (Type::Lhist { min, max, step }, true) => (
            MapKind::PerCpuArray,
            4,
            lhist_bucket_count(*min, *max, *step),
        ),
        (Type::Hist | Type::Lhist { .. }, false) => (MapKind::PerCpuHash, user_key + 8, keys_max),
        (v, true) if v.is_aggregation() => (MapKind::PerCpuArray, 4, 1),
        (v, false) if v.is_aggregation() => (MapKind::PerCpuHash, user_key, keys_max),
        (_, true) => (MapKind::Hash, 8, 1),
        (_, false) => (MapKind::Hash, user_key, keys_max),
    };
    MapSpec {
        name: decl.name.clone(),
        kind,
        key_size,
        value_size: round8(decl.value.size()).max(8),
        max_entries,
        key_type: decl.key.clone(),
        value_type: decl.value.clone(),
    }
}

/// A lowered value: a normalised integer in a vreg, or bytes in a slot.
#[derive(Clone, Copy, Debug)]
enum Val {
    Scalar(VReg),
    Mem(Mem),
}

struct FnLower<'a> {
    maps: &'a [MapSpec],
    f: Function,
    cur: BlockId,
    vars: Vec<Mem>,
    var_types: Vec<Type>,
    /// (continue target, break target) of the enclosing loops.
    loops: Vec<(BlockId, BlockId)>,
    /// Inside a kernel `for` body (a callback): its stop flag and exit block.
    callback: Option<(Mem, BlockId)>,
}

fn function_name(index: usize, target: &Target) -> String {
    let hint: String = match target {
        Target::Begin => "begin".into(),
        Target::End => "end".into(),
        Target::Interval { .. } => "interval".into(),
        Target::Tracepoint { name, .. } => name.clone(),
        Target::Profile { .. } => "profile".into(),
        Target::Software { event, .. } | Target::Hardware { event, .. } => event.clone(),
        Target::Kprobe { function, .. }
        | Target::Uprobe { function, .. }
        | Target::Fentry { function, .. } => function.clone(),
        Target::RawTracepoint { name } | Target::Usdt { name, .. } => name.clone(),
    };
    let clean: String = hint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut name = format!("rtp{index}_{clean}");
    name.truncate(15);
    name
}

fn context_of(target: &Target) -> Context {
    match target {
        Target::Begin | Target::End | Target::Interval { .. } => Context::User,
        Target::Tracepoint { .. } => Context::Tracepoint,
        Target::Profile { .. } | Target::Software { .. } | Target::Hardware { .. } => {
            Context::PerfEvent
        }
        Target::Kprobe { .. } | Target::Uprobe { .. } | Target::Usdt { .. } => Context::Kprobe,
        // The raw_tp context is an array of u64 arguments; the back ends only
        // need to know that aligned 8-byte loads of it are direct, as for pt_regs.
        Target::RawTracepoint { .. } => Context::Kprobe,
        // fentry/fexit contexts are u64 arrays too (arguments, then the return value).
        Target::Fentry { .. } => Context::Kprobe,
    }
}

fn fits_imm(v: i64) -> bool {
    i32::try_from(v).is_ok()
}

/// Whether lowering `e` creates blocks (so vregs computed before it must be spilled).
fn has_control_flow(e: &TExpr) -> bool {
    use TExprKind::*;
    match &e.kind {
        LogAnd(..) | LogOr(..) | Ternary { .. } | StrContains { .. } => true,
        // A user stack announces a new process behind a branch.
        Stack {
            pid_event: Some(_), ..
        } => true,
        // A per-CPU read in a kernel probe is a loop over the CPUs.
        MapValue { .. } => true,
        HasKey { key, .. } => key.as_deref().is_some_and(has_control_flow),
        Binary { lhs, rhs, .. } | Cmp { lhs, rhs, .. } | StrEq { lhs, rhs, .. } => {
            has_control_flow(lhs) || has_control_flow(rhs)
        }
        LogNot(x) | Neg(x) | BitNot(x) | Retype(x) => has_control_flow(x),
        Cast { expr, .. } | TupleField { expr, .. } => has_control_flow(expr),
        ReadStr { addr, .. } | Deref { addr, .. } => has_control_flow(addr),
        Tuple(xs) => xs.iter().any(has_control_flow),
        Bswap { expr, .. } => has_control_flow(expr),
        // Like a user stack, `usym` may announce a new process.
        Usym { addr, pid_event } => pid_event.is_some() || has_control_flow(addr),
        StrByte { expr, .. } => has_control_flow(expr),
        RecordPart { expr, .. } => has_control_flow(expr),
        Build(parts) => parts.iter().any(|p| match &p.src {
            PartSrc::Int { value, .. } => has_control_flow(value),
            PartSrc::Mem { addr, .. } | PartSrc::DPath { addr, .. } => has_control_flow(addr),
            PartSrc::Ctx { .. } => false,
            PartSrc::Copy { value, .. } => has_control_flow(value),
            PartSrc::Buf { addr, count, .. } => has_control_flow(addr) || has_control_flow(count),
        }),
        IncDec {
            target: LValue::Map { key, .. },
            ..
        } => key.as_deref().is_some_and(has_control_flow),
        _ => false,
    }
}

impl<'a> FnLower<'a> {
    fn lower_probe(maps: &'a [MapSpec], index: usize, p: &TypedProbe) -> Function {
        let mut l = FnLower {
            maps,
            f: Function::new(function_name(index, &p.target), context_of(&p.target)),
            cur: 0,
            vars: Vec::new(),
            var_types: p.vars.clone(),
            loops: Vec::new(),
            callback: None,
        };
        for ty in &p.vars {
            // Variables read before any assignment on some path are zero, never stack garbage.
            let size = round8(ty.size()).max(8);
            let mem = Mem::at(l.f.new_slot(size), 0);
            match size {
                8 => l.emit(Inst::Store {
                    mem,
                    src: Operand::Imm(0),
                    size: 8,
                }),
                _ => l.emit(Inst::Zero { mem, len: size }),
            }
            l.vars.push(mem);
        }
        if let Some(pred) = &p.predicate {
            let cond = l.scalar(pred);
            let body = l.f.new_block();
            let exit = l.f.new_block();
            l.terminate(Term::Branch {
                cond,
                then: body,
                els: exit,
            });
            l.cur = body;
        }
        l.stmts(&p.body);
        l.terminate(Term::Return);
        prune_unreachable(&mut l.f);
        l.f
    }

    // ---- emission helpers ----

    fn emit(&mut self, inst: Inst) {
        self.f.blocks[self.cur as usize].insts.push(inst);
    }

    fn terminate(&mut self, term: Term) {
        self.f.blocks[self.cur as usize].term = term;
    }

    /// Start a fresh block after a jump (code after `return`, `break`, …).
    fn continue_in_new_block(&mut self) {
        self.cur = self.f.new_block();
    }

    fn vreg(&mut self) -> VReg {
        self.f.new_vreg()
    }

    fn constant(&mut self, value: i64) -> VReg {
        let dst = self.vreg();
        self.emit(Inst::Const { dst, value });
        dst
    }

    fn temp(&mut self, size: u32) -> Mem {
        let slot = self.f.new_slot(round8(size).max(8));
        Mem::at(slot, 0)
    }

    fn load64(&mut self, mem: Mem) -> VReg {
        let dst = self.vreg();
        self.emit(Inst::Load {
            dst,
            mem,
            size: 8,
            signed: false,
        });
        dst
    }

    fn store64(&mut self, mem: Mem, src: VReg) {
        self.emit(Inst::Store {
            mem,
            src: Operand::Reg(src),
            size: 8,
        });
    }

    fn bin(&mut self, op: ir::BinOp, a: VReg, b: Operand) -> VReg {
        let dst = self.vreg();
        self.emit(Inst::Bin { dst, op, a, b });
        dst
    }

    fn cmp(&mut self, cond: Cond, a: VReg, b: Operand) -> VReg {
        let dst = self.vreg();
        self.emit(Inst::Cmp { dst, cond, a, b });
        dst
    }

    // ---- statements ----

    fn stmts(&mut self, stmts: &[TStmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &TStmt) {
        match s {
            TStmt::Expr(e) => {
                self.value(e);
            }
            TStmt::Assign { target, value } => self.assign(target, value),
            TStmt::Agg {
                map,
                key,
                func,
                value,
            } => self.aggregate(*map, key.as_ref(), *func, value.as_ref()),
            TStmt::Emit { event, args } => self.emit_event(*event, args),
            TStmt::Exit { event, code } => {
                self.emit_event(*event, std::slice::from_ref(code));
                self.terminate(Term::Return);
                self.continue_in_new_block();
            }
            TStmt::Delete { map, key } => {
                let key = self.map_key(*map, key.as_ref());
                self.emit(Inst::MapDelete { map: *map, key });
            }
            TStmt::If { cond, then, els } => {
                let c = self.scalar(cond);
                let (bt, be, join) = (self.f.new_block(), self.f.new_block(), self.f.new_block());
                self.terminate(Term::Branch {
                    cond: c,
                    then: bt,
                    els: be,
                });
                self.cur = bt;
                self.stmts(then);
                self.terminate(Term::Jump(join));
                self.cur = be;
                self.stmts(els);
                self.terminate(Term::Jump(join));
                self.cur = join;
            }
            TStmt::While { cond, body } => {
                let (head, bb, exit) = (self.f.new_block(), self.f.new_block(), self.f.new_block());
                self.terminate(Term::Jump(head));
                self.cur = head;
                let c = self.scalar(cond);
                self.terminate(Term::Branch {
                    cond: c,
                    then: bb,
                    els: exit,
                });
                self.cur = bb;
                self.loops.push((head, exit));
                self.stmts(body);
                self.loops.pop();
                self.terminate(Term::Jump(head));
                self.cur = exit;
            }
            TStmt::Unroll { count, body } => self.unroll(*count, body),
            TStmt::Break | TStmt::Continue => {
                if let Some(&(cont, brk)) = self.loops.last() {
                    let to = if matches!(s, TStmt::Break) { brk } else { cont };
                    self.terminate(Term::Jump(to));
                    self.continue_in_new_block();
                }
            }
            TStmt::Return if self.callback.is_some() => self.return_from_callback(),
            TStmt::Return => {
                self.terminate(Term::Return);
                self.continue_in_new_block();
            }
            TStmt::ForMap { var, map, body } => self.for_map(*var, *map, body),
            TStmt::ForRange {
                var,
                from,
                to,
                body,
            } => self.for_range(*var, from, to, body),
            TStmt::Effect(effect) => self.effect(effect),
        }
    }

    fn assign(&mut self, target: &LValue, value: &TExpr) {
        match target {
            LValue::Var(id) => {
                let (mem, ty) = (
                    self.vars[*id as usize],
                    self.var_types[*id as usize].clone(),
                );
                self.lower_into(mem, &ty, value);
            }
            LValue::Map { map, key } => {
                let spec = &self.maps[*map as usize];
                let (value_ty, value_size) = (spec.value_type.clone(), spec.value_size);
                let key = self.map_key(*map, key.as_deref());
                let src = self.temp(value_size);
                self.lower_into(src, &value_ty, value);
                self.emit(Inst::MapWrite {
                    map: *map,
                    key,
                    src,
                });
            }
        }
    }

    /// Build the key of `map` in a slot. Per-CPU arrays have no key here (`None`:
    /// index 0, or the caller adds the bucket index); hist keys leave their last
    /// 8 bytes for the bucket.
    fn map_key(&mut self, map: ir::MapId, key: Option<&TExpr>) -> Option<Mem> {
        let spec = &self.maps[map as usize];
        let (kind, key_ty, key_size) = (spec.kind, spec.key_type.clone(), spec.key_size);
        if kind == MapKind::PerCpuArray {
            return None;
        }
        let mem = self.temp(key_size);
        match key {
            Some(k) => {
                zero_padding(self, mem, &key_ty);
                self.lower_into(mem, &key_ty, k);
            }
            None => self.emit(Inst::Store {
                mem,
                src: Operand::Imm(0),
                size: 8,
            }),
        }
        Some(mem)
    }

    fn emit_event(&mut self, event: EventId, args: &[TExpr]) {
        let types: Vec<Type> = args.iter().map(|a| a.ty.clone()).collect();
        let (offsets, size) = tuple_layout(&types);
        let rec = self.temp(8 + size);
        self.emit(Inst::Store {
            mem: rec,
            src: Operand::Imm(event as i64),
            size: 8,
        });
        // Padding after short strings goes to user space too: never leak stale stack.
        zero_padding(self, rec.offset(8), &Type::Tuple(types.clone()));
        for ((a, off), ty) in args.iter().zip(offsets).zip(&types) {
            self.lower_into(rec.offset(8 + off), ty, a);
        }
        self.emit(Inst::Emit {
            mem: rec,
            len: 8 + size,
        });
    }

    /// Store `v` (of type `src_ty`) at `dst` laid out as `dst_ty`: strings are
    /// truncated or NUL-padded, tuples converted field by field.
    fn store_into(&mut self, dst: Mem, dst_ty: &Type, v: Val, src_ty: &Type) {
        match (dst_ty, src_ty, v) {
            (Type::Str { len: d }, Type::Str { len: s }, Val::Mem(src)) => {
                let n = (*d).min(*s);
                if n > 0 {
                    self.emit(Inst::Copy { dst, src, len: n });
                }
                if d > s {
                    self.emit(Inst::Zero {
                        mem: dst.offset(n),
                        len: d - n,
                    });
                } else if s > d {
                    self.emit(Inst::Store {
                        mem: dst.offset(d - 1),
                        src: Operand::Imm(0),
                        size: 1,
                    });
                }
            }
            (Type::Tuple(dt), Type::Tuple(st), Val::Mem(src)) => {
                let (doffs, _) = tuple_layout(dt);
                let (soffs, _) = tuple_layout(st);
                for i in 0..dt.len() {
                    let field = match &st[i] {
                        t if t.in_memory() => Val::Mem(src.offset(soffs[i])),
                        _ => Val::Scalar(self.load64(src.offset(soffs[i]))),
                    };
                    self.store_into(dst.offset(doffs[i]), &dt[i], field, &st[i]);
                }
            }
            (_, _, Val::Scalar(r)) => self.store64(dst, r),
            (_, _, Val::Mem(src)) => {
                let len = src_ty.size().min(dst_ty.size());
                self.emit(Inst::Copy { dst, src, len });
            }
        }
    }

    /// Lower `e` straight into `dst` (laid out as `dst_ty`): strings that a helper
    /// writes (comm, str()) land in place instead of going through a copy.
    fn lower_into(&mut self, dst: Mem, dst_ty: &Type, e: &TExpr) {
        match (&e.kind, dst_ty) {
            (TExprKind::Comm, Type::Str { len: 16 }) => self.emit(Inst::Comm { dst }),
            (TExprKind::ReadStr { addr, user }, Type::Str { len }) if *len == e.ty.size() => {
                let a = self.scalar(addr);
                self.emit(Inst::ReadStr {
                    dst,
                    len: *len,
                    addr: a,
                    user: *user,
                });
            }
            _ => {
                let v = self.value(e);
                self.store_into(dst, dst_ty, v, &e.ty);
            }
        }
    }

    // ---- expressions ----

    fn scalar(&mut self, e: &TExpr) -> VReg {
        match self.value(e) {
            Val::Scalar(r) => r,
            Val::Mem(m) => self.load64(m),
        }
    }

    /// The two operands of a binary operation; a small constant on the right
    /// becomes an immediate.
    fn operands(&mut self, lhs: &TExpr, rhs: &TExpr) -> (VReg, Operand) {
        let a = self.scalar(lhs);
        match rhs.kind {
            TExprKind::Int(k) if fits_imm(k) => (a, Operand::Imm(k)),
            _ => {
                let (a, b) = self.scalar_after(a, rhs);
                (a, Operand::Reg(b))
            }
        }
    }

    /// Lower `e` when a vreg computed earlier must survive it: spill around control flow.
    pub(super) fn scalar_after(&mut self, keep: VReg, e: &TExpr) -> (VReg, VReg) {
        if !has_control_flow(e) {
            let v = self.scalar(e);
            return (keep, v);
        }
        let spill = self.temp(8);
        self.store64(spill, keep);
        let v = self.scalar(e);
        let tmp = self.temp(8);
        self.store64(tmp, v);
        let kept = self.load64(spill);
        let v = self.load64(tmp);
        (kept, v)
    }

    fn value(&mut self, e: &TExpr) -> Val {
        use TExprKind::*;
        let scalar = |r| Val::Scalar(r);
        match &e.kind {
            Int(v) => scalar(self.constant(*v)),
            Str(bytes) => {
                let mem = self.temp(bytes.len() as u32 + 1);
                self.store_bytes(mem, bytes, round8(bytes.len() as u32 + 1));
                Val::Mem(mem)
            }
            Var(id) => {
                let mem = self.vars[*id as usize];
                match &self.var_types[*id as usize] {
                    t if t.in_memory() => Val::Mem(mem),
                    _ => scalar(self.load64(mem)),
                }
            }
            MapValue { map, key } => self.map_value(*map, key.as_deref(), &e.ty),
            Builtin(which) => {
                let dst = self.vreg();
                self.emit(Inst::Builtin { dst, which: *which });
                scalar(dst)
            }
            Comm => {
                let mem = self.temp(16);
                self.emit(Inst::Comm { dst: mem });
                Val::Mem(mem)
            }
            ProbeId(id) => scalar(self.constant(*id as i64)),
            CtxInt { off, size, signed } => {
                let dst = self.vreg();
                self.emit(Inst::CtxLoad {
                    dst,
                    off: *off,
                    size: *size,
                    signed: *signed,
                });
                scalar(dst)
            }
            CtxCharArray { off, len } => {
                let mem = self.temp(*len);
                let addr = self.vreg();
                self.emit(Inst::CtxAddr {
                    dst: addr,
                    off: *off,
                });
                self.emit(Inst::ReadStr {
                    dst: mem,
                    len: *len,
                    addr,
                    user: false,
                });
                Val::Mem(mem)
            }
            CtxDataLoc { off, len } => {
                let loc = self.vreg();
                self.emit(Inst::CtxLoad {
                    dst: loc,
                    off: *off,
                    size: 4,
                    signed: false,
                });
                let rel = self.bin(ir::BinOp::And, loc, Operand::Imm(0xffff));
                let base = self.vreg();
                self.emit(Inst::CtxAddr { dst: base, off: 0 });
                let addr = self.bin(ir::BinOp::Add, base, Operand::Reg(rel));
                let mem = self.temp(*len);
                self.emit(Inst::ReadStr {
                    dst: mem,
                    len: *len,
                    addr,
                    user: false,
                });
                Val::Mem(mem)
            }
            Binary { op, lhs, rhs } => {
                let (a, b) = self.operands(lhs, rhs);
                scalar(self.bin(*op, a, b))
            }
            Cmp { cond, lhs, rhs } => {
                let (a, b) = self.operands(lhs, rhs);
                scalar(self.cmp(*cond, a, b))
            }
            StrEq { lhs, rhs, negate } => {
                let (Val::Mem(a), Val::Mem(b)) = (self.value(lhs), self.value(rhs)) else {
                    unreachable!("strings are in memory")
                };
                let len = lhs.ty.size().min(rhs.ty.size());
                let dst = self.vreg();
                self.emit(Inst::StrEq { dst, a, b, len });
                if *negate {
                    scalar(self.bin(ir::BinOp::Xor, dst, Operand::Imm(1)))
                } else {
                    scalar(dst)
                }
            }
            StrContains { hay, needle } => scalar(self.str_contains(hay, needle)),
            LogAnd(a, b) => scalar(self.short_circuit(a, b, true)),
            LogOr(a, b) => scalar(self.short_circuit(a, b, false)),
            LogNot(x) => {
                let v = self.scalar(x);
                scalar(self.cmp(Cond::Eq, v, Operand::Imm(0)))
            }
            Neg(x) => {
                let v = self.scalar(x);
                let dst = self.vreg();
                self.emit(Inst::Neg { dst, src: v });
                scalar(dst)
            }
            BitNot(x) => {
                let v = self.scalar(x);
                let dst = self.vreg();
                self.emit(Inst::Not { dst, src: v });
                scalar(dst)
            }
            Ternary { cond, then, els } => self.ternary(cond, then, els, &e.ty),
            Cast { expr, bits, signed } => {
                let v = self.scalar(expr);
                if *bits >= 64 {
                    return scalar(v);
                }
                let dst = self.vreg();
                self.emit(Inst::Ext {
                    dst,
                    src: v,
                    bits: *bits,
                    signed: *signed,
                });
                scalar(dst)
            }
            Tuple(elems) => {
                let (offs, size) =
                    tuple_layout(&elems.iter().map(|x| x.ty.clone()).collect::<Vec<_>>());
                let mem = self.temp(size);
                for (x, off) in elems.iter().zip(offs) {
                    self.lower_into(mem.offset(off), &x.ty, x);
                }
                Val::Mem(mem)
            }
            TupleField { expr, index } => {
                let Val::Mem(m) = self.value(expr) else {
                    unreachable!("tuples are in memory")
                };
                let Type::Tuple(fields) = &expr.ty else {
                    unreachable!("checked tuple")
                };
                let (offs, _) = tuple_layout(fields);
                let field = m.offset(offs[*index as usize]);
                match &fields[*index as usize] {
                    t if t.in_memory() => Val::Mem(field),
                    _ => scalar(self.load64(field)),
                }
            }
            ReadStr { addr, user } => {
                let a = self.scalar(addr);
                let len = e.ty.size();
                let mem = self.temp(len);
                self.emit(Inst::ReadStr {
                    dst: mem,
                    len,
                    addr: a,
                    user: *user,
                });
                Val::Mem(mem)
            }
            Deref {
                addr,
                size,
                signed,
                user,
            } => {
                let a = self.scalar(addr);
                let mem = self.temp(8);
                self.emit(Inst::Read {
                    dst: mem,
                    len: u32::from(*size),
                    addr: a,
                    user: *user,
                });
                let dst = self.vreg();
                self.emit(Inst::Load {
                    dst,
                    mem,
                    size: *size,
                    signed: *signed,
                });
                scalar(dst)
            }
            Retype(x) => match (&x.ty, &e.ty) {
                // A string cut or widened to another capacity (`str(comm, 4)`).
                (Type::Str { len: from }, Type::Str { len: to }) if from != to => {
                    let v = self.value(x);
                    let mem = self.temp(*to);
                    self.store_into(mem, &e.ty, v, &x.ty);
                    Val::Mem(mem)
                }
                _ => self.value(x),
            },
            IncDec {
                target,
                increment,
                prefix,
            } => scalar(self.inc_dec(target, *increment, *prefix, &e.ty)),
            HasKey { map, key } => scalar(self.has_key(*map, key.as_deref())),
            MapLen(map) => scalar(self.map_len(*map)),
            Build(parts) => self.build(parts, e.ty.size()),
            Bswap { expr, bits } => self.bswap(expr, *bits),
            Stack {
                user,
                limit,
                pid_event,
            } => self.stack(*user, *limit, *pid_event),
            Usym { addr, pid_event } => self.usym(addr, *pid_event),
            StrByte { expr, index } => scalar(self.str_byte(expr, *index)),
            RecordPart { expr, offset } => self.record_part(expr, *offset, &e.ty),
        }
    }

    fn store_bytes(&mut self, mem: Mem, bytes: &[u8], total: u32) {
        let mut padded = bytes.to_vec();
        padded.resize(total as usize, 0);
        for (i, chunk) in padded.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let v = i64::from_le_bytes(word);
            let src = if fits_imm(v) {
                Operand::Imm(v)
            } else {
                Operand::Reg(self.constant(v))
            };
            self.emit(Inst::Store {
                mem: mem.offset(i as u32 * 8),
                src,
                size: 8,
            });
        }
    }

    fn map_value(&mut self, map: ir::MapId, key: Option<&TExpr>, ty: &Type) -> Val {
        if self.needs_cpu_merge(map) {
            return Val::Scalar(self.per_cpu_value(map, key));
        }
        let spec = &self.maps[map as usize];
        let (value_ty, value_size) = (spec.value_type.clone(), spec.value_size);
        let key = self.map_key(map, key);
        let dst = self.temp(value_size);
        self.emit(Inst::MapRead {
            map,
            key,
            dst,
            found: None,
        });
        match value_ty {
            Type::Avg => {
                let total = self.load64(dst);
                let count = self.load64(dst.offset(8));
                Val::Scalar(self.bin(ir::BinOp::SDiv, total, Operand::Reg(count)))
            }
            t if t.in_memory() => Val::Mem(dst),
            _ => {
                let _ = ty;
                Val::Scalar(self.load64(dst))
            }
        }
    }

    fn short_circuit(&mut self, a: &TExpr, b: &TExpr, and: bool) -> VReg {
        let result = self.temp(8);
        let va = self.scalar(a);
        let ta = self.cmp(Cond::Ne, va, Operand::Imm(0));
        self.store64(result, ta);
        let (eval_b, join) = (self.f.new_block(), self.f.new_block());
        let term = if and {
            Term::Branch {
                cond: ta,
                then: eval_b,
                els: join,
            }
        } else {
            Term::Branch {
                cond: ta,
                then: join,
                els: eval_b,
            }
        };
        self.terminate(term);
        self.cur = eval_b;
        let vb = self.scalar(b);
        let tb = self.cmp(Cond::Ne, vb, Operand::Imm(0));
        self.store64(result, tb);
        self.terminate(Term::Jump(join));
        self.cur = join;
        self.load64(result)
    }

    fn ternary(&mut self, cond: &TExpr, then: &TExpr, els: &TExpr, ty: &Type) -> Val {
        let result = self.temp(ty.size());
        let c = self.scalar(cond);
        let (bt, be, join) = (self.f.new_block(), self.f.new_block(), self.f.new_block());
        self.terminate(Term::Branch {
            cond: c,
            then: bt,
            els: be,
        });
        for (block, arm) in [(bt, then), (be, els)] {
            self.cur = block;
            let v = self.value(arm);
            self.store_into(result, ty, v, &arm.ty);
            self.terminate(Term::Jump(join));
        }
        self.cur = join;
        match ty {
            t if t.in_memory() => Val::Mem(result),
            _ => Val::Scalar(self.load64(result)),
        }
    }

    fn inc_dec(&mut self, target: &LValue, increment: bool, prefix: bool, ty: &Type) -> VReg {
        let delta = if increment { 1 } else { -1 };
        match target {
            LValue::Var(id) => {
                let mem = self.vars[*id as usize];
                let old = self.load64(mem);
                let new = self.bin(ir::BinOp::Add, old, Operand::Imm(delta));
                let new = self.normalise(new, ty);
                self.store64(mem, new);
                if prefix {
                    new
                } else {
                    old
                }
            }
            LValue::Map { map, key } => {
                let value_size = self.maps[*map as usize].value_size;
                let key = self.map_key(*map, key.as_deref());
                let cell = self.temp(value_size);
                self.emit(Inst::MapRead {
                    map: *map,
                    key,
                    dst: cell,
                    found: None,
                });
                let old = self.load64(cell);
                let new = self.bin(ir::BinOp::Add, old, Operand::Imm(delta));
                let new = self.normalise(new, ty);
                self.store64(cell, new);
                self.emit(Inst::MapWrite {
                    map: *map,
                    key,
                    src: cell,
                });
                if prefix {
                    new
                } else {
                    old
                }
            }
        }
    }

    /// Keep a narrow integer normalised after arithmetic that may overflow it.
    fn normalise(&mut self, v: VReg, ty: &Type) -> VReg {
        match ty {
            Type::Int { bits, signed } if *bits < 64 => {
                let dst = self.vreg();
                self.emit(Inst::Ext {
                    dst,
                    src: v,
                    bits: *bits,
                    signed: *signed,
                });
                dst
            }
            _ => v,
        }
    }
}

/// Zero the padding after strings inside a key so equal keys hash equal.
fn zero_padding(l: &mut FnLower, mem: Mem, ty: &Type) {
    match ty {
        Type::Str { len } if len % 8 != 0 => {
            l.emit(Inst::Zero {
                mem: mem.offset(*len),
                len: round8(*len) - len,
            });
        }
        Type::Tuple(fields) => {
            let (offs, _) = tuple_layout(fields);
            for (f, off) in fields.iter().zip(offs) {
                zero_padding(l, mem.offset(off), f);
            }
        }
        _ => {}
    }
}

/// Remove blocks not reachable from the entry and renumber the rest.
fn prune_unreachable(f: &mut Function) {
    let n = f.blocks.len();
    let mut reachable = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(b) = stack.pop() {
        if std::mem::replace(&mut reachable[b], true) {
            continue;
        }
        match f.blocks[b].term {
            Term::Jump(t) => stack.push(t as usize),
            Term::Branch { then, els, .. } => stack.extend([then as usize, els as usize]),
            Term::Return => {}
        }
    }
    let mut new_index = vec![0u32; n];
    let mut next = 0;
    for i in 0..n {
        if reachable[i] {
            new_index[i] = next;
            next += 1;
        }
    }
    let blocks = std::mem::take(&mut f.blocks);
    f.blocks = blocks
        .into_iter()
        .enumerate()
        .filter(|(i, _)| reachable[*i])
        .map(|(_, mut b)| {
            b.term = match b.term {
                Term::Jump(t) => Term::Jump(new_index[t as usize]),
                Term::Branch { cond, then, els } => Term::Branch {
                    cond,
                    then: new_index[then as usize],
                    els: new_index[els as usize],
                },
                Term::Return => Term::Return,
            };
            b
        })
        .collect();
}
