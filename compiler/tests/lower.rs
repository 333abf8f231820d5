//! Lowering tests: for representative scripts the IR is well formed (every vreg is
//! defined on every path before it is used, block targets and slots exist, every
//! access stays inside its slot, scalars and map keys are read only after they are
//! written, no block is unreachable, every `Emit` record starts with its event id
//! and has the event's size), and every kernel probe compiles to eBPF that the
//! running kernel's verifier accepts (loaded with aya, not attached).

use aya::maps::{HashMap as BpfHashMap, PerCpuArray};
use aya::programs::{KProbe, PerfEvent, TracePoint};
use aya::{Ebpf, EbpfLoader};
use rtrace_compiler::bpf::{disassemble, map_object_name};
use rtrace_compiler::ir::{
    BlockId, Context, EventSpec, Function, Inst, MapKind, Mem, Module, Operand, Term, VReg,
};
use rtrace_compiler::pipeline::{compile, Compiled, Options};
use rtrace_stdlib::types::{round8, tuple_layout};

// ---------------------------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------------------------

fn ensure_tracefs() {
    if !std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        let status = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting tracefs failed");
    }
}

fn compile_ok(source: &str, params: &[&str]) -> Compiled {
    ensure_tracefs();
    let mut opts = Options::default();
    opts.check.params = params.iter().map(|p| p.to_string()).collect();
    match compile(source, &opts) {
        Ok(c) => c,
        Err(e) => panic!(
            "{source:?} should compile:\n{}",
            e.render("test.bt", source, false)
        ),
    }
}

/// Compile, check the IR of every function, and load every kernel probe into the verifier.
fn verify(source: &str) -> Compiled {
    verify_with(source, &[])
}

fn verify_with(source: &str, params: &[&str]) -> Compiled {
    let c = compile_ok(source, params);
    check_module(&c.module)
        .unwrap_or_else(|e| panic!("invalid IR for {source:?}: {e}\n{}", c.module));
    check_names(&c);
    load_in_kernel(&c);
    c
}

/// Load the ELF with aya and every kernel program into the verifier.
fn load_in_kernel(c: &Compiled) -> Ebpf {
    assert!(!c.kernel.is_empty(), "the script has no kernel probe");
    let mut ebpf = EbpfLoader::new()
        .load(&c.elf)
        .unwrap_or_else(|e| panic!("aya could not load the ELF: {e:?}"));
    for k in &c.kernel {
        let prog = ebpf
            .program_mut(&k.program.name)
            .unwrap_or_else(|| panic!("program {} not found in the ELF", k.program.name));
        let loaded = if k.section.starts_with("tracepoint/") {
            <&mut TracePoint>::try_from(prog)
                .expect("tracepoint program")
                .load()
        } else if k.section == "perf_event" {
            <&mut PerfEvent>::try_from(prog)
                .expect("perf_event program")
                .load()
        } else if k.section.starts_with("kprobe/") || k.section.starts_with("kretprobe/") {
            <&mut KProbe>::try_from(prog)
                .expect("kprobe program")
                .load()
        } else {
            panic!("unexpected section {}", k.section)
        };
        if let Err(e) = loaded {
            panic!(
                "the verifier rejected {} ({}): {e:?}\nIR:{}\n{}",
                k.program.name,
                k.section,
                c.module.functions[k.index],
                disassemble(&k.program)
            );
        }
    }
    ebpf
}

/// Function names are kernel object names: `[A-Za-z0-9_]`, at most 15 chars, unique;
/// contexts follow the probe kinds.
fn check_names(c: &Compiled) {
    let mut seen = std::collections::HashSet::new();
    for f in &c.module.functions {
        assert!(f.name.len() <= 15, "name too long: {}", f.name);
        assert!(
            f.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
            "bad name {}",
            f.name
        );
        assert!(
            seen.insert(f.name.clone()),
            "duplicate function name {}",
            f.name
        );
    }
    for &u in &c.user {
        assert_eq!(c.module.functions[u].context, Context::User);
    }
    for k in &c.kernel {
        assert_ne!(c.module.functions[k.index].context, Context::User);
        assert_eq!(k.program.name, c.module.functions[k.index].name);
    }
    assert_eq!(c.module.functions.len(), c.program.probes.len());
}

// ---------------------------------------------------------------------------------------------
// IR checker
// ---------------------------------------------------------------------------------------------

/// A set of small integers (vregs or stack bytes).
#[derive(Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn empty(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64).max(1)])
    }
    fn full(n: usize) -> Bits {
        let mut b = Bits::empty(n);
        for i in 0..n {
            b.insert(i);
        }
        b
    }
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn intersect(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= *b;
        }
    }
}

/// What one instruction does to vregs and stack memory.
struct Effects {
    def: Option<VReg>,
    uses: Vec<VReg>,
    /// Every byte range touched (for bounds checks).
    touches: Vec<(Mem, u32)>,
    /// Byte ranges that must be initialised before the instruction.
    must_be_init: Vec<(Mem, u32)>,
    /// Byte ranges written.
    writes: Vec<(Mem, u32)>,
}

fn reg(op: &Operand) -> Vec<VReg> {
    match op {
        Operand::Reg(r) => vec![*r],
        Operand::Imm(_) => vec![],
    }
}

/// Bytes of a map key as the instruction passes it (per-CPU arrays take a u32 index).
fn key_len(module: &Module, map: u32) -> Result<u32, String> {
    let spec = module
        .maps
        .get(map as usize)
        .ok_or_else(|| format!("map {map} does not exist"))?;
    Ok(if spec.kind == MapKind::PerCpuArray {
        4
    } else {
        spec.key_size
    })
}

fn value_len(module: &Module, map: u32) -> Result<u32, String> {
    module
        .maps
        .get(map as usize)
        .map(|m| m.value_size)
        .ok_or_else(|| format!("map {map} does not exist"))
}

fn effects(module: &Module, inst: &Inst) -> Result<Effects, String> {
    let mut e = Effects {
        def: None,
        uses: vec![],
        touches: vec![],
        must_be_init: vec![],
        writes: vec![],
    };
    let key = |e: &mut Effects, map: u32, key: &Option<Mem>| -> Result<(), String> {
        let spec = &module.maps[map as usize];
        match key {
            Some(k) => {
                let n = key_len(module, map)?;
                e.touches.push((*k, n));
                e.must_be_init.push((*k, n));
            }
            None if spec.kind == MapKind::PerCpuArray => {}
            None => {
                return Err(format!(
                    "map {} ({:?}) used without a key",
                    spec.name, spec.kind
                ))
            }
        }
        Ok(())
    };
    match inst {
        Inst::Const { dst, .. } | Inst::CtxLoad { dst, .. } | Inst::CtxAddr { dst, .. } => {
            e.def = Some(*dst)
        }
        Inst::Builtin { dst, .. } => e.def = Some(*dst),
        Inst::StackId { dst, .. } => e.def = Some(*dst),
        Inst::Mov { dst, src } | Inst::Neg { dst, src } | Inst::Not { dst, src } => {
            e.def = Some(*dst);
            e.uses.push(*src);
        }
        Inst::Bswap { dst, src, bits } => {
            if ![16, 32, 64].contains(bits) {
                return Err(format!("Bswap of {bits} bits"));
            }
            e.def = Some(*dst);
            e.uses.push(*src);
        }
        Inst::Effect(effect) => {
            inst.for_each_use(|r| e.uses.push(r));
            if let rtrace_compiler::ir::Effect::TracePrintk { fmt, len, .. } = effect {
                e.touches.push((*fmt, *len));
                e.must_be_init.push((*fmt, *len));
            }
            if let rtrace_compiler::ir::Effect::DPath { dst, len, .. } = effect {
                e.touches.push((*dst, *len));
            }
        }
        Inst::Ext { dst, src, bits, .. } => {
            if ![8, 16, 32].contains(bits) {
                return Err(format!("Ext to {bits} bits"));
            }
            e.def = Some(*dst);
            e.uses.push(*src);
        }
        Inst::Bin { dst, a, b, .. } | Inst::Cmp { dst, a, b, .. } => {
            e.def = Some(*dst);
            e.uses.push(*a);
            e.uses.extend(reg(b));
            if let Operand::Imm(v) = b {
                if i32::try_from(*v).is_err() {
                    return Err(format!("immediate {v} does not fit 32 bits"));
                }
            }
        }
        Inst::Load { dst, mem, size, .. } => {
            e.def = Some(*dst);
            e.touches.push((*mem, u32::from(*size)));
            e.must_be_init.push((*mem, u32::from(*size)));
        }
        Inst::Store { mem, src, size } => {
            e.uses.extend(reg(src));
            e.touches.push((*mem, u32::from(*size)));
            e.writes.push((*mem, u32::from(*size)));
        }
        Inst::Zero { mem, len } => {
            e.touches.push((*mem, *len));
            e.writes.push((*mem, *len));
        }
        Inst::Copy { dst, src, len } => {
            e.touches.push((*dst, *len));
            e.touches.push((*src, *len));
            e.must_be_init.push((*src, *len));
            e.writes.push((*dst, *len));
        }
        Inst::Read { dst, len, addr, .. } | Inst::ReadStr { dst, len, addr, .. } => {
            e.uses.push(*addr);
            e.touches.push((*dst, *len));
            e.writes.push((*dst, *len));
        }
        Inst::ReadBuf {
            dst,
            cap,
            count,
            addr,
            ..
        } => {
            e.uses.extend([*count, *addr]);
            e.touches.push((*dst, 8 + *cap));
            e.writes.push((*dst, 8));
            // Only `count` bytes are read: the rest must already be zero.
            e.must_be_init.push((dst.offset(8), *cap));
        }
        Inst::Comm { dst } => {
            e.touches.push((*dst, 16));
            e.writes.push((*dst, 16));
        }
        Inst::StrEq { dst, a, b, len } => {
            e.def = Some(*dst);
            for m in [a, b] {
                e.touches.push((*m, *len));
                e.must_be_init.push((*m, *len));
            }
        }
        Inst::MapRead {
            map,
            key: k,
            dst,
            found,
        } => {
            key(&mut e, *map, k)?;
            let n = value_len(module, *map)?;
            e.touches.push((*dst, n));
            e.writes.push((*dst, n));
            e.def = *found;
        }
        Inst::MapWrite { map, key: k, src } => {
            key(&mut e, *map, k)?;
            e.touches.push((*src, value_len(module, *map)?));
        }
        Inst::MapAgg {
            map, key: k, val, ..
        } => {
            if !module.maps[*map as usize].value_type.is_aggregation() {
                return Err(format!("MapAgg on non-aggregation map {map}"));
            }
            key(&mut e, *map, k)?;
            e.uses.extend(reg(val));
        }
        Inst::MapDelete { map, key: k } => key(&mut e, *map, k)?,
        Inst::Emit { mem, len } => {
            e.touches.push((*mem, *len));
            e.must_be_init.push((*mem, 8));
        }
        Inst::MapEntry {
            map,
            index,
            key,
            value,
            found,
            ..
        } => {
            e.uses.push(*index);
            let (k, v) = (key_len(module, *map)?, value_len(module, *map)?);
            e.touches.extend([(*key, k), (*value, v)]);
            e.writes.extend([(*key, k), (*value, v)]);
            e.def = Some(*found);
        }
        Inst::MapLen { dst, .. } => e.def = Some(*dst),
        Inst::MapReadCpu {
            map,
            key: k,
            cpu,
            dst,
            found,
        } => {
            key(&mut e, *map, k)?;
            e.uses.push(*cpu);
            let n = value_len(module, *map)?;
            e.touches.push((*dst, n));
            e.writes.push((*dst, n));
            e.def = Some(*found);
        }
        // The body is a separate function checked on its own by the back end.
        Inst::MapForEach { map, count, .. } => {
            value_len(module, *map)?;
            e.def = *count;
        }
    }
    Ok(e)
}

/// Check every function of a module; the error names the function and what is wrong.
fn check_module(module: &Module) -> Result<(), String> {
    for f in &module.functions {
        check_function(module, f).map_err(|e| format!("{}: {e}", f.name))?;
    }
    Ok(())
}

fn check_function(module: &Module, f: &Function) -> Result<(), String> {
    let n = f.blocks.len();
    if n == 0 {
        return Err("no blocks".into());
    }
    // Block targets exist, and the predecessor lists.
    let mut preds: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, b) in f.blocks.iter().enumerate() {
        for t in successors(&b.term) {
            if t as usize >= n {
                return Err(format!("b{i} jumps to missing block b{t}"));
            }
            preds[t as usize].push(i);
        }
    }
    // No unreachable blocks.
    let mut reachable = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(b) = stack.pop() {
        if !std::mem::replace(&mut reachable[b], true) {
            stack.extend(successors(&f.blocks[b].term).iter().map(|&t| t as usize));
        }
    }
    if let Some(b) = reachable.iter().position(|r| !r) {
        return Err(format!("block b{b} is unreachable"));
    }
    // Per-instruction effects, with vreg, map and slot bounds.
    let slot_base: Vec<usize> = f
        .slots
        .iter()
        .scan(0usize, |acc, s| {
            let base = *acc;
            *acc += s.size as usize;
            Some(base)
        })
        .collect();
    let stack_bytes: usize = f.slots.iter().map(|s| s.size as usize).sum();
    let mut all = Vec::with_capacity(n);
    for (bi, b) in f.blocks.iter().enumerate() {
        let mut list = Vec::with_capacity(b.insts.len());
        for (ii, inst) in b.insts.iter().enumerate() {
            let e = effects(module, inst).map_err(|m| format!("b{bi}[{ii}] {inst:?}: {m}"))?;
            for v in e.uses.iter().chain(e.def.iter()) {
                if *v >= f.num_vregs {
                    return Err(format!(
                        "b{bi}[{ii}] {inst:?}: vreg {v} >= num_vregs {}",
                        f.num_vregs
                    ));
                }
            }
            for (m, len) in &e.touches {
                let slot = f.slots.get(m.slot as usize).ok_or_else(|| {
                    format!("b{bi}[{ii}] {inst:?}: slot {} does not exist", m.slot)
                })?;
                if m.off + len > slot.size {
                    return Err(format!(
                        "b{bi}[{ii}] {inst:?}: bytes {}..{} outside slot s{} of {} bytes",
                        m.off,
                        m.off + len,
                        m.slot,
                        slot.size
                    ));
                }
            }
            list.push(e);
        }
        if let Term::Branch { cond, .. } = b.term {
            if cond >= f.num_vregs {
                return Err(format!("b{bi} branches on missing vreg {cond}"));
            }
        }
        all.push(list);
    }
    check_definitions(f, &all, &preds)?;
    check_initialised(f, &all, &preds, &slot_base, stack_bytes)?;
    check_emits(module, f)?;
    Ok(())
}

fn successors(term: &Term) -> Vec<BlockId> {
    match term {
        Term::Jump(t) => vec![*t],
        Term::Branch { then, els, .. } => vec![*then, *els],
        Term::Return => vec![],
    }
}

/// Forward must-analysis: `gen` updates a state through one block; a block's entry
/// state is the intersection of its predecessors' exit states (entry: `start`).
fn must_analysis(
    f: &Function,
    preds: &[Vec<usize>],
    start: Bits,
    top: Bits,
    mut through_block: impl FnMut(usize, &mut Bits),
) -> Vec<Bits> {
    let n = f.blocks.len();
    let mut entry: Vec<Bits> = vec![top.clone(); n];
    entry[0] = start;
    let mut exit: Vec<Bits> = vec![top; n];
    loop {
        let mut changed = false;
        for b in 0..n {
            if b != 0 {
                let mut state = exit[preds[b][0]].clone();
                for &p in &preds[b][1..] {
                    state.intersect(&exit[p]);
                }
                entry[b] = state;
            }
            let mut out = entry[b].clone();
            through_block(b, &mut out);
            if out != exit[b] {
                exit[b] = out;
                changed = true;
            }
        }
        if !changed {
            return entry;
        }
    }
}

/// Every vreg used is defined on every path from the entry to the use.
fn check_definitions(
    f: &Function,
    all: &[Vec<Effects>],
    preds: &[Vec<usize>],
) -> Result<(), String> {
    let nv = f.num_vregs as usize;
    let entry = must_analysis(f, preds, Bits::empty(nv), Bits::full(nv), |b, state| {
        for e in &all[b] {
            if let Some(d) = e.def {
                state.insert(d as usize);
            }
        }
    });
    for (b, effects) in all.iter().enumerate() {
        let mut state = entry[b].clone();
        for (i, e) in effects.iter().enumerate() {
            for u in &e.uses {
                if !state.contains(*u as usize) {
                    return Err(format!(
                        "b{b}[{i}] {:?} uses vreg {u}, not defined on every path",
                        f.blocks[b].insts[i]
                    ));
                }
            }
            if let Some(d) = e.def {
                state.insert(d as usize);
            }
        }
        if let Term::Branch { cond, .. } = f.blocks[b].term {
            if !state.contains(cond as usize) {
                return Err(format!(
                    "b{b} branches on vreg {cond}, not defined on every path"
                ));
            }
        }
    }
    Ok(())
}

/// Scalars loaded from the stack, map keys, compared strings and record headers are
/// written on every path before they are read (eBPF as root would read stack garbage).
fn check_initialised(
    f: &Function,
    all: &[Vec<Effects>],
    preds: &[Vec<usize>],
    slot_base: &[usize],
    stack_bytes: usize,
) -> Result<(), String> {
    let byte = |m: &Mem, i: u32| slot_base[m.slot as usize] + (m.off + i) as usize;
    let apply = |state: &mut Bits, e: &Effects| {
        for (m, len) in &e.writes {
            for i in 0..*len {
                state.insert(byte(m, i));
            }
        }
    };
    let entry = must_analysis(
        f,
        preds,
        Bits::empty(stack_bytes),
        Bits::full(stack_bytes),
        |b, state| all[b].iter().for_each(|e| apply(state, e)),
    );
    for (b, effects) in all.iter().enumerate() {
        let mut state = entry[b].clone();
        for (i, e) in effects.iter().enumerate() {
            for (m, len) in &e.must_be_init {
                if let Some(k) = (0..*len).find(|k| !state.contains(byte(m, *k))) {
                    return Err(format!(
                        "b{b}[{i}] {:?} reads byte {} of slot s{} before it is written on every path",
                        f.blocks[b].insts[i],
                        m.off + k,
                        m.slot
                    ));
                }
            }
            apply(&mut state, e);
        }
    }
    Ok(())
}

/// The expected record size of an event with this spec.
fn record_len(spec: &EventSpec) -> u32 {
    match spec {
        EventSpec::Printf { args, .. } => 8 + tuple_layout(args).1,
        EventSpec::PrintValue { ty } => 8 + round8(ty.size()),
        EventSpec::Exit => 16,
        _ => 8,
    }
}

/// Every `Emit` record's first u64 is stored from a constant that is a valid event
/// id, and the record has that event's size.
fn check_emits(module: &Module, f: &Function) -> Result<(), String> {
    let insts = || f.blocks.iter().flat_map(|b| b.insts.iter());
    for inst in insts() {
        let Inst::Emit { mem, len } = inst else {
            continue;
        };
        if mem.off != 0 {
            return Err(format!("{inst:?}: record does not start its slot"));
        }
        let header_stores: Vec<&Operand> = insts()
            .filter_map(|i| match i {
                Inst::Store {
                    mem: m,
                    src,
                    size: 8,
                } if m == mem => Some(src),
                _ => None,
            })
            .collect();
        if header_stores.is_empty() {
            return Err(format!(
                "{inst:?}: no event id is stored at the start of the record"
            ));
        }
        for src in header_stores {
            let ids: Vec<i64> = match src {
                Operand::Imm(v) => vec![*v],
                Operand::Reg(r) => {
                    let defs: Vec<&Inst> = insts()
                        .filter(|i| {
                            matches!(i, Inst::Const { dst, .. } if dst == r)
                                || effects(module, i).is_ok_and(|e| e.def == Some(*r))
                        })
                        .collect();
                    let mut ids = vec![];
                    for d in defs {
                        match d {
                            Inst::Const { value, .. } => ids.push(*value),
                            other => {
                                return Err(format!(
                                    "{inst:?}: event id comes from {other:?}, not a constant"
                                ))
                            }
                        }
                    }
                    ids
                }
            };
            for id in ids {
                let spec = module
                    .events
                    .get(usize::try_from(id).map_err(|_| format!("negative event id {id}"))?)
                    .ok_or_else(|| format!("{inst:?}: event id {id} is not in the events table"))?;
                if *len != record_len(spec) {
                    return Err(format!(
                        "{inst:?}: record of {len} bytes for event {id} {spec:?} (expected {})",
                        record_len(spec)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// All instructions of all functions.
fn all_insts(c: &Compiled) -> impl Iterator<Item = &Inst> {
    c.module
        .functions
        .iter()
        .flat_map(|f| f.blocks.iter().flat_map(|b| b.insts.iter()))
}

// ---------------------------------------------------------------------------------------------
// Representative scripts: IR well formed and accepted by the verifier
// ---------------------------------------------------------------------------------------------

#[test]
fn every_aggregation() {
    let c = verify(
        "tracepoint:syscalls:sys_enter_read { @[comm] = count(); @c = count(); \
         @b[pid, comm] = sum(args->count); @h = hist(args->count); @hk[comm] = hist(args->count); \
         @lh[comm] = lhist(args->count, 0, 1000, 100); @l = lhist(args->count, 10, 20, 3); \
         @a = avg(args->count); @mn = min(args->count); @mx[tid] = max(args->count); \
         @s = stats(args->count); }",
    );
    assert_eq!(c.kernel.len(), 1);
    let aggs = all_insts(&c)
        .filter(|i| matches!(i, Inst::MapAgg { .. }))
        .count();
    assert_eq!(aggs, 11);
}

#[test]
fn strings_in_keys_and_tuples() {
    verify(
        "tracepoint:sched:sched_switch { @[args->prev_comm, args->next_comm] = count(); \
         @t[args->prev_pid] = (args->prev_comm, args->next_pid, \"x\"); \
         $t = (comm, pid, \"abc\"); printf(\"%s %d %s\\n\", $t.0, $t.1, $t.2); \
         @k[\"ab\", comm, 3] = sum(args->next_pid); }",
    );
}

#[test]
fn data_loc_string_field() {
    let c = verify(
        "tracepoint:net:net_dev_queue { @[str(args->name)] = count(); @n[args->name] = sum(args->len); \
         printf(\"%s %d\\n\", args->name, args->len); }",
    );
    // The __data_loc word is read, masked, added to the context address.
    assert!(all_insts(&c).any(|i| matches!(i, Inst::CtxAddr { off: 0, .. })));
    assert!(all_insts(&c).any(|i| matches!(
        i,
        Inst::Bin {
            b: Operand::Imm(0xffff),
            ..
        }
    )));
}

#[test]
fn char_array_fields() {
    let c = verify(
        "tracepoint:sched:sched_switch /args->prev_comm != args->next_comm/ { \
         printf(\"%s -> %s\\n\", args->prev_comm, args->next_comm); @[args->next_comm] = count(); \
         if (args->prev_comm == \"swapper/0\") { @idle = count(); } }",
    );
    assert!(all_insts(&c).any(|i| matches!(i, Inst::StrEq { len: 16, .. })));
}

#[test]
fn user_string_reads() {
    verify(
        "tracepoint:syscalls:sys_enter_openat { @[str(args->filename)] = count(); \
         printf(\"%s %s\\n\", str(args->filename, 8), comm); $s = str(args->filename); \
         if ($s == \"/etc/passwd\") { @p = count(); } }",
    );
}

#[test]
fn ternaries() {
    verify(
        "tracepoint:syscalls:sys_enter_read { $x = pid > 100 ? 1 : 2; \
         $s = cpu == 0 ? \"zero\" : \"other\"; @[$s] = count(); \
         @v = args->count > 10 ? args->count : 0; \
         @w = 1 + (pid > 1 ? 2 : 3) * (tid > 1 ? 4 : 5); \
         @n[pid > 1 ? comm : \"none\"] = sum(pid > 2 ? 7 : 8); \
         $t = pid > 1 ? (1, \"a\") : (2, \"bc\"); printf(\"%d %s %d\\n\", $t.0, $t.1, $x); }",
    );
}

#[test]
fn logical_operators() {
    verify(
        "tracepoint:syscalls:sys_enter_read /pid > 1 && (tid == 5 || comm == \"bash\")/ { \
         $b = args->fd == 1 || args->fd == 2; if (!$b && pid) { @a = count(); } \
         @c = (args->count > 1 && args->count < 100) + (pid || tid); \
         @d = args->fd + (args->count > 0 && args->fd > 0); }",
    );
}

#[test]
fn while_loops_with_break_and_continue() {
    verify(
        "tracepoint:syscalls:sys_enter_read { $i = 0; $sum = 0; \
         while ($i < 10) { $i++; if ($i == 5) { break; } if ($i == 2) { continue; } $sum += $i; } \
         @w = $sum; $j = 0; while ($j < 3 && pid > 0) { $k = 0; while ($k < 3) { $k++; @in[$j, $k] = 1; } $j++; } }",
    );
}

#[test]
fn nested_ifs_and_return() {
    verify(
        "tracepoint:syscalls:sys_enter_read { if (pid > 1) { if (tid > 2) { @a = 1; } else { \
         if (cpu == 0) { @b = 2; } else if (cpu == 1) { @b = 3; } else { return; } } } else { @c = 3; } \
         if (pid == 1) { return; } @d = 4; }",
    );
}

#[test]
fn increments_and_compound_assignments() {
    verify(
        "tracepoint:syscalls:sys_enter_read { $x = 1; $x++; ++$x; $x--; --$x; $x += args->count; \
         $x *= 3; $x -= 1; $x /= 2; $x %= 7; $x <<= 1; $x >>= 1; $x &= 0xff; $x |= 1; $x ^= 2; \
         @c[comm] += 1; @c[comm]++; @c[comm] -= 2; --@c[comm]; @y = $x++ + ++$x; \
         $u = (uint8)250; $u++; $u += 10; @u = $u; }",
    );
}

#[test]
fn start_and_delete_across_probes() {
    let c = verify(
        "tracepoint:syscalls:sys_enter_read { @start[tid] = nsecs; } \
         tracepoint:syscalls:sys_exit_read /@start[tid]/ { \
         @ns[comm] = hist(nsecs - @start[tid]); @lat = avg(nsecs - @start[tid]); delete(@start[tid]); }",
    );
    assert_eq!(c.kernel.len(), 2);
    assert!(all_insts(&c).any(|i| matches!(i, Inst::MapDelete { .. })));
}

#[test]
fn casts_and_narrow_arithmetic() {
    verify(
        "tracepoint:syscalls:sys_enter_read { $a = (uint8)args->count; $b = (int16)$a + 1; \
         $c = (int32)-5 / 2; @m = $c % 3; @s = (int8)args->fd >> 1; @u = (uint32)args->fd >> 1; \
         @big = 0x123456789 + args->count; @neg = -args->count; @not = ~args->fd; @bool = !args->fd; \
         @shl = 1 << (args->fd & 63); @div = args->count / (args->fd + 1); }",
    );
}

#[test]
fn events_in_a_kernel_probe() {
    let c = verify(
        "tracepoint:syscalls:sys_enter_read { printf(\"%d %s %u %x\\n\", pid, comm, args->count, args->fd); \
         time(); @[comm] = count(); print(@); print(args->count); clear(@); zero(@); \
         if (args->count == 12345) { exit(1); } printf(\"after\\n\"); }",
    );
    let emits = all_insts(&c)
        .filter(|i| matches!(i, Inst::Emit { .. }))
        .count();
    assert_eq!(emits, 8);
}

#[test]
fn builtins_everywhere() {
    verify(
        "tracepoint:syscalls:sys_enter_read { @[pid, tid, uid, gid, cpu] = count(); \
         printf(\"%d %d %d %d %d %s\\n\", nsecs, elapsed, rand, cgroup, curtask, comm); \
         @p[probe] = count(); }",
    );
}

#[test]
fn unroll_and_positional_parameters() {
    let c = verify_with(
        "tracepoint:syscalls:sys_enter_$1 { $i = 0; unroll($2) { $i += $3; @[$i] = count(); } \
         if (comm == $4) { @match = count(); } @n = $#; }",
        &["read", "4", "2", "bash"],
    );
    assert_eq!(
        c.program.probe_names,
        vec!["tracepoint:syscalls:sys_enter_read"]
    );
    let aggs = all_insts(&c)
        .filter(|i| matches!(i, Inst::MapAgg { .. }))
        .count();
    assert_eq!(aggs, 5);
}

#[test]
fn wildcard_probes_all_load() {
    let c = verify("tracepoint:syscalls:sys_enter_read* { @[probe, comm] = count(); }");
    assert!(c.kernel.len() >= 3);
}

#[test]
fn perf_event_probes() {
    let c = verify(
        "profile:hz:99 { @[cpu] = count(); @c[comm] = count(); } \
         software:cpu-clock:100000 { @s = count(); printf(\"%d\\n\", pid); } \
         hardware:cycles:1000000 { @h = count(); }",
    );
    assert!(c.kernel.iter().all(|k| k.section == "perf_event"));
}

#[test]
fn kprobes_compile_and_verify() {
    let c = verify(
        "kprobe:vfs_read { @[arg0] = count(); @f[func] = count(); @k = ksym(arg1); $a = arg2 + arg3; @sz = hist($a); } \
         kretprobe:vfs_read { @r = hist(retval); @rv[comm] = sum(retval); }",
    );
    assert_eq!(c.kernel.len(), 2);
    assert_eq!(c.kernel[1].section, "kretprobe/vfs_read");
}

#[test]
fn user_space_blocks_are_well_formed_too() {
    let c = compile_ok(
        "BEGIN { $i = 0; while ($i < 3) { $i++; printf(\"%d\\n\", $i); } @x = 1; } \
         interval:ms:100 { @t = (1, \"ab\"); print(@x); if (@x > 0) { exit(); } } \
         END { $s = @x ? \"yes\" : \"no\"; printf(\"%s\\n\", $s); clear(@x); }",
        &[],
    );
    check_module(&c.module).unwrap_or_else(|e| panic!("{e}\n{}", c.module));
    check_names(&c);
    assert!(c.kernel.is_empty());
    assert_eq!(c.user, vec![0, 1, 2]);
    assert_eq!(c.module.functions.len(), 3);
}

#[test]
fn string_comparisons_of_different_capacities() {
    verify(
        "tracepoint:sched:sched_switch { if (args->prev_comm == \"a\") { @a = count(); } \
         if (comm != args->next_comm) { @b = count(); } $s = \"abcdefghijklmnopqrstuvwxyz\"; \
         if ($s == comm) { @c = count(); } }",
    );
}

// ---------------------------------------------------------------------------------------------
// Specific lowering facts
// ---------------------------------------------------------------------------------------------

#[test]
fn keyless_count_updates_index_zero_without_a_key() {
    let c = verify("tracepoint:syscalls:sys_enter_read { @ = count(); }");
    let f = &c.module.functions[0];
    assert_eq!(f.context, Context::Tracepoint);
    assert!(matches!(
        f.blocks[0].insts.as_slice(),
        [Inst::MapAgg {
            map: 0,
            key: None,
            ..
        }]
    ));
}

#[test]
fn string_keys_have_their_padding_zeroed() {
    // string[3] key padded to 8: bytes 3..8 are zeroed so equal keys hash equal.
    let c = verify("tracepoint:syscalls:sys_enter_read { @[\"ab\", pid] = count(); }");
    assert!(all_insts(&c).any(|i| matches!(
        i,
        Inst::Zero {
            mem: Mem { off: 3, .. },
            len: 5
        }
    )));
}

#[test]
fn predicate_branches_to_the_body_or_returns() {
    let c = verify("tracepoint:syscalls:sys_enter_read /pid == 1/ { @ = count(); }");
    let f = &c.module.functions[0];
    let Term::Branch { then, els, .. } = f.blocks[0].term else {
        panic!("entry should branch: {f}")
    };
    assert!(f.blocks[then as usize]
        .insts
        .iter()
        .any(|i| matches!(i, Inst::MapAgg { .. })));
    assert_eq!(f.blocks[els as usize].term, Term::Return);
    assert!(f.blocks[els as usize].insts.is_empty());
}

#[test]
fn exit_ends_the_probe() {
    let c = verify("tracepoint:syscalls:sys_enter_read { exit(); @after = count(); }");
    let f = &c.module.functions[0];
    // The code after exit() is unreachable and removed.
    assert!(
        !all_insts(&c).any(|i| matches!(i, Inst::MapAgg { .. })),
        "{f}"
    );
    assert_eq!(f.blocks.len(), 1);
    assert_eq!(f.blocks[0].term, Term::Return);
}

#[test]
fn unroll_repeats_the_body() {
    let c = verify("tracepoint:syscalls:sys_enter_read { unroll(3) { @c = count(); } }");
    let aggs = all_insts(&c)
        .filter(|i| matches!(i, Inst::MapAgg { .. }))
        .count();
    assert_eq!(aggs, 3);
}

#[test]
fn variable_assigned_on_one_path_is_initialised_on_the_other() {
    // bpftrace 0.17 scopes scratch variables to the whole probe and accepts this;
    // the read must not see stack garbage when the branch is not taken.
    verify("tracepoint:syscalls:sys_enter_read { if (args->fd == 1) { $x = 5; } @ = $x; }");
}

#[test]
fn let_without_value_then_conditional_assignment() {
    verify("tracepoint:syscalls:sys_enter_read { let $s; if (args->fd == 1) { $s = comm; } @[$s] = count(); }");
}

// ---------------------------------------------------------------------------------------------
// Stack limit
// ---------------------------------------------------------------------------------------------

/// The scratch map's value size and whether the last probe's program loads it.
fn scratch_use(c: &Compiled) -> (u32, bool) {
    let id = c
        .module
        .maps
        .iter()
        .position(|m| m.name == ".scratch")
        .expect("lowering declares the scratch map");
    let prog = c.kernel.last().expect("the probe was compiled");
    let loads = prog.program.map_relocs.iter().any(|r| r.map as usize == id);
    (c.module.maps[id].value_size, loads)
}

#[test]
fn a_probe_over_the_stack_limit_uses_the_scratch_map() {
    // A record of 8 + 5 × 128 bytes cannot be built on a 512-byte stack: it is
    // built in the per-CPU scratch map instead.
    let src = "config = { max_strlen = 128 } tracepoint:syscalls:sys_enter_openat { \
        printf(\"%s %s %s %s %s\\n\", str(args->filename), str(args->filename), \
        str(args->filename), str(args->filename), str(args->filename)); }";
    let c = compile_ok(src, &[]);
    let (size, loads) = scratch_use(&c);
    assert!(loads, "the probe must look the scratch map up");
    assert!(size >= 8 + 5 * 128, "{size}");
    // A small probe stays on the stack and leaves the map at its minimum size.
    let c = compile_ok("tracepoint:syscalls:sys_enter_openat { @ = count(); }", &[]);
    assert_eq!(scratch_use(&c), (8, false));
}

#[test]
fn a_large_tuple_value_lives_in_the_scratch_map() {
    let src =
        "tracepoint:syscalls:sys_enter_openat { @t = (str(args->filename), str(args->filename), \
        str(args->filename), str(args->filename), str(args->filename), str(args->filename), \
        str(args->filename), str(args->filename)); }";
    let c = compile_ok(src, &[]);
    let (size, loads) = scratch_use(&c);
    assert!(loads);
    assert!(size >= 8 * 256, "{size}");
}

#[test]
fn the_same_strings_in_user_space_are_fine() {
    // The stack limit only applies to kernel probes.
    let c = compile_ok(
        "BEGIN { printf(\"%s %s %s %s %s %s %s\\n\", comm, comm, \
         \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \
         \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\", \
         \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\", \
         \"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\", \
         \"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"); }",
        &[],
    );
    check_module(&c.module).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn many_printf_records_share_the_stack() {
    // Each record alone fits; together they only fit if slots that are never live at
    // the same time share stack bytes.
    verify(
        "tracepoint:syscalls:sys_enter_openat { \
         if (args->flags & 1) { printf(\"W %s %s\\n\", str(args->filename), comm); } \
         else { printf(\"R %s %s\\n\", str(args->filename), comm); } \
         if (args->flags & 64) { printf(\"C %s %s\\n\", str(args->filename), comm); } \
         if (args->flags & 512) { printf(\"T %s %s\\n\", str(args->filename), comm); } \
         printf(\"%s %d\\n\", str(args->filename), args->flags); \
         printf(\"%s %s %d\\n\", comm, str(args->filename), pid); \
         printf(\"%s %s %d\\n\", str(args->filename), comm, tid); }",
    );
}

#[test]
fn nested_tuples_and_tuple_variables_as_keys() {
    verify(
        "tracepoint:syscalls:sys_enter_read { $t = (pid, comm); @m[$t] = count(); \
         @n[(1, \"a\"), 2] = count(); @v = ((1, \"ab\"), comm); $w = ((args->fd, \"x\"), 3); \
         printf(\"%d %s\\n\", $w.0.0, $w.0.1); }",
    );
}

#[test]
fn map_values_of_every_plain_type() {
    verify(
        "tracepoint:syscalls:sys_enter_read { @i = args->count; @s[tid] = comm; @t = (pid, comm); \
         @k = ksym(args->buf); @p = probe; $x = @i + 1; $y = @s[tid]; $z = @t.1; \
         if ($y == $z) { @same = count(); } @cnt[comm]++; @strs[1] = \"a\"; @strs[2] = \"abcdef\"; }",
    );
}

/// The bpftrace 0.17 tools in the language subset this version supports.
const TOOLS: &[&str] = &[
    "biolatency",
    "bitesize",
    "capable",
    "cpuwalk",
    "killsnoop",
    "opensnoop",
    "pidpersec",
    "setuids",
    "statsnoop",
    "swapin",
    "syncsnoop",
    "syscount",
    "vfsstat",
    "writeback",
    "xfsdist",
];

#[test]
fn bpftrace_tools_in_scope_verify() {
    for tool in TOOLS {
        let path = format!("/usr/sbin/{tool}.bt");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let c = verify(&source);
        assert!(!c.kernel.is_empty(), "{tool}");
    }
}

#[test]
fn kprobe_wildcards_are_expanded_or_rejected() {
    // vfscount.bt: `kprobe:vfs_*`. A program for the literal function `vfs_*` would load
    // but can never attach; the wildcard must be expanded (or refused with a message).
    ensure_tracefs();
    let source = std::fs::read_to_string("/usr/sbin/vfscount.bt").expect("vfscount.bt");
    if let Ok(c) = compile(&source, &Options::default()) {
        for k in &c.kernel {
            assert!(
                !k.section.contains('*'),
                "unexpanded wildcard probe {}",
                k.section
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lowered semantics on the real kernel
// ---------------------------------------------------------------------------------------------

fn map_named(c: &Compiled, name: &str) -> String {
    let id = c
        .program
        .maps
        .iter()
        .position(|m| m.name == name)
        .expect("map");
    map_object_name(id as u32)
}

#[test]
fn lowered_scripts_compute_the_right_values_in_the_kernel() {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let comm = std::fs::read_to_string("/proc/thread-self/comm").expect("comm");
    let comm = comm.trim_end().to_string();
    let script = "tracepoint:syscalls:sys_enter_getpid /tid == $1/ { \
        @r[0] = 1 + (pid > 1 ? 2 : 3) * 4; \
        $i = 0; $s = 0; while ($i < 10) { $i++; if ($i == 5) { break; } if ($i == 2) { continue; } $s += $i; } \
        @r[1] = $s; \
        @r[2] = (uint8)300; \
        @r[3] = (int8)200; \
        @r[4] = comm == $2 ? 11 : 22; \
        @r[5] = (pid > 0 && tid > 0) + (0 || tid == 0) * 10; \
        $x = 5; $x++; ++$x; $x *= 3; $x -= 1; $x /= 2; $x %= 7; @r[6] = $x; \
        @r[7] = -7 / 2; \
        @r[8] = (uint32)-1 >> 4; \
        @r[9] = (int32)-16 >> 2; \
        $t = (7, \"abc\"); @r[10] = $t.1 == \"abc\" ? $t.0 : 0; \
        @r[11] = comm != \"abc\"; \
        @s[\"ab\", 1] = 5; @s[\"ab\", 2] = 6; \
        @h = hist(1000); @c[comm] = count(); @lh = lhist(35, 0, 100, 10); }";
    let c = compile_ok(script, &[&tid.to_string(), &comm]);
    check_module(&c.module).unwrap_or_else(|e| panic!("{e}\n{}", c.module));
    let mut ebpf = load_in_kernel(&c);
    let name = &c.kernel[0].program.name;
    let tp: &mut TracePoint = ebpf.program_mut(name).unwrap().try_into().unwrap();
    tp.attach("syscalls", "sys_enter_getpid").expect("attach");
    // SAFETY: a plain syscall without arguments.
    unsafe { libc::syscall(libc::SYS_getpid) };

    let r: BpfHashMap<_, i64, i64> =
        BpfHashMap::try_from(ebpf.map(&map_named(&c, "@r")).unwrap()).unwrap();
    let got: Vec<i64> = (0..12).map(|k| r.get(&k, 0).unwrap_or(i64::MIN)).collect();
    assert_eq!(
        got,
        vec![9, 8, 44, -56, 11, 1, 3, -3, 0x0fff_ffff, -4, 7, 1],
        "@r[0..12]"
    );

    let s: BpfHashMap<_, [u8; 16], i64> =
        BpfHashMap::try_from(ebpf.map(&map_named(&c, "@s")).unwrap()).unwrap();
    let key = |n: i64| {
        let mut k = [0u8; 16];
        k[..2].copy_from_slice(b"ab");
        k[8..].copy_from_slice(&n.to_le_bytes());
        k
    };
    assert_eq!(
        s.get(&key(1), 0).ok(),
        Some(5),
        "string keys are zero-padded"
    );
    assert_eq!(s.get(&key(2), 0).ok(), Some(6));

    let h: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map(&map_named(&c, "@h")).unwrap()).unwrap();
    // 1000 is in [512, 1024): bucket 2 + 9.
    let buckets: Vec<u64> = (0..66)
        .map(|i| h.get(&i, 0).unwrap().iter().sum())
        .collect();
    assert_eq!(buckets.iter().sum::<u64>(), 1);
    assert_eq!(buckets[11], 1);

    let lh: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map(&map_named(&c, "@lh")).unwrap()).unwrap();
    // 35 is in [30, 40): bucket 1 + 3.
    let lb: Vec<u64> = (0..12)
        .map(|i| lh.get(&i, 0).unwrap().iter().sum())
        .collect();
    assert_eq!(lb[4], 1, "{lb:?}");

    let cm: aya::maps::PerCpuHashMap<_, [u8; 16], u64> =
        aya::maps::PerCpuHashMap::try_from(ebpf.map(&map_named(&c, "@c")).unwrap()).unwrap();
    let mut key = [0u8; 16];
    key[..comm.len()].copy_from_slice(comm.as_bytes());
    let count: u64 = cm.get(&key, 0).expect("comm key").iter().sum();
    assert_eq!(count, 1);
}

#[test]
fn conditionally_assigned_variable_reads_zero_in_the_kernel() {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // Earlier statements leave non-zero bytes on the stack; `$x` is never assigned on
    // this path (pid is never 0) and must read as 0, not as a leftover.
    let script = "tracepoint:syscalls:sys_enter_getpid /tid == $1/ { \
        @a[1] = 0x1111111111; @b[2] = 0x2222222222; \
        if (pid == 0) { $x = 5; } @r = $x; }";
    let c = compile_ok(script, &[&tid.to_string()]);
    let mut ebpf = load_in_kernel(&c);
    let name = &c.kernel[0].program.name;
    let tp: &mut TracePoint = ebpf.program_mut(name).unwrap().try_into().unwrap();
    tp.attach("syscalls", "sys_enter_getpid").expect("attach");
    // SAFETY: a plain syscall without arguments.
    unsafe { libc::syscall(libc::SYS_getpid) };
    let r: BpfHashMap<_, i64, i64> =
        BpfHashMap::try_from(ebpf.map(&map_named(&c, "@r")).unwrap()).unwrap();
    assert_eq!(r.get(&0, 0).ok(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// The IR checker itself catches what it claims to
// ---------------------------------------------------------------------------------------------

fn module_with(f: Function) -> Module {
    Module {
        maps: vec![],
        events: vec![EventSpec::Exit],
        functions: vec![f],
    }
}

#[test]
fn ir_checker_rejects_broken_functions() {
    use rtrace_compiler::ir::Block;
    let block = |insts: Vec<Inst>, term: Term| Block { insts, term };
    let base = || {
        let mut f = Function::new("t", Context::Tracepoint);
        f.num_vregs = 2;
        f.new_slot(16);
        f
    };
    let expect = |f: Function, what: &str| {
        let e = check_module(&module_with(f)).expect_err(what);
        assert!(e.contains(what), "{e}");
    };

    // A vreg defined on only one path.
    let mut f = base();
    f.blocks = vec![
        block(
            vec![Inst::Const { dst: 0, value: 1 }],
            Term::Branch {
                cond: 0,
                then: 1,
                els: 2,
            },
        ),
        block(vec![Inst::Const { dst: 1, value: 2 }], Term::Jump(2)),
        block(vec![Inst::Mov { dst: 0, src: 1 }], Term::Return),
    ];
    expect(f, "not defined on every path");

    // A jump to a block that does not exist.
    let mut f = base();
    f.blocks = vec![block(vec![], Term::Jump(7))];
    expect(f, "missing block b7");

    // An unreachable block.
    let mut f = base();
    f.blocks = vec![block(vec![], Term::Return), block(vec![], Term::Return)];
    expect(f, "b1 is unreachable");

    // An access past the end of its slot.
    let mut f = base();
    f.blocks = vec![block(
        vec![Inst::Store {
            mem: Mem::at(0, 12),
            src: Operand::Imm(0),
            size: 8,
        }],
        Term::Return,
    )];
    expect(f, "outside slot s0");

    // A load of bytes never written.
    let mut f = base();
    f.blocks = vec![block(
        vec![Inst::Load {
            dst: 0,
            mem: Mem::at(0, 0),
            size: 8,
            signed: false,
        }],
        Term::Return,
    )];
    expect(f, "before it is written");

    // An emitted record without its event id.
    let mut f = base();
    f.blocks = vec![block(
        vec![
            Inst::Store {
                mem: Mem::at(0, 8),
                src: Operand::Imm(0),
                size: 8,
            },
            Inst::Emit {
                mem: Mem::at(0, 0),
                len: 16,
            },
        ],
        Term::Return,
    )];
    expect(f, "before it is written");

    // An event id that is not in the table, and a record of the wrong size.
    let mut f = base();
    f.blocks = vec![block(
        vec![
            Inst::Store {
                mem: Mem::at(0, 0),
                src: Operand::Imm(3),
                size: 8,
            },
            Inst::Emit {
                mem: Mem::at(0, 0),
                len: 16,
            },
        ],
        Term::Return,
    )];
    expect(f, "not in the events table");
    let mut f = base();
    f.blocks = vec![block(
        vec![
            Inst::Store {
                mem: Mem::at(0, 0),
                src: Operand::Imm(0),
                size: 8,
            },
            Inst::Emit {
                mem: Mem::at(0, 0),
                len: 8,
            },
        ],
        Term::Return,
    )];
    expect(f, "expected 16");
}
