//! The typed intermediate representation both back ends consume.
//!
//! One `Function` per probe body (emitted as eBPF) and per user-space block
//! (BEGIN/END/interval, JIT-compiled by Cranelift). Keeping the two back ends on
//! one IR is what makes kernel and user-space semantics identical.
//!
//! Model:
//! - Scalars live in virtual registers (`VReg`), always 64 bits wide. Narrower C
//!   types are modelled with explicit `Ext` (truncate + zero/sign extend) and with
//!   signed/unsigned variants of division, remainder, right shift and comparison.
//! - Aggregates (strings, tuples, map keys and values, event records) live in
//!   fixed-size stack `Slot`s and are addressed as `Mem { slot, off }`. Their byte
//!   layout follows `rtrace_stdlib::types` (ints are 8 bytes, fields 8-aligned).
//! - Map operations are high level (`MapAgg`, `MapRead`, …) so each back end can
//!   implement them natively: in-place per-CPU updates in eBPF, calls into the
//!   runtime from JIT code.
//! - Everything that user space must do asynchronously (printf, print, clear,
//!   exit, time …) is an `Emit` of a record whose first u64 is an event id that
//!   indexes `Module::events`.

use rtrace_stdlib::types::Type;
use std::fmt;

pub type VReg = u32;
pub type BlockId = u32;
pub type SlotId = u32;
pub type MapId = u32;

/// Everything a script compiles to, before code generation.
#[derive(Clone, Debug, Default)]
pub struct Module {
    pub maps: Vec<MapSpec>,
    pub events: Vec<EventSpec>,
    pub functions: Vec<Function>,
}

/// A BPF map the script uses (or the runtime needs, like the ring buffer).
#[derive(Clone, Debug, PartialEq)]
pub struct MapSpec {
    /// The name the user wrote (`@bytes`, `@`), or an internal name (`.events`).
    pub name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Key type for printing: a `Tuple` for multi-key maps, `Type::None` if keyless.
    pub key_type: Type,
    /// Value type for printing and for choosing the update semantics.
    pub value_type: Type,
}

/// Name of the per-CPU array (one u64) counting `Emit` records the ring buffer
/// had no room for; the eBPF back end increments it when the module has it.
pub const LOST_EVENTS_MAP: &str = ".lost";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    Hash,
    PerCpuHash,
    /// Keyless per-CPU aggregations: key is a u32 index (0, or the hist bucket).
    PerCpuArray,
    Array,
    /// The BPF ring buffer that carries `Emit` records (`max_entries` = bytes).
    RingBuf,
    /// `BPF_MAP_TYPE_STACK_TRACE`: u32 stack id → `value_size / 8` u64 addresses.
    StackTrace,
    /// `BPF_MAP_TYPE_STACK_TRACE` created with `BPF_F_STACK_BUILD_ID`: u32 stack
    /// id → `value_size / 32` frames of `struct bpf_stack_build_id` (user stacks:
    /// build id + file offset survive the process).
    StackTraceBuildId,
}

/// What user space does with an emitted record. The record starts with the event
/// id (u64); the arguments follow, laid out as a tuple of `args` types.
#[derive(Clone, Debug, PartialEq)]
pub enum EventSpec {
    Printf {
        format: String,
        args: Vec<Type>,
    },
    /// `print(@map, top, div)`: the map is read by user space when the event is handled.
    PrintMap {
        map: MapId,
        top: u64,
        div: u64,
    },
    /// `print(expr)`
    PrintValue {
        ty: Type,
    },
    Clear {
        map: MapId,
    },
    Zero {
        map: MapId,
    },
    /// `exit()` or `exit(code)`: args is `[I64]` (the code).
    Exit,
    /// `time(fmt)`: prints the wall-clock time when handled.
    Time {
        format: String,
    },
    /// `cat(fmt, …)`: prints the contents of the file the format names.
    Cat {
        format: String,
        args: Vec<Type>,
    },
    /// `system(fmt, …)`: runs the formatted command with `sh -c`, output to stdout.
    System {
        format: String,
        args: Vec<Type>,
    },
    /// A process took its first user stack: user space reads its memory map
    /// and symbol tables now, so its stacks still resolve after it exits.
    /// args is `[U64]` (the pid).
    UserStackPid,
    /// `join(argv, sep)`: args are `count` strings of `strlen` bytes; printed up
    /// to the first empty one, separated by `separator`, on one line.
    Join {
        separator: String,
        count: u32,
        strlen: u32,
    },
}

/// Where a function runs and therefore what its context is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// Tracepoint program: the context is the raw tracepoint record (`args` fields).
    Tracepoint,
    /// perf_event program (profile/software): context is `bpf_perf_event_data`.
    PerfEvent,
    /// kprobe/uprobe program: context is `pt_regs`.
    Kprobe,
    /// JIT-compiled user-space block.
    User,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// Unique, kernel-safe name (`[A-Za-z0-9_]`, ≤ 15 chars) e.g. `p0_sys_enter_re`.
    pub name: String,
    pub context: Context,
    pub slots: Vec<Slot>,
    /// `blocks[0]` is the entry block.
    pub blocks: Vec<Block>,
    /// Number of virtual registers used (`0..num_vregs`).
    pub num_vregs: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub size: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    pub insts: Vec<Inst>,
    pub term: Term,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Term {
    Jump(BlockId),
    /// Go to `then` if `cond != 0`.
    Branch {
        cond: VReg,
        then: BlockId,
        els: BlockId,
    },
    /// End the program (eBPF returns 0).
    #[default]
    Return,
}

/// A byte address inside a stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    pub slot: SlotId,
    pub off: u32,
}

impl Mem {
    pub fn at(slot: SlotId, off: u32) -> Mem {
        Mem { slot, off }
    }
    pub fn offset(self, by: u32) -> Mem {
        Mem {
            slot: self.slot,
            off: self.off + by,
        }
    }
}

/// A register or a 32-bit-representable immediate (eBPF ALU immediates are 32 bits,
/// sign-extended; back ends materialise larger constants themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(VReg),
    Imm(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    /// Unsigned division; division by zero yields 0 (the eBPF rule, kept in the JIT).
    UDiv,
    /// Signed division (eBPF v4 `sdiv`); by zero yields 0; `i64::MIN / -1` wraps.
    SDiv,
    /// Unsigned remainder; by zero yields the dividend (the eBPF rule).
    URem,
    /// Signed remainder; by zero yields the dividend.
    SRem,
    And,
    Or,
    Xor,
    /// Shift amounts are taken modulo 64 in both back ends.
    Shl,
    LShr,
    AShr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    ULt,
    ULe,
    UGt,
    UGe,
    SLt,
    SLe,
    SGt,
    SGe,
}

/// Builtin scalar values read from the current task / clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Process id (tgid), u32 semantics.
    Pid,
    /// Thread id, u32 semantics.
    Tid,
    Uid,
    Gid,
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) in both back ends.
    Nsecs,
    /// Nanoseconds since the tracer started (monotonic clock).
    Elapsed,
    Cpu,
    /// 32-bit pseudo-random number.
    Rand,
    Cgroup,
    /// Address of the current `task_struct` (0 in user space).
    CurTask,
    /// `bpf_get_attach_cookie(ctx)`: the cookie the attachment gave this site
    /// (multi-site uprobe links select the site's body with it; 0 in user space).
    AttachCookie,
    /// `bpf_get_func_ip(ctx)`: the address of the probed kernel function
    /// (kprobes and kretprobes, single or multi-link; 0 in user space).
    FuncIp,
    /// NUMA node of the current CPU.
    NumaId,
}

/// How `MapAgg` updates a value (layouts in `rtrace_stdlib::types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    /// u64 value += 1 (count, hist and lhist buckets).
    Count,
    /// [total, count]: total += val; count += 1 (sum, avg, stats).
    Add,
    /// [value, valid]: if !valid || val < value (signed) { value = val; valid = 1 }.
    Min,
    /// [value, valid]: if !valid || val > value (signed) { value = val; valid = 1 }.
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Inst {
    /// dst = value (any 64-bit constant).
    Const {
        dst: VReg,
        value: i64,
    },
    Mov {
        dst: VReg,
        src: VReg,
    },
    Bin {
        dst: VReg,
        op: BinOp,
        a: VReg,
        b: Operand,
    },
    /// dst = (a cond b) ? 1 : 0
    Cmp {
        dst: VReg,
        cond: Cond,
        a: VReg,
        b: Operand,
    },
    /// dst = -src (two's complement)
    Neg {
        dst: VReg,
        src: VReg,
    },
    /// dst = !src (bitwise not)
    Not {
        dst: VReg,
        src: VReg,
    },
    /// dst = src truncated to `bits` (8/16/32) then sign- or zero-extended to 64.
    Ext {
        dst: VReg,
        src: VReg,
        bits: u8,
        signed: bool,
    },
    /// dst = load `size` (1/2/4/8) bytes at `mem`, sign- or zero-extended.
    Load {
        dst: VReg,
        mem: Mem,
        size: u8,
        signed: bool,
    },
    /// store the low `size` bytes of `src` at `mem`.
    Store {
        mem: Mem,
        src: Operand,
        size: u8,
    },
    /// `len` bytes at `mem` = 0.
    Zero {
        mem: Mem,
        len: u32,
    },
    /// copy `len` bytes; the ranges never overlap.
    Copy {
        dst: Mem,
        src: Mem,
        len: u32,
    },
    /// dst = load `size` bytes at byte `off` of the probe context (tracepoint record
    /// fields, `pt_regs` registers), sign- or zero-extended.
    CtxLoad {
        dst: VReg,
        off: u32,
        size: u8,
        signed: bool,
    },
    /// dst = address of the probe context plus `off` (for `__data_loc` fields the
    /// lowering adds the variable part with `Bin`). Only used as a `ReadKernel`/
    /// `ReadStr` source address.
    CtxAddr {
        dst: VReg,
        off: u32,
    },
    /// Copy `len` bytes from kernel (`user == false`) or user memory at `addr`;
    /// on a fault the destination is zeroed.
    Read {
        dst: Mem,
        len: u32,
        addr: VReg,
        user: bool,
    },
    /// Copy a NUL-terminated string of at most `len - 1` bytes plus NUL from `addr`
    /// into `dst`; bytes after the NUL are zeroed up to `len` so strings compare and
    /// hash by value.
    ReadStr {
        dst: Mem,
        len: u32,
        addr: VReg,
        user: bool,
    },
    Builtin {
        dst: VReg,
        which: Builtin,
    },
    /// The current task's command name, 16 bytes NUL-padded, at `dst`.
    Comm {
        dst: Mem,
    },
    /// dst = 1 if the two strings are equal up to the first NUL (or `len` bytes), else 0.
    StrEq {
        dst: VReg,
        a: Mem,
        b: Mem,
        len: u32,
    },
    /// Copy the value for `key` (None for keyless maps) into `dst` (`value_size`
    /// bytes), or zero `dst` if there is none. `found` (if given) = 1 or 0.
    MapRead {
        map: MapId,
        key: Option<Mem>,
        dst: Mem,
        found: Option<VReg>,
    },
    /// Insert or replace the value for `key` with `value_size` bytes at `src`.
    MapWrite {
        map: MapId,
        key: Option<Mem>,
        src: Mem,
    },
    /// Update an aggregation entry in place (per-CPU in the kernel), creating it
    /// from zero if missing. `val` is ignored for `AggOp::Count`.
    MapAgg {
        map: MapId,
        key: Option<Mem>,
        op: AggOp,
        val: Operand,
    },
    MapDelete {
        map: MapId,
        key: Option<Mem>,
    },
    /// Send `len` bytes at `mem` to user space (ring buffer in the kernel, a direct
    /// call in the JIT). The record's first 8 bytes are the event id.
    Emit {
        mem: Mem,
        len: u32,
    },
    /// User space only: the `index`-th entry of `map` in iteration order (value
    /// descending, ties by key; per-CPU values merged): key bytes to `key`
    /// (`key_size`), value bytes to `value` (`value_size`). `found` = 0 past the end.
    /// `cursor` names the loop within its function (nested loops over one map
    /// keep separate snapshots); index 0 takes a new snapshot.
    MapEntry {
        map: MapId,
        cursor: u32,
        index: VReg,
        key: Mem,
        value: Mem,
        found: VReg,
    },
    /// User space only: dst = number of entries in `map`.
    MapLen {
        map: MapId,
        dst: VReg,
    },
    /// Kernel only: like `MapRead` of a per-CPU map, but the copy of CPU `cpu`
    /// (`bpf_map_lookup_percpu_elem`); `found` = 1 or 0 (`dst` zeroed).
    MapReadCpu {
        map: MapId,
        key: Option<Mem>,
        cpu: VReg,
        dst: Mem,
        found: VReg,
    },
    /// dst = the low `bits` (16, 32 or 64) of src with their bytes reversed,
    /// zero-extended (`bswap`, `ntohs`, …).
    Bswap {
        dst: VReg,
        src: VReg,
        bits: u8,
    },
    /// A kernel helper called for its side effect (never in user-space blocks).
    Effect(Effect),
    /// dst = `bpf_get_stackid(ctx, map, flags)`: the id of the current kernel
    /// (or, with `user`, user) stack in the stack map `map`; negative on error.
    StackId {
        dst: VReg,
        map: MapId,
        user: bool,
    },
    /// `buf(p, n)`: store `min(count, cap)` as a u64 at `dst`, then copy that many
    /// bytes of kernel or user memory at `addr` to `dst + 8` (room for `cap`
    /// bytes, already zeroed; on a fault the copied range is zeroed).
    ReadBuf {
        dst: Mem,
        cap: u32,
        count: VReg,
        addr: VReg,
        user: bool,
    },
    /// Kernel only: `bpf_for_each_map_elem(map, body, ctx, 0)`. `body` is the
    /// callback, compiled as a subprogram with its own frame: on entry it copies
    /// the key (`key_size` bytes) and, at `round8(key_size)`, the value
    /// (`value_size` bytes, this CPU's copy for per-CPU maps) into `entry`, one
    /// of its own slots. Each `(outer, inner)` pair makes the body's slot
    /// `inner` an alias of this function's slot `outer` (the probe's variables),
    /// reached through the callback context pointer. The body's `Return` ends
    /// the iteration when the 8-byte value at `stop` (a body slot, usually an
    /// alias) has bit 0 set. `count` = the number of elements visited.
    MapForEach {
        map: MapId,
        body: Box<Function>,
        outer: Vec<(SlotId, SlotId)>,
        entry: Option<Mem>,
        stop: Option<Mem>,
        count: Option<VReg>,
    },
}

/// Side effects only a kernel probe can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `signal(sig)`: bpf_send_signal to the current task.
    Signal { sig: VReg },
    /// `override(rc)`: bpf_override_return; `ctx` holds the probe context
    /// (from `CtxAddr { off: 0 }`).
    Override { ctx: VReg, rc: VReg },
    /// `debugf(fmt, …)`: bpf_trace_printk of the NUL-terminated format of
    /// `len` bytes (NUL included) at `fmt`, with up to three integer arguments.
    TracePrintk {
        fmt: Mem,
        len: u32,
        args: [Option<VReg>; 3],
    },
    /// `path(p)`: bpf_d_path of the `struct path *` in `addr` into `len` bytes
    /// at `dst` (fentry/fexit on the functions the kernel allows).
    DPath { addr: VReg, dst: Mem, len: u32 },
}

impl Inst {
    /// The vreg this instruction writes, if any.
    pub fn def(&self) -> Option<VReg> {
        match *self {
            Inst::Const { dst, .. }
            | Inst::Mov { dst, .. }
            | Inst::Bin { dst, .. }
            | Inst::Cmp { dst, .. }
            | Inst::Neg { dst, .. }
            | Inst::Not { dst, .. }
            | Inst::Ext { dst, .. }
            | Inst::Load { dst, .. }
            | Inst::CtxLoad { dst, .. }
            | Inst::CtxAddr { dst, .. }
            | Inst::Builtin { dst, .. }
            | Inst::StrEq { dst, .. }
            | Inst::MapLen { dst, .. }
            | Inst::Bswap { dst, .. }
            | Inst::StackId { dst, .. } => Some(dst),
            Inst::MapEntry { found, .. } | Inst::MapReadCpu { found, .. } => Some(found),
            Inst::MapRead { found, .. } => found,
            Inst::MapForEach { count, .. } => count,
            Inst::Store { .. }
            | Inst::Zero { .. }
            | Inst::Copy { .. }
            | Inst::Read { .. }
            | Inst::ReadStr { .. }
            | Inst::ReadBuf { .. }
            | Inst::Comm { .. }
            | Inst::MapWrite { .. }
            | Inst::MapAgg { .. }
            | Inst::MapDelete { .. }
            | Inst::Emit { .. }
            | Inst::Effect(_) => None,
        }
    }

    /// Calls `visit` on each vreg this instruction reads (the probe context,
    /// read by `CtxLoad`/`CtxAddr`, is not a vreg).
    pub fn for_each_use(&self, mut visit: impl FnMut(VReg)) {
        let operand = |op: Operand, visit: &mut dyn FnMut(VReg)| {
            if let Operand::Reg(r) = op {
                visit(r);
            }
        };
        match *self {
            Inst::Mov { src, .. }
            | Inst::Neg { src, .. }
            | Inst::Not { src, .. }
            | Inst::Ext { src, .. }
            | Inst::Bswap { src, .. } => visit(src),
            Inst::Effect(Effect::Signal { sig }) => visit(sig),
            Inst::Effect(Effect::Override { ctx, rc }) => {
                visit(ctx);
                visit(rc);
            }
            Inst::Effect(Effect::TracePrintk { args, .. }) => {
                args.iter().flatten().for_each(|&a| visit(a))
            }
            Inst::Effect(Effect::DPath { addr, .. }) => visit(addr),
            Inst::Bin { a, b, .. } | Inst::Cmp { a, b, .. } => {
                visit(a);
                operand(b, &mut visit);
            }
            Inst::Store { src, .. } | Inst::MapAgg { val: src, .. } => operand(src, &mut visit),
            Inst::Read { addr, .. } | Inst::ReadStr { addr, .. } => visit(addr),
            Inst::ReadBuf { count, addr, .. } => {
                visit(count);
                visit(addr);
            }
            Inst::MapEntry { index, .. } => visit(index),
            Inst::MapReadCpu { cpu, .. } => visit(cpu),
            Inst::MapLen { .. }
            | Inst::Const { .. }
            | Inst::Load { .. }
            | Inst::Zero { .. }
            | Inst::Copy { .. }
            | Inst::CtxLoad { .. }
            | Inst::CtxAddr { .. }
            | Inst::Builtin { .. }
            | Inst::Comm { .. }
            | Inst::StrEq { .. }
            | Inst::MapRead { .. }
            | Inst::MapWrite { .. }
            | Inst::MapDelete { .. }
            | Inst::Emit { .. }
            | Inst::StackId { .. }
            | Inst::MapForEach { .. } => {}
        }
    }
}

impl Function {
    pub fn new(name: impl Into<String>, context: Context) -> Function {
        Function {
            name: name.into(),
            context,
            slots: Vec::new(),
            blocks: vec![Block::default()],
            num_vregs: 0,
        }
    }
    pub fn new_vreg(&mut self) -> VReg {
        self.num_vregs += 1;
        self.num_vregs - 1
    }
    pub fn new_slot(&mut self, size: u32) -> SlotId {
        self.slots.push(Slot { size });
        (self.slots.len() - 1) as SlotId
    }
    pub fn new_block(&mut self) -> BlockId {
        self.blocks.push(Block::default());
        (self.blocks.len() - 1) as BlockId
    }
}

// ---- textual dump (`-d ir`) ----

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.maps.iter().enumerate() {
            writeln!(
                f,
                "map {i} {:?} {:?} key={} value={} max={} ({} -> {})",
                m.name, m.kind, m.key_size, m.value_size, m.max_entries, m.key_type, m.value_type
            )?;
        }
        for (i, e) in self.events.iter().enumerate() {
            writeln!(f, "event {i} {e:?}")?;
        }
        for func in &self.functions {
            write!(f, "{func}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nfn {} ({:?})", self.name, self.context)?;
        for (i, s) in self.slots.iter().enumerate() {
            writeln!(f, "  slot s{i}: {} bytes", s.size)?;
        }
        for (i, b) in self.blocks.iter().enumerate() {
            writeln!(f, "b{i}:")?;
            for inst in &b.insts {
                writeln!(f, "    {inst:?}")?;
            }
            writeln!(f, "    {:?}", b.term)?;
        }
        Ok(())
    }
}
