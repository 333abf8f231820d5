//! The eBPF back end against the real kernel: hand-built IR is emitted, wrapped in
//! an ELF, loaded with aya (the verifier must accept it), attached to
//! `syscalls:sys_enter_getpid` and triggered with `getpid()` from the test thread.
//! Every program filters on the test thread's tid so parallel tests and other
//! processes do not disturb the exact counts.

use aya::maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{KProbe, PerfEvent, TracePoint, UProbe};
use aya::{Ebpf, EbpfLoader};
use rtrace_compiler::bpf::{
    disassemble, emit_function, map_object_name, write_elf, BpfProgram, EmitError, EmitOptions,
};
use rtrace_compiler::ir::*;
use rtrace_stdlib::types::Type;

const GETPID: &str = "tracepoint/syscalls/sys_enter_getpid";

// ---------------------------------------------------------------- IR building

/// Appends instructions to the current block of a function.
struct Fb {
    f: Function,
    cur: BlockId,
}

impl Fb {
    fn new(name: &str) -> Fb {
        Fb {
            f: Function::new(name, Context::Tracepoint),
            cur: 0,
        }
    }

    /// A function whose body only runs for thread `tid`.
    fn filtered(name: &str, tid: i64) -> Fb {
        let mut b = Fb::new(name);
        let t = b.builtin(Builtin::Tid);
        let c = b.cmp(Cond::Eq, t, Operand::Imm(tid));
        let body = b.f.new_block();
        let out = b.f.new_block();
        b.term(Term::Branch {
            cond: c,
            then: body,
            els: out,
        });
        b.cur = body;
        b
    }

    fn push(&mut self, inst: Inst) {
        self.f.blocks[self.cur as usize].insts.push(inst);
    }

    fn term(&mut self, t: Term) {
        self.f.blocks[self.cur as usize].term = t;
    }

    fn vreg(&mut self) -> VReg {
        self.f.new_vreg()
    }

    fn slot(&mut self, size: u32) -> SlotId {
        self.f.new_slot(size)
    }

    fn konst(&mut self, value: i64) -> VReg {
        let dst = self.vreg();
        self.push(Inst::Const { dst, value });
        dst
    }

    fn bin(&mut self, op: BinOp, a: VReg, b: Operand) -> VReg {
        let dst = self.vreg();
        self.push(Inst::Bin { dst, op, a, b });
        dst
    }

    fn cmp(&mut self, cond: Cond, a: VReg, b: Operand) -> VReg {
        let dst = self.vreg();
        self.push(Inst::Cmp { dst, cond, a, b });
        dst
    }

    fn builtin(&mut self, which: Builtin) -> VReg {
        let dst = self.vreg();
        self.push(Inst::Builtin { dst, which });
        dst
    }

    fn load(&mut self, mem: Mem, size: u8, signed: bool) -> VReg {
        let dst = self.vreg();
        self.push(Inst::Load {
            dst,
            mem,
            size,
            signed,
        });
        dst
    }

    fn store(&mut self, mem: Mem, src: Operand, size: u8) {
        self.push(Inst::Store { mem, src, size });
    }

    /// Store a u64 into `slot` at `off`.
    fn store_reg(&mut self, slot: SlotId, off: u32, v: VReg) {
        self.store(Mem::at(slot, off), Operand::Reg(v), 8);
    }

    /// `@map[u32 index] = v` for an Array map with u64 values.
    fn array_write(&mut self, map: MapId, index: u32, v: VReg, key: SlotId, val: SlotId) {
        self.store(Mem::at(key, 0), Operand::Imm(i64::from(index)), 4);
        self.store_reg(val, 0, v);
        self.push(Inst::MapWrite {
            map,
            key: Some(Mem::at(key, 0)),
            src: Mem::at(val, 0),
        });
    }

    fn finish(self) -> Function {
        self.f
    }
}

fn map(kind: MapKind, key_size: u32, value_size: u32, max_entries: u32, value: Type) -> MapSpec {
    MapSpec {
        name: "@".to_string(),
        kind,
        key_size,
        value_size,
        max_entries,
        key_type: Type::None,
        value_type: value,
    }
}

fn ring_buffer() -> MapSpec {
    map(MapKind::RingBuf, 0, 0, 256 * 1024, Type::None)
}

// ---------------------------------------------------------------- kernel glue

fn tid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

fn getpid_times(n: usize) {
    for _ in 0..n {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() };
    }
}

fn emit(module: &Module, f: &Function) -> BpfProgram {
    emit_with(module, f, &EmitOptions::default())
}

fn emit_with(module: &Module, f: &Function, opts: &EmitOptions) -> BpfProgram {
    emit_function(module, f, opts).unwrap_or_else(|e| panic!("emit {}: {e}", f.name))
}

fn ensure_tracefs() {
    if !std::path::Path::new("/sys/kernel/tracing/events").exists() {
        let status = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting tracefs failed");
    }
}

/// Load programs (verifier must accept) without attaching.
fn load(module: &Module, progs: &[(BpfProgram, &str)]) -> Ebpf {
    let sections: Vec<(BpfProgram, String)> = progs
        .iter()
        .map(|(p, s)| (p.clone(), s.to_string()))
        .collect();
    let bytes = write_elf(module, &sections);
    let mut ebpf = EbpfLoader::new()
        .load(&bytes)
        .unwrap_or_else(|e| panic!("aya could not load the ELF: {e:?}"));
    for (p, section) in progs {
        let prog = ebpf
            .program_mut(&p.name)
            .unwrap_or_else(|| panic!("program {} not found in the ELF", p.name));
        let loaded = if section.starts_with("tracepoint/") {
            <&mut TracePoint>::try_from(prog).unwrap().load()
        } else if section.starts_with("perf_event") {
            <&mut PerfEvent>::try_from(prog).unwrap().load()
        } else if section.starts_with("uprobe") {
            <&mut UProbe>::try_from(prog).unwrap().load()
        } else {
            <&mut KProbe>::try_from(prog).unwrap().load()
        };
        if let Err(e) = loaded {
            panic!("the verifier rejected {}: {e}\n{}", p.name, disassemble(p));
        }
    }
    ebpf
}

/// Emit, load and attach every function to sys_enter_getpid.
fn attach(module: &Module, funcs: &[&Function], opts: &EmitOptions) -> Ebpf {
    ensure_tracefs();
    let progs: Vec<(BpfProgram, &str)> = funcs
        .iter()
        .map(|f| (emit_with(module, f, opts), GETPID))
        .collect();
    let mut ebpf = load(module, &progs);
    for f in funcs {
        let tp: &mut TracePoint = ebpf.program_mut(&f.name).unwrap().try_into().unwrap();
        tp.attach("syscalls", "sys_enter_getpid")
            .unwrap_or_else(|e| panic!("attach {}: {e}", f.name));
    }
    ebpf
}

fn name(id: MapId) -> String {
    map_object_name(id)
}

fn percpu_array_sum(ebpf: &Ebpf, id: MapId, index: u32) -> u64 {
    let m: PerCpuArray<_, u64> = PerCpuArray::try_from(ebpf.map(&name(id)).unwrap()).unwrap();
    m.get(&index, 0).unwrap().iter().sum()
}

fn percpu_array_pairs(ebpf: &Ebpf, id: MapId, index: u32) -> Vec<[u64; 2]> {
    let m: PerCpuArray<_, [u64; 2]> = PerCpuArray::try_from(ebpf.map(&name(id)).unwrap()).unwrap();
    m.get(&index, 0).unwrap().iter().copied().collect()
}

fn percpu_hash_get<K: aya::Pod, V: aya::Pod + Copy>(ebpf: &Ebpf, id: MapId, key: &K) -> Vec<V> {
    let m: PerCpuHashMap<_, K, V> = PerCpuHashMap::try_from(ebpf.map(&name(id)).unwrap()).unwrap();
    m.get(key, 0).unwrap().iter().copied().collect()
}

fn set_input(ebpf: &mut Ebpf, id: MapId, value: i64) {
    let mut m: Array<_, u64> = Array::try_from(ebpf.map_mut(&name(id)).unwrap()).unwrap();
    m.set(0, value as u64, 0).unwrap();
}

// ---------------------------------------------------------------- counts

/// `@ = count()`: keyless per-CPU array count.
fn count_fn(fb: &mut Fb, map: MapId) {
    fb.push(Inst::MapAgg {
        map,
        key: None,
        op: AggOp::Count,
        val: Operand::Imm(0),
    });
}

#[test]
fn keyless_count_is_exact() {
    let module = Module {
        maps: vec![map(MapKind::PerCpuArray, 4, 8, 1, Type::Count)],
        ..Module::default()
    };
    let mut fb = Fb::filtered("count_exact", tid());
    count_fn(&mut fb, 0);
    let f = fb.finish();
    let ebpf = attach(&module, &[&f], &EmitOptions::default());
    getpid_times(7);
    assert_eq!(percpu_array_sum(&ebpf, 0, 0), 7);
    getpid_times(5);
    assert_eq!(percpu_array_sum(&ebpf, 0, 0), 12);
}

fn thread_comm() -> [u8; 16] {
    let text = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let mut comm = [0u8; 16];
    let name = text.trim_end_matches('\n').as_bytes();
    comm[..name.len()].copy_from_slice(name);
    comm
}

#[test]
fn count_by_comm_uses_a_string_key() {
    let module = Module {
        maps: vec![map(MapKind::PerCpuHash, 16, 8, 64, Type::Count)],
        ..Module::default()
    };
    let mut fb = Fb::filtered("count_comm", tid());
    let key = fb.slot(16);
    fb.push(Inst::Comm {
        dst: Mem::at(key, 0),
    });
    fb.push(Inst::MapAgg {
        map: 0,
        key: Some(Mem::at(key, 0)),
        op: AggOp::Count,
        val: Operand::Imm(0),
    });
    let f = fb.finish();
    let ebpf = attach(&module, &[&f], &EmitOptions::default());
    getpid_times(9);
    let per_cpu: Vec<u64> = percpu_hash_get(&ebpf, 0, &thread_comm());
    assert_eq!(per_cpu.iter().sum::<u64>(), 9);
}

// ---------------------------------------------------------------- aggregations

/// Append IR that computes the hist() bucket of `v` (negative → 0, zero → 1,
/// [2^k, 2^(k+1)) → k + 2) and returns the vreg holding it. Leaves `fb` in the
/// join block.
fn hist_bucket(fb: &mut Fb, v: VReg) -> VReg {
    let idx = fb.vreg();
    let neg = fb.cmp(Cond::SLt, v, Operand::Imm(0));
    let (b_neg, b_nonneg, b_zero, b_pos, b_done) = (
        fb.f.new_block(),
        fb.f.new_block(),
        fb.f.new_block(),
        fb.f.new_block(),
        fb.f.new_block(),
    );
    fb.term(Term::Branch {
        cond: neg,
        then: b_neg,
        els: b_nonneg,
    });
    fb.cur = b_neg;
    fb.push(Inst::Const { dst: idx, value: 0 });
    fb.term(Term::Jump(b_done));
    fb.cur = b_nonneg;
    let zero = fb.cmp(Cond::Eq, v, Operand::Imm(0));
    fb.term(Term::Branch {
        cond: zero,
        then: b_zero,
        els: b_pos,
    });
    fb.cur = b_zero;
    fb.push(Inst::Const { dst: idx, value: 1 });
    fb.term(Term::Jump(b_done));
    fb.cur = b_pos;
    let x = fb.vreg();
    fb.push(Inst::Mov { dst: x, src: v });
    fb.push(Inst::Const { dst: idx, value: 2 });
    for s in [32i64, 16, 8, 4, 2, 1] {
        let big = fb.cmp(Cond::UGt, x, Operand::Imm((1i64 << s) - 1));
        let (shift, next) = (fb.f.new_block(), fb.f.new_block());
        fb.term(Term::Branch {
            cond: big,
            then: shift,
            els: next,
        });
        fb.cur = shift;
        fb.push(Inst::Bin {
            dst: x,
            op: BinOp::LShr,
            a: x,
            b: Operand::Imm(s),
        });
        fb.push(Inst::Bin {
            dst: idx,
            op: BinOp::Add,
            a: idx,
            b: Operand::Imm(s),
        });
        fb.term(Term::Jump(next));
        fb.cur = next;
    }
    fb.term(Term::Jump(b_done));
    fb.cur = b_done;
    idx
}

fn hist_index(v: i64) -> u32 {
    match v {
        v if v < 0 => 0,
        0 => 1,
        v => 2 + (63 - v.leading_zeros()),
    }
}

fn merge_min_max(per_cpu: &[[u64; 2]], min: bool) -> Option<i64> {
    per_cpu
        .iter()
        .filter(|v| v[1] != 0)
        .map(|v| v[0] as i64)
        .reduce(|a, b| if min { a.min(b) } else { a.max(b) })
}

#[test]
fn aggregations_count_sum_min_max_hist() {
    const INPUT: MapId = 0;
    const COUNT: MapId = 1;
    const HIST: MapId = 2;
    const STATS: MapId = 3;
    const PARITY: MapId = 4;
    const MIN: MapId = 5;
    const MAX: MapId = 6;
    const SUM5: MapId = 7;
    const PLAIN: MapId = 8;
    let module = Module {
        maps: vec![
            map(MapKind::Array, 4, 8, 1, Type::I64),
            map(MapKind::PerCpuArray, 4, 8, 1, Type::Count),
            map(MapKind::PerCpuArray, 4, 8, 66, Type::Hist),
            map(MapKind::PerCpuArray, 4, 16, 1, Type::Stats),
            map(MapKind::PerCpuHash, 8, 8, 16, Type::Count),
            map(MapKind::PerCpuHash, 8, 16, 16, Type::Min),
            map(MapKind::PerCpuHash, 8, 16, 16, Type::Max),
            map(MapKind::PerCpuHash, 8, 16, 16, Type::Sum),
            map(MapKind::Hash, 8, 8, 4, Type::Count),
        ],
        ..Module::default()
    };
    let mut fb = Fb::filtered("aggs", tid());
    let key4 = fb.slot(4);
    let input = fb.slot(8);
    let key8 = fb.slot(8);
    fb.store(Mem::at(key4, 0), Operand::Imm(0), 4);
    fb.push(Inst::MapRead {
        map: INPUT,
        key: Some(Mem::at(key4, 0)),
        dst: Mem::at(input, 0),
        found: None,
    });
    let v = fb.load(Mem::at(input, 0), 8, true);
    count_fn(&mut fb, COUNT);
    let agg = |fb: &mut Fb, map, key: Option<SlotId>, op, val| {
        fb.push(Inst::MapAgg {
            map,
            key: key.map(|k| Mem::at(k, 0)),
            op,
            val,
        })
    };
    agg(&mut fb, STATS, None, AggOp::Add, Operand::Reg(v));
    let parity = fb.bin(BinOp::And, v, Operand::Imm(1));
    fb.store_reg(key8, 0, parity);
    agg(&mut fb, PARITY, Some(key8), AggOp::Count, Operand::Imm(0));
    fb.store(Mem::at(key8, 0), Operand::Imm(0), 8);
    agg(&mut fb, MIN, Some(key8), AggOp::Min, Operand::Reg(v));
    agg(&mut fb, MAX, Some(key8), AggOp::Max, Operand::Reg(v));
    agg(&mut fb, SUM5, Some(key8), AggOp::Add, Operand::Imm(5));
    agg(&mut fb, PLAIN, None, AggOp::Count, Operand::Imm(0));
    let bucket = hist_bucket(&mut fb, v);
    let hkey = fb.slot(4);
    fb.store(Mem::at(hkey, 0), Operand::Reg(bucket), 4);
    agg(&mut fb, HIST, Some(hkey), AggOp::Count, Operand::Imm(0));
    let f = fb.finish();

    let mut ebpf = attach(&module, &[&f], &EmitOptions::default());
    let values = [5i64, -3, 0, 1000, 1, 1 << 40, -(1 << 40), 7, 1000];
    for &v in &values {
        set_input(&mut ebpf, INPUT, v);
        getpid_times(1);
    }
    let n = values.len() as u64;
    assert_eq!(percpu_array_sum(&ebpf, COUNT, 0), n);

    let stats = percpu_array_pairs(&ebpf, STATS, 0);
    let total: i64 = stats.iter().map(|p| p[0] as i64).sum();
    let count: u64 = stats.iter().map(|p| p[1]).sum();
    assert_eq!((total, count), (values.iter().sum::<i64>(), n));

    let odd = values.iter().filter(|v| *v & 1 == 1).count() as u64;
    let sum = |per_cpu: Vec<u64>| per_cpu.iter().sum::<u64>();
    assert_eq!(sum(percpu_hash_get(&ebpf, PARITY, &1u64)), odd);
    assert_eq!(sum(percpu_hash_get(&ebpf, PARITY, &0u64)), n - odd);

    let mins: Vec<[u64; 2]> = percpu_hash_get(&ebpf, MIN, &0u64);
    let maxs: Vec<[u64; 2]> = percpu_hash_get(&ebpf, MAX, &0u64);
    assert_eq!(merge_min_max(&mins, true), Some(-(1 << 40)));
    assert_eq!(merge_min_max(&maxs, false), Some(1 << 40));

    let sum5: Vec<[u64; 2]> = percpu_hash_get(&ebpf, SUM5, &0u64);
    let total5: u64 = sum5.iter().map(|p| p[0]).sum();
    let count5: u64 = sum5.iter().map(|p| p[1]).sum();
    assert_eq!((total5, count5), (5 * n, n));

    let plain: HashMap<_, u64, u64> = HashMap::try_from(ebpf.map(&name(PLAIN)).unwrap()).unwrap();
    assert_eq!(plain.get(&0, 0).unwrap(), n);

    for bucket in 0..66u32 {
        let expected = values.iter().filter(|&&v| hist_index(v) == bucket).count() as u64;
        assert_eq!(
            percpu_array_sum(&ebpf, HIST, bucket),
            expected,
            "hist bucket {bucket}"
        );
    }
    // The 1000s land in [512, 1024): bucket 2 + 9.
    assert_eq!(percpu_array_sum(&ebpf, HIST, 11), 2);
}

// ---------------------------------------------------------------- arithmetic

#[derive(Clone, Copy, Debug)]
enum B {
    Reg(i64),
    Imm(i64),
}

impl B {
    fn value(self) -> i64 {
        match self {
            B::Reg(v) | B::Imm(v) => v,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Expr {
    Const(i64),
    Bin(BinOp, i64, B),
    Cmp(Cond, i64, B),
    Neg(i64),
    Not(i64),
    Ext(i64, u8, bool),
    /// Store 8 bytes, load `size` bytes back (signed or not).
    StoreLoad(i64, u8, bool),
}

/// The IR's documented semantics, evaluated in Rust.
fn expected(e: Expr) -> u64 {
    let r = match e {
        Expr::Const(v) => v,
        Expr::Bin(op, a, b) => {
            let b = b.value();
            let (ua, ub) = (a as u64, b as u64);
            match op {
                BinOp::Add => a.wrapping_add(b),
                BinOp::Sub => a.wrapping_sub(b),
                BinOp::Mul => a.wrapping_mul(b),
                BinOp::UDiv => ua.checked_div(ub).unwrap_or(0) as i64,
                BinOp::SDiv if b == 0 => 0,
                BinOp::SDiv => a.wrapping_div(b),
                BinOp::URem => ua.checked_rem(ub).unwrap_or(ua) as i64,
                BinOp::SRem if b == 0 => a,
                BinOp::SRem => a.wrapping_rem(b),
                BinOp::And => a & b,
                BinOp::Or => a | b,
                BinOp::Xor => a ^ b,
                BinOp::Shl => a.wrapping_shl((b & 63) as u32),
                BinOp::LShr => (ua >> (b & 63)) as i64,
                BinOp::AShr => a >> (b & 63),
            }
        }
        Expr::Cmp(c, a, b) => {
            let b = b.value();
            let (ua, ub) = (a as u64, b as u64);
            i64::from(match c {
                Cond::Eq => a == b,
                Cond::Ne => a != b,
                Cond::ULt => ua < ub,
                Cond::ULe => ua <= ub,
                Cond::UGt => ua > ub,
                Cond::UGe => ua >= ub,
                Cond::SLt => a < b,
                Cond::SLe => a <= b,
                Cond::SGt => a > b,
                Cond::SGe => a >= b,
            })
        }
        Expr::Neg(a) => a.wrapping_neg(),
        Expr::Not(a) => !a,
        Expr::Ext(a, bits, signed) | Expr::StoreLoad(a, bits, signed) => {
            let bits = if matches!(e, Expr::StoreLoad(..)) {
                bits * 8
            } else {
                bits
            };
            let shift = 64 - u32::from(bits);
            if signed {
                (a << shift) >> shift
            } else {
                ((a as u64) << shift >> shift) as i64
            }
        }
    };
    r as u64
}

fn arithmetic_table() -> Vec<Expr> {
    use BinOp::*;
    use Cond::*;
    let mut t = vec![
        Expr::Const(0),
        Expr::Const(-1),
        Expr::Const(0x7fff_ffff),
        Expr::Const(0xffff_ffff),
        Expr::Const(0x1_0000_0000),
        Expr::Const(i64::MIN),
        Expr::Const(0x1234_5678_9abc_def0),
        Expr::Bin(Add, i64::MAX, B::Reg(1)),
        Expr::Bin(Add, 5, B::Imm(-7)),
        Expr::Bin(Add, 5, B::Imm(0x1_0000_0000)),
        Expr::Bin(Sub, 5, B::Reg(7)),
        Expr::Bin(Sub, 5, B::Imm(7)),
        Expr::Bin(Mul, -3, B::Reg(7)),
        Expr::Bin(Mul, i64::MAX, B::Imm(3)),
        Expr::Bin(UDiv, 100, B::Reg(7)),
        Expr::Bin(UDiv, 100, B::Reg(0)),
        Expr::Bin(UDiv, -100, B::Reg(7)),
        Expr::Bin(UDiv, 100, B::Imm(7)),
        Expr::Bin(UDiv, 100, B::Imm(0)),
        Expr::Bin(SDiv, -100, B::Reg(7)),
        Expr::Bin(SDiv, 100, B::Reg(-7)),
        Expr::Bin(SDiv, -100, B::Reg(0)),
        Expr::Bin(SDiv, i64::MIN, B::Reg(-1)),
        Expr::Bin(SDiv, -100, B::Imm(7)),
        Expr::Bin(SDiv, -100, B::Imm(0)),
        Expr::Bin(URem, 100, B::Reg(7)),
        Expr::Bin(URem, 100, B::Reg(0)),
        Expr::Bin(URem, -100, B::Reg(7)),
        Expr::Bin(URem, 100, B::Imm(0)),
        Expr::Bin(SRem, -100, B::Reg(7)),
        Expr::Bin(SRem, 100, B::Reg(-7)),
        Expr::Bin(SRem, -100, B::Reg(0)),
        Expr::Bin(SRem, i64::MIN, B::Reg(-1)),
        Expr::Bin(SRem, -100, B::Imm(7)),
        Expr::Bin(SRem, -100, B::Imm(0)),
        Expr::Bin(And, -1, B::Imm(0xffff_ffff)),
        Expr::Bin(And, 0x1234_5678_9abc_def0, B::Reg(0xff00)),
        Expr::Bin(Or, 0x10, B::Imm(-0x100)),
        Expr::Bin(Xor, -1, B::Reg(0x0f0f)),
        Expr::Bin(Shl, 1, B::Reg(63)),
        Expr::Bin(Shl, 1, B::Reg(64)),
        Expr::Bin(Shl, 1, B::Reg(65)),
        Expr::Bin(Shl, 1, B::Imm(65)),
        Expr::Bin(Shl, 3, B::Imm(64)),
        Expr::Bin(LShr, -1, B::Reg(60)),
        Expr::Bin(LShr, -1, B::Imm(124)),
        Expr::Bin(AShr, -16, B::Reg(2)),
        Expr::Bin(AShr, -16, B::Reg(66)),
        Expr::Bin(AShr, i64::MIN, B::Imm(63)),
        Expr::Neg(5),
        Expr::Neg(i64::MIN),
        Expr::Not(0x0f),
        Expr::Ext(-1, 8, false),
        Expr::Ext(-1, 8, true),
        Expr::Ext(0x1234_5678_9abc_def0, 16, true),
        Expr::Ext(0x1234_5678_9abc_def0, 16, false),
        Expr::Ext(0x1234_5678_9abc_def0, 32, true),
        Expr::Ext(0x1234_5678_9abc_def0, 32, false),
        Expr::Ext(0x7f, 8, true),
        Expr::StoreLoad(-2, 1, true),
        Expr::StoreLoad(-2, 4, false),
        Expr::StoreLoad(0x1234_5678_9abc_def0, 2, true),
        Expr::StoreLoad(0x1234_5678_9abc_def0, 8, false),
    ];
    for c in [Eq, Ne, ULt, ULe, UGt, UGe, SLt, SLe, SGt, SGe] {
        t.push(Expr::Cmp(c, -1, B::Reg(1)));
        t.push(Expr::Cmp(c, 1, B::Imm(-1)));
        t.push(Expr::Cmp(c, 7, B::Reg(7)));
        t.push(Expr::Cmp(c, 7, B::Imm(0x1_0000_0000)));
    }
    t
}

fn operand(fb: &mut Fb, b: B) -> Operand {
    match b {
        B::Reg(v) => Operand::Reg(fb.konst(v)),
        B::Imm(v) => Operand::Imm(v),
    }
}

/// Operands of an expression as vregs (created up front in the pressure variant).
struct Prepared {
    a: Option<VReg>,
    b: Option<Operand>,
}

fn prepare(fb: &mut Fb, e: Expr) -> Prepared {
    match e {
        Expr::Const(_) => Prepared { a: None, b: None },
        Expr::Bin(_, a, b) | Expr::Cmp(_, a, b) => Prepared {
            a: Some(fb.konst(a)),
            b: Some(operand(fb, b)),
        },
        Expr::Neg(a) | Expr::Not(a) | Expr::Ext(a, ..) | Expr::StoreLoad(a, ..) => Prepared {
            a: Some(fb.konst(a)),
            b: None,
        },
    }
}

fn compute(fb: &mut Fb, e: Expr, p: &Prepared, tmp: SlotId) -> VReg {
    let a = p.a.unwrap_or(0);
    let b = p.b.unwrap_or(Operand::Imm(0));
    match e {
        Expr::Const(v) => fb.konst(v),
        Expr::Bin(op, ..) => fb.bin(op, a, b),
        Expr::Cmp(c, ..) => fb.cmp(c, a, b),
        Expr::Neg(_) | Expr::Not(_) => {
            let dst = fb.vreg();
            fb.push(if matches!(e, Expr::Neg(_)) {
                Inst::Neg { dst, src: a }
            } else {
                Inst::Not { dst, src: a }
            });
            dst
        }
        Expr::Ext(_, bits, signed) => {
            let dst = fb.vreg();
            fb.push(Inst::Ext {
                dst,
                src: a,
                bits,
                signed,
            });
            dst
        }
        Expr::StoreLoad(_, size, signed) => {
            fb.store_reg(tmp, 0, a);
            fb.load(Mem::at(tmp, 0), size, signed)
        }
    }
}

/// Build the table program. With `pressure`, each group of 12 expressions first
/// creates all operands, then all results, then stores them, so far more values
/// are live than there are registers.
fn arithmetic_fn(name: &str, table: &[Expr], pressure: bool) -> Function {
    let mut fb = Fb::filtered(name, tid());
    let (key, val, tmp) = (fb.slot(4), fb.slot(8), fb.slot(8));
    let group = if pressure { 12 } else { 1 };
    for (g, chunk) in table.chunks(group).enumerate() {
        let prepared: Vec<Prepared> = chunk.iter().map(|&e| prepare(&mut fb, e)).collect();
        let results: Vec<VReg> = chunk
            .iter()
            .zip(&prepared)
            .map(|(&e, p)| compute(&mut fb, e, p, tmp))
            .collect();
        for (i, r) in results.into_iter().enumerate() {
            fb.array_write(0, (g * group + i) as u32, r, key, val);
        }
    }
    fb.finish()
}

fn check_arithmetic(pressure: bool) {
    let table = arithmetic_table();
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, table.len() as u32, Type::I64)],
        ..Module::default()
    };
    let name = if pressure { "arith_spill" } else { "arith" };
    let f = arithmetic_fn(name, &table, pressure);
    let ebpf = attach(&module, &[&f], &EmitOptions::default());
    getpid_times(1);
    let results: Array<_, u64> = Array::try_from(ebpf.map(&map_object_name(0)).unwrap()).unwrap();
    for (i, &e) in table.iter().enumerate() {
        let got = results.get(&(i as u32), 0).unwrap();
        assert_eq!(got, expected(e), "entry {i}: {e:?} gave {got:#x}");
    }
}

#[test]
fn arithmetic_matches_ir_semantics() {
    check_arithmetic(false);
}

#[test]
fn arithmetic_under_register_pressure_spills_correctly() {
    let table = arithmetic_table();
    let f = arithmetic_fn("arith_spill", &table, true);
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, table.len() as u32, Type::I64)],
        ..Module::default()
    };
    let prog = emit(&module, &f);
    let text = disassemble(&prog);
    assert!(
        text.contains("*(u64 *)(r10 - 8) = r"),
        "the pressure variant should spill:\n{text}"
    );
    check_arithmetic(true);
}

/// 30 values live across helper calls and a loop whose body touches a slot.
#[test]
fn many_live_values_survive_calls_and_loops() {
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, 2, Type::I64)],
        ..Module::default()
    };
    let mut fb = Fb::filtered("pressure", tid());
    let (key, val, acc) = (fb.slot(4), fb.slot(8), fb.slot(8));
    let values: Vec<VReg> = (0..30).map(|i| fb.konst(i * 7 + 3)).collect();
    let _ = fb.builtin(Builtin::Nsecs);
    let mut sum = fb.konst(0);
    for (i, &v) in values.iter().enumerate() {
        let _ = fb.builtin(Builtin::Cpu);
        let scaled = fb.bin(BinOp::Mul, v, Operand::Imm(i as i64 + 1));
        sum = fb.bin(BinOp::Add, sum, Operand::Reg(scaled));
    }
    fb.array_write(0, 0, sum, key, val);

    // loop: i = 0; acc = 0; while i < 10 { acc += i (through a slot); i += 1 }
    let i = fb.konst(0);
    fb.store(Mem::at(acc, 0), Operand::Imm(0), 8);
    let (head, body, exit) = (fb.f.new_block(), fb.f.new_block(), fb.f.new_block());
    fb.term(Term::Jump(head));
    fb.cur = head;
    let more = fb.cmp(Cond::ULt, i, Operand::Imm(10));
    fb.term(Term::Branch {
        cond: more,
        then: body,
        els: exit,
    });
    fb.cur = body;
    let old = fb.load(Mem::at(acc, 0), 8, false);
    let new = fb.bin(BinOp::Add, old, Operand::Reg(i));
    fb.store_reg(acc, 0, new);
    fb.push(Inst::Bin {
        dst: i,
        op: BinOp::Add,
        a: i,
        b: Operand::Imm(1),
    });
    fb.term(Term::Jump(head));
    fb.cur = exit;
    let total = fb.load(Mem::at(acc, 0), 8, false);
    fb.array_write(0, 1, total, key, val);
    let f = fb.finish();

    let ebpf = attach(&module, &[&f], &EmitOptions::default());
    getpid_times(1);
    let results: Array<_, u64> = Array::try_from(ebpf.map(&map_object_name(0)).unwrap()).unwrap();
    let expected: i64 = (0..30).map(|i| (i * 7 + 3) * (i + 1)).sum();
    assert_eq!(results.get(&0, 0).unwrap(), expected as u64);
    assert_eq!(results.get(&1, 0).unwrap(), 45);
}

// ---------------------------------------------------------------- everything else

static HELLO: [u8; 32] = *b"hello rtrace\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn cgroup_v2_id() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    for root in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        let dir = format!("{root}{path}");
        if let Ok(meta) = std::fs::metadata(&dir) {
            if std::fs::metadata(format!("{root}/cgroup.controllers")).is_ok() {
                return Some(meta.ino());
            }
        }
    }
    None
}

/// Stores `text` (≤ 32 bytes) into a zeroed 32-byte slot with 8-byte stores.
fn string_literal(fb: &mut Fb, text: &[u8]) -> SlotId {
    let s = fb.slot(32);
    fb.push(Inst::Zero {
        mem: Mem::at(s, 0),
        len: 32,
    });
    for (i, chunk) in text.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        fb.store(
            Mem::at(s, i as u32 * 8),
            Operand::Imm(i64::from_le_bytes(word)),
            8,
        );
    }
    s
}

/// Record layout of the kitchen-sink program (byte offsets).
mod rec {
    pub const ID: usize = 0;
    pub const PID: usize = 8;
    pub const TID: usize = 16;
    pub const UID: usize = 24;
    pub const GID: usize = 32;
    pub const NSECS: usize = 40;
    pub const ELAPSED: usize = 48;
    pub const CPU: usize = 56;
    pub const RAND: usize = 64;
    pub const CGROUP: usize = 72;
    pub const TASK: usize = 80;
    pub const CTX_HDR: usize = 88;
    pub const CTX_NR: usize = 96;
    pub const COMM: usize = 104;
    pub const USTR: usize = 120;
    pub const EQ_SAME: usize = 152;
    pub const EQ_DIFF: usize = 160;
    pub const KREAD: usize = 168;
    pub const KSTR: usize = 176;
    pub const FOUND: usize = 184;
    pub const VALUE: usize = 192;
    pub const MISSING: usize = 200;
    pub const MISSING_VALUE: usize = 208;
    pub const EQ_PREFIX: usize = 216;
    pub const LEN: u32 = 224;
}

fn kitchen_sink_fn(my_tid: i64) -> Function {
    let mut fb = Fb::filtered("sink", my_tid);
    let r = fb.slot(rec::LEN);
    let at = |off: usize| Mem::at(r, off as u32);
    fb.push(Inst::Zero {
        mem: at(0),
        len: rec::LEN,
    });
    fb.store(at(rec::ID), Operand::Imm(7), 8);
    let builtins = [
        (Builtin::Pid, rec::PID),
        (Builtin::Tid, rec::TID),
        (Builtin::Uid, rec::UID),
        (Builtin::Gid, rec::GID),
        (Builtin::Nsecs, rec::NSECS),
        (Builtin::Elapsed, rec::ELAPSED),
        (Builtin::Cpu, rec::CPU),
        (Builtin::Rand, rec::RAND),
        (Builtin::Cgroup, rec::CGROUP),
        (Builtin::CurTask, rec::TASK),
    ];
    for (which, off) in builtins {
        let v = fb.builtin(which);
        fb.store(at(off), Operand::Reg(v), 8);
    }
    // Context fields: the upper half of the header (an indirect load: BPF may not
    // touch the first 8 bytes directly) and __syscall_nr (int at 8, direct).
    for (ctx_off, off) in [(4, rec::CTX_HDR), (8, rec::CTX_NR)] {
        let dst = fb.vreg();
        fb.push(Inst::CtxLoad {
            dst,
            off: ctx_off,
            size: 4,
            signed: true,
        });
        fb.store(at(off), Operand::Reg(dst), 8);
    }
    // comm via a temporary and Copy.
    let comm = fb.slot(16);
    fb.push(Inst::Comm {
        dst: Mem::at(comm, 0),
    });
    fb.push(Inst::Copy {
        dst: at(rec::COMM),
        src: Mem::at(comm, 0),
        len: 16,
    });
    // A user string, compared with literals.
    let addr = fb.konst(HELLO.as_ptr() as i64);
    fb.push(Inst::ReadStr {
        dst: at(rec::USTR),
        len: 32,
        addr,
        user: true,
    });
    let same = string_literal(&mut fb, b"hello rtrace");
    let diff = string_literal(&mut fb, b"hello rtracf");
    let prefix = string_literal(&mut fb, b"hello");
    for (lit, off) in [
        (same, rec::EQ_SAME),
        (diff, rec::EQ_DIFF),
        (prefix, rec::EQ_PREFIX),
    ] {
        let dst = fb.vreg();
        fb.push(Inst::StrEq {
            dst,
            a: at(rec::USTR),
            b: Mem::at(lit, 0),
            len: 32,
        });
        fb.store(at(off), Operand::Reg(dst), 8);
    }
    // Kernel reads through the context's address.
    let ctx = fb.vreg();
    fb.push(Inst::CtxAddr { dst: ctx, off: 0 });
    fb.push(Inst::Read {
        dst: at(rec::KREAD),
        len: 8,
        addr: ctx,
        user: false,
    });
    let nr_addr = fb.vreg();
    fb.push(Inst::CtxAddr {
        dst: nr_addr,
        off: 8,
    });
    fb.push(Inst::ReadStr {
        dst: at(rec::KSTR),
        len: 8,
        addr: nr_addr,
        user: false,
    });
    // Map reads: key 1 exists (user space put 1234 there), key 2 does not.
    let key = fb.slot(8);
    for (k, found_off, value_off) in [
        (1, rec::FOUND, rec::VALUE),
        (2, rec::MISSING, rec::MISSING_VALUE),
    ] {
        fb.store(Mem::at(key, 0), Operand::Imm(k), 8);
        let found = fb.vreg();
        fb.push(Inst::MapRead {
            map: 1,
            key: Some(Mem::at(key, 0)),
            dst: at(value_off),
            found: Some(found),
        });
        fb.store(at(found_off), Operand::Reg(found), 8);
    }
    // Delete key 3, then write out[tid] = pid.
    fb.store(Mem::at(key, 0), Operand::Imm(3), 8);
    fb.push(Inst::MapDelete {
        map: 1,
        key: Some(Mem::at(key, 0)),
    });
    fb.push(Inst::Emit {
        mem: at(0),
        len: rec::LEN,
    });
    let t = fb.builtin(Builtin::Tid);
    let p = fb.builtin(Builtin::Pid);
    let value = fb.slot(8);
    fb.store_reg(key, 0, t);
    fb.store_reg(value, 0, p);
    fb.push(Inst::MapWrite {
        map: 2,
        key: Some(Mem::at(key, 0)),
        src: Mem::at(value, 0),
    });
    fb.finish()
}

fn u64_at(rec: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(rec[off..off + 8].try_into().unwrap())
}

#[test]
fn builtins_strings_ctx_map_ops_and_ring_buffer() {
    let module = Module {
        maps: vec![
            ring_buffer(),
            map(MapKind::Hash, 8, 8, 16, Type::I64),
            map(MapKind::Hash, 8, 8, 16, Type::I64),
        ],
        ..Module::default()
    };
    // Make sure the user string's page is present for probe_read_user.
    assert_eq!(std::hint::black_box(HELLO[0]), b'h');
    let me = tid();
    let start = monotonic_ns();
    let f = kitchen_sink_fn(me);
    let opts = EmitOptions { start_ns: start };
    let mut ebpf = attach(&module, &[&f], &opts);
    {
        let mut input: HashMap<_, u64, u64> =
            HashMap::try_from(ebpf.map_mut(&name(1)).unwrap()).unwrap();
        input.insert(1, 1234, 0).unwrap();
        input.insert(3, 99, 0).unwrap();
    }
    let before = monotonic_ns();
    getpid_times(1);
    let after = monotonic_ns();

    let mut ring = RingBuf::try_from(ebpf.map_mut(&name(0)).unwrap()).unwrap();
    let record = ring.next().expect("one record in the ring buffer").to_vec();
    assert!(ring.next().is_none(), "exactly one record");
    drop(ring);
    assert_eq!(record.len(), rec::LEN as usize);
    let get = |off| u64_at(&record, off);
    // SAFETY: these libc calls have no preconditions.
    let (pid, uid, gid) = unsafe { (libc::getpid(), libc::getuid(), libc::getgid()) };
    assert_eq!(get(rec::ID), 7);
    assert_eq!(get(rec::PID), pid as u64);
    assert_eq!(get(rec::TID), me as u64);
    assert_eq!(get(rec::UID), u64::from(uid));
    assert_eq!(get(rec::GID), u64::from(gid));
    let nsecs = get(rec::NSECS);
    assert!(
        (before..=after).contains(&nsecs),
        "nsecs {nsecs} in [{before}, {after}]"
    );
    // elapsed reads the clock again, a little after nsecs.
    let elapsed = get(rec::ELAPSED);
    assert!(
        (nsecs - start..=after - start).contains(&elapsed),
        "elapsed {elapsed}"
    );
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) } as u64;
    assert!(get(rec::CPU) < cpus);
    assert!(get(rec::RAND) <= u64::from(u32::MAX));
    if let Some(cg) = cgroup_v2_id() {
        assert_eq!(get(rec::CGROUP), cg);
    }
    assert!(
        get(rec::TASK) >= 0xffff_0000_0000_0000,
        "task_struct address"
    );
    assert_eq!(get(rec::CTX_NR), libc::SYS_getpid as u64);
    assert_eq!(&record[rec::COMM..rec::COMM + 16], &thread_comm());
    assert_eq!(&record[rec::USTR..rec::USTR + 32], &HELLO);
    assert_eq!(get(rec::EQ_SAME), 1);
    assert_eq!(get(rec::EQ_DIFF), 0);
    assert_eq!(get(rec::EQ_PREFIX), 0);
    // The kernel stores a pt_regs pointer over the record's first 8 bytes before
    // running BPF; the indirect CtxLoad of bytes 4..8 must see its upper half.
    let header = get(rec::KREAD);
    assert!(
        header >= 0xffff_0000_0000_0000,
        "pt_regs pointer {header:#x}"
    );
    assert_eq!(get(rec::CTX_HDR), ((header >> 32) as i32) as i64 as u64);
    let mut nr_string = [0u8; 8];
    nr_string[0] = libc::SYS_getpid as u8;
    assert_eq!(&record[rec::KSTR..rec::KSTR + 8], &nr_string);
    assert_eq!((get(rec::FOUND), get(rec::VALUE)), (1, 1234));
    assert_eq!((get(rec::MISSING), get(rec::MISSING_VALUE)), (0, 0));

    let input: HashMap<_, u64, u64> = HashMap::try_from(ebpf.map(&name(1)).unwrap()).unwrap();
    assert!(input.get(&3, 0).is_err(), "key 3 was deleted");
    assert_eq!(input.get(&1, 0).unwrap(), 1234);
    let out: HashMap<_, u64, u64> = HashMap::try_from(ebpf.map(&name(2)).unwrap()).unwrap();
    assert_eq!(out.get(&(me as u64), 0).unwrap(), pid as u64);
}

/// StrEq must pass the verifier for the common string sizes.
#[test]
fn string_compare_of_64_and_256_bytes_loads() {
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, 2, Type::I64)],
        ..Module::default()
    };
    let mut progs = Vec::new();
    for len in [64u32, 256] {
        let mut fb = Fb::filtered(&format!("streq{len}"), tid());
        let (a, b) = (fb.slot(len), fb.slot(len));
        let addr = fb.konst(HELLO.as_ptr() as i64);
        fb.push(Inst::ReadStr {
            dst: Mem::at(a, 0),
            len,
            addr,
            user: true,
        });
        fb.push(Inst::ReadStr {
            dst: Mem::at(b, 0),
            len,
            addr,
            user: true,
        });
        let eq = fb.vreg();
        fb.push(Inst::StrEq {
            dst: eq,
            a: Mem::at(a, 0),
            b: Mem::at(b, 0),
            len,
        });
        let (key, val) = (fb.slot(4), fb.slot(8));
        fb.array_write(0, if len == 64 { 0 } else { 1 }, eq, key, val);
        progs.push(fb.finish());
    }
    assert_eq!(std::hint::black_box(HELLO[0]), b'h');
    let ebpf = attach(&module, &[&progs[0], &progs[1]], &EmitOptions::default());
    getpid_times(1);
    let results: Array<_, u64> = Array::try_from(ebpf.map(&map_object_name(0)).unwrap()).unwrap();
    assert_eq!(results.get(&0, 0).unwrap(), 1);
    assert_eq!(results.get(&1, 0).unwrap(), 1);
}

// ---------------------------------------------------------------- stack

#[test]
fn more_than_512_bytes_of_live_slots_is_a_stack_limit_error() {
    let module = Module {
        maps: vec![ring_buffer()],
        ..Module::default()
    };
    let mut fb = Fb::new("big");
    let slots: Vec<SlotId> = (0..3).map(|_| fb.slot(200)).collect();
    for &s in &slots {
        fb.push(Inst::Zero {
            mem: Mem::at(s, 0),
            len: 200,
        });
    }
    for &s in &slots {
        fb.push(Inst::Emit {
            mem: Mem::at(s, 0),
            len: 200,
        });
    }
    let err = emit_function(&module, &fb.finish(), &EmitOptions::default()).unwrap_err();
    assert_eq!(
        err,
        EmitError::StackLimit {
            needed: 600,
            limit: 512
        }
    );
    assert!(err.to_string().contains("600 bytes"));
}

#[test]
fn slots_with_disjoint_lives_share_stack() {
    let module = Module {
        maps: vec![ring_buffer()],
        ..Module::default()
    };
    let mut fb = Fb::new("shared");
    for _ in 0..3 {
        let s = fb.slot(300);
        fb.push(Inst::Zero {
            mem: Mem::at(s, 0),
            len: 300,
        });
        fb.push(Inst::Emit {
            mem: Mem::at(s, 0),
            len: 300,
        });
    }
    let prog = emit(&module, &fb.finish());
    load(&module, &[(prog, GETPID)]);
}

// ---------------------------------------------------------------- disassembly & size

#[test]
fn disassembly_of_keyless_count() {
    let module = Module {
        maps: vec![map(MapKind::PerCpuArray, 4, 8, 1, Type::Count)],
        ..Module::default()
    };
    let mut fb = Fb::new("count");
    count_fn(&mut fb, 0);
    let prog = emit(&module, &fb.finish());
    let expected = "   0: *(u32 *)(r10 - 8) = 0
   1: r2 = r10
   2: r2 += -8
   3: r1 = map[rtrace_m0]
   5: call bpf_map_lookup_elem
   6: if r0 == 0 goto +3
   7: r1 = *(u64 *)(r0 + 0)
   8: r1 += 1
   9: *(u64 *)(r0 + 0) = r1
  10: r0 = 0
  11: exit
";
    assert_eq!(disassemble(&prog), expected);
}

/// Instruction counts for the bpftrace equivalents (bpftrace 0.17: 30, 31, 58, 51).
#[test]
fn instruction_counts_beat_bpftrace() {
    const READ: &str = "tracepoint/syscalls/sys_enter_read";
    let module = Module {
        maps: vec![
            map(MapKind::PerCpuArray, 4, 8, 1, Type::Count),
            map(MapKind::PerCpuHash, 16, 8, 1024, Type::Count),
            map(MapKind::PerCpuArray, 4, 8, 66, Type::Hist),
            map(MapKind::PerCpuArray, 4, 16, 1, Type::Stats),
        ],
        ..Module::default()
    };
    let mut count = Fb::new("n_count");
    count_fn(&mut count, 0);

    let mut by_comm = Fb::new("n_comm");
    let key = by_comm.slot(16);
    by_comm.push(Inst::Comm {
        dst: Mem::at(key, 0),
    });
    by_comm.push(Inst::MapAgg {
        map: 1,
        key: Some(Mem::at(key, 0)),
        op: AggOp::Count,
        val: Operand::Imm(0),
    });

    // args->count of sys_enter_read is at offset 32.
    let arg = |fb: &mut Fb| {
        let dst = fb.vreg();
        fb.push(Inst::CtxLoad {
            dst,
            off: 32,
            size: 8,
            signed: false,
        });
        dst
    };
    let mut hist = Fb::new("n_hist");
    let v = arg(&mut hist);
    let bucket = hist_bucket(&mut hist, v);
    let hkey = hist.slot(4);
    hist.store(Mem::at(hkey, 0), Operand::Reg(bucket), 4);
    hist.push(Inst::MapAgg {
        map: 2,
        key: Some(Mem::at(hkey, 0)),
        op: AggOp::Count,
        val: Operand::Imm(0),
    });

    let mut stats = Fb::new("n_stats");
    let v = arg(&mut stats);
    stats.push(Inst::MapAgg {
        map: 3,
        key: None,
        op: AggOp::Add,
        val: Operand::Reg(v),
    });

    let progs: Vec<BpfProgram> = [count, by_comm, hist, stats]
        .into_iter()
        .map(|fb| emit(&module, &fb.finish()))
        .collect();
    let counts: Vec<usize> = progs.iter().map(|p| p.insns.len()).collect();
    eprintln!(
        "eBPF instructions: @ = count(): {}, @[comm] = count(): {}, hist(): {}, stats(): {}",
        counts[0], counts[1], counts[2], counts[3]
    );
    for p in &progs {
        eprintln!("{}:\n{}", p.name, disassemble(p));
    }
    for (n, bpftrace) in counts.iter().zip([30, 31, 58, 51]) {
        assert!(
            *n <= bpftrace,
            "{n} instructions, bpftrace needs {bpftrace}"
        );
    }
    ensure_tracefs();
    let with_sections: Vec<(BpfProgram, &str)> = progs.into_iter().map(|p| (p, READ)).collect();
    load(&module, &with_sections);
}

// ---------------------------------------------------------------- other contexts

/// Loads of several widths from a context: direct where the kernel allows it,
/// through bpf_probe_read_kernel where it does not.
fn context_loads(name: &str, context: Context, fields: &[(u32, u8)]) -> Function {
    let mut fb = Fb::new(name);
    fb.f.context = context;
    let mut sum = fb.konst(0);
    for &(off, size) in fields {
        let dst = fb.vreg();
        fb.push(Inst::CtxLoad {
            dst,
            off,
            size,
            signed: size == 4,
        });
        let _ = fb.builtin(Builtin::Pid);
        sum = fb.bin(BinOp::Add, sum, Operand::Reg(dst));
    }
    let (key, val) = (fb.slot(4), fb.slot(8));
    fb.array_write(0, 0, sum, key, val);
    fb.finish()
}

#[test]
fn perf_event_kprobe_and_uprobe_contexts_pass_the_verifier() {
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, 1, Type::I64)],
        ..Module::default()
    };
    // pt_regs: di at 112, ip at 128; bpf_perf_event_data: sample_period at 168, addr at 176.
    let pt_regs = [(112, 8), (112, 4), (128, 2), (0, 8)];
    let perf = [(112, 8), (112, 4), (168, 8), (168, 4), (176, 8)];
    let progs = [
        (
            emit(
                &module,
                &context_loads("on_perf", Context::PerfEvent, &perf),
            ),
            "perf_event",
        ),
        (
            emit(
                &module,
                &context_loads("on_kprobe", Context::Kprobe, &pt_regs),
            ),
            "kprobe/do_nanosleep",
        ),
        (
            emit(
                &module,
                &context_loads("on_uprobe", Context::Kprobe, &pt_regs),
            ),
            "uprobe",
        ),
    ];
    // A 4-byte load of a perf_event register is not allowed directly.
    assert!(disassemble(&progs[0].0).contains("call bpf_probe_read_kernel"));
    assert!(!disassemble(&progs[1].0).contains("call bpf_probe_read_kernel"));
    load(&module, &progs);
}

// ---------------------------------------------------------------- control flow

#[test]
fn branches_unreachable_blocks_and_uninitialised_values() {
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, 4, Type::I64)],
        ..Module::default()
    };
    let mut fb = Fb::filtered("flow", tid());
    let (key, val) = (fb.slot(4), fb.slot(8));
    // Read before any write: the back end must zero it, not leave garbage.
    let never_set = fb.vreg();
    fb.array_write(0, 0, never_set, key, val);
    // A comparison kept in a register and used by branches in later blocks.
    let five = fb.konst(5);
    let big = fb.cmp(Cond::SGt, five, Operand::Imm(3));
    let (yes, no, join, both) = (
        fb.f.new_block(),
        fb.f.new_block(),
        fb.f.new_block(),
        fb.f.new_block(),
    );
    fb.term(Term::Branch {
        cond: big,
        then: yes,
        els: no,
    });
    let result = fb.vreg();
    fb.cur = yes;
    fb.push(Inst::Const {
        dst: result,
        value: 11,
    });
    fb.term(Term::Jump(join));
    fb.cur = no;
    fb.push(Inst::Const {
        dst: result,
        value: 22,
    });
    fb.term(Term::Jump(join));
    fb.cur = join;
    fb.array_write(0, 1, result, key, val);
    fb.term(Term::Branch {
        cond: big,
        then: both,
        els: both,
    });
    fb.cur = both;
    let c = fb.konst(33);
    fb.array_write(0, 2, c, key, val);
    // An unreachable block is never emitted, so its Emit (the module has no ring
    // buffer) is no error.
    let dead = fb.f.new_block();
    fb.f.blocks[dead as usize].insts.push(Inst::Emit {
        mem: Mem::at(val, 0),
        len: 8,
    });
    let f = fb.finish();
    let ebpf = attach(&module, &[&f], &EmitOptions::default());
    getpid_times(1);
    let results: Array<_, u64> = Array::try_from(ebpf.map(&map_object_name(0)).unwrap()).unwrap();
    assert_eq!(results.get(&0, 0).unwrap(), 0);
    assert_eq!(results.get(&1, 0).unwrap(), 11);
    assert_eq!(results.get(&2, 0).unwrap(), 33);
}

// ---------------------------------------------------------------- errors

#[test]
fn inconsistent_ir_gives_clear_errors() {
    let module = Module {
        maps: vec![map(MapKind::Array, 4, 8, 1, Type::I64)],
        ..Module::default()
    };
    let opts = EmitOptions::default();

    let user = Function::new("begin", Context::User);
    let err = emit_function(&module, &user, &opts).unwrap_err();
    assert!(matches!(err, EmitError::UserContext { .. }));
    assert!(err.to_string().contains("user space"));

    let mut fb = Fb::new("no_ring");
    let s = fb.slot(8);
    fb.push(Inst::Emit {
        mem: Mem::at(s, 0),
        len: 8,
    });
    let err = emit_function(&module, &fb.finish(), &opts).unwrap_err();
    assert_eq!(err, EmitError::NoRingBuffer);

    let mut fb = Fb::new("bad_map");
    count_fn(&mut fb, 9);
    let err = emit_function(&module, &fb.finish(), &opts).unwrap_err();
    assert_eq!(err, EmitError::UnknownMap { map: 9 });

    let mut fb = Fb::new("overflow");
    let s = fb.slot(8);
    fb.push(Inst::Zero {
        mem: Mem::at(s, 4),
        len: 8,
    });
    let err = emit_function(&module, &fb.finish(), &opts).unwrap_err();
    assert!(matches!(err, EmitError::InvalidIr { .. }));
    assert!(
        err.to_string().contains("overflows the 8-byte slot"),
        "{err}"
    );

    let mut fb = Fb::new("bad_vreg");
    fb.push(Inst::Mov { dst: 0, src: 5 });
    let err = emit_function(&module, &fb.finish(), &opts).unwrap_err();
    assert!(err.to_string().contains("v5"), "{err}");
}

// ---------------------------------------------------------------- random programs

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random straight-line program over a sliding window of ~30 live values, with
/// helper calls in between; returns it and the expected values of its outputs.
fn random_program(name: &str, seed: u64, outputs: usize) -> (Function, Vec<u64>) {
    use BinOp::*;
    let ops = [
        Add, Sub, Mul, UDiv, SDiv, URem, SRem, And, Or, Xor, Shl, LShr, AShr,
    ];
    let mut rng = Lcg(seed);
    let mut fb = Fb::filtered(name, tid());
    let (key, val) = (fb.slot(4), fb.slot(8));
    let mut vals: Vec<(VReg, i64)> = Vec::new();
    for _ in 0..8 {
        let v = rng.next() as i64 - (1 << 52);
        vals.push((fb.konst(v), v));
    }
    for step in 0..160 {
        if step % 16 == 0 {
            let _ = fb.builtin(Builtin::Cpu);
        }
        let window = vals.len().min(30);
        let pick = |rng: &mut Lcg| vals[vals.len() - 1 - rng.below(window)];
        let op = ops[rng.below(ops.len())];
        let (a, av) = pick(&mut rng);
        let b = match rng.below(4) {
            0 => B::Imm(rng.next() as i32 as i64),
            1 => B::Imm(rng.below(70) as i64),
            _ => B::Reg(pick(&mut rng).1),
        };
        let operand = match b {
            B::Imm(i) => Operand::Imm(i),
            // Reuse the existing vreg holding that value.
            B::Reg(v) => Operand::Reg(vals.iter().rev().find(|x| x.1 == v).unwrap().0),
        };
        let dst = fb.bin(op, a, operand);
        vals.push((dst, expected(Expr::Bin(op, av, b)) as i64));
    }
    let outs = &vals[vals.len() - outputs..];
    for (i, &(v, _)) in outs.iter().enumerate() {
        fb.array_write(0, i as u32, v, key, val);
    }
    let expect = outs.iter().map(|&(_, e)| e as u64).collect();
    (fb.finish(), expect)
}

#[test]
fn random_programs_match_rust_evaluation() {
    const OUTPUTS: usize = 40;
    for seed in [1u64, 2, 3] {
        let module = Module {
            maps: vec![map(MapKind::Array, 4, 8, OUTPUTS as u32, Type::I64)],
            ..Module::default()
        };
        let (f, expect) = random_program(&format!("rand{seed}"), seed, OUTPUTS);
        let text = disassemble(&emit(&module, &f));
        // Operands and results both come from and go to spill slots.
        assert!(text.contains("r1 = *(u64 *)(r10 - 8)") || text.contains("r2 = *(u64 *)(r10 - 8)"));
        assert!(text.contains("*(u64 *)(r10 - 8) = r0"), "{text}");
        let ebpf = attach(&module, &[&f], &EmitOptions::default());
        getpid_times(1);
        let results: Array<_, u64> =
            Array::try_from(ebpf.map(&map_object_name(0)).unwrap()).unwrap();
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(
                results.get(&(i as u32), 0).unwrap(),
                *e,
                "seed {seed} output {i}"
            );
        }
    }
}
