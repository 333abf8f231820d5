//! eBPF instructions: our own encoder and a disassembler for `rtrace -d bpf`.
//!
//! Every instruction is 8 bytes: opcode, dst/src register nibbles, a signed 16-bit
//! offset and a signed 32-bit immediate. `ld_imm64` takes two slots; the second holds
//! the upper half of the constant.

use std::fmt::Write as _;

/// A register number (r0..r10).
pub type Reg = u8;

pub const R0: Reg = 0;
pub const R1: Reg = 1;
pub const R2: Reg = 2;
pub const R3: Reg = 3;
pub const R4: Reg = 4;
pub const R5: Reg = 5;
pub const R6: Reg = 6;
pub const R7: Reg = 7;
pub const R8: Reg = 8;
pub const R9: Reg = 9;
/// The read-only frame pointer.
pub const R10: Reg = 10;

// Instruction classes.
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

// Memory modes.
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const MODE_MEMSX: u8 = 0x80;
const MODE_ATOMIC: u8 = 0xc0;

// Operand source.
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;

// ALU operation codes (upper nibble).
const OP_ADD: u8 = 0x00;
const OP_SUB: u8 = 0x10;
const OP_MUL: u8 = 0x20;
const OP_DIV: u8 = 0x30;
const OP_OR: u8 = 0x40;
const OP_AND: u8 = 0x50;
const OP_LSH: u8 = 0x60;
const OP_RSH: u8 = 0x70;
const OP_NEG: u8 = 0x80;
const OP_MOD: u8 = 0x90;
const OP_XOR: u8 = 0xa0;
const OP_MOV: u8 = 0xb0;
const OP_ARSH: u8 = 0xc0;
const OP_END: u8 = 0xd0;

// Jump operation codes (upper nibble).
const OP_JA: u8 = 0x00;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;

/// `src` value of an `ld_imm64` whose immediate is a map file descriptor.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;

/// `src` value of an `ld_imm64` whose immediate is the relative instruction
/// offset of a subprogram (a callback), like a bpf2bpf call's.
pub const BPF_PSEUDO_FUNC: u8 = 4;

/// Kernel helper function ids (`enum bpf_func_id`).
pub mod helper {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const MAP_UPDATE_ELEM: i32 = 2;
    pub const MAP_DELETE_ELEM: i32 = 3;
    pub const KTIME_GET_NS: i32 = 5;
    pub const GET_PRANDOM_U32: i32 = 7;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const GET_NUMA_NODE_ID: i32 = 42;
    pub const D_PATH: i32 = 147;
    pub const GET_CURRENT_PID_TGID: i32 = 14;
    pub const GET_CURRENT_UID_GID: i32 = 15;
    pub const GET_CURRENT_COMM: i32 = 16;
    pub const GET_STACKID: i32 = 27;
    pub const GET_CURRENT_TASK: i32 = 35;
    pub const GET_CURRENT_CGROUP_ID: i32 = 80;
    pub const PROBE_READ_USER: i32 = 112;
    pub const PROBE_READ_KERNEL: i32 = 113;
    pub const PROBE_READ_USER_STR: i32 = 114;
    pub const PROBE_READ_KERNEL_STR: i32 = 115;
    pub const RINGBUF_OUTPUT: i32 = 130;
    pub const MAP_LOOKUP_PERCPU_ELEM: i32 = 195;
    pub const TRACE_PRINTK: i32 = 6;
    pub const OVERRIDE_RETURN: i32 = 58;
    pub const SEND_SIGNAL: i32 = 109;
    pub const GET_ATTACH_COOKIE: i32 = 174;
    pub const FOR_EACH_MAP_ELEM: i32 = 164;
    pub const GET_FUNC_IP: i32 = 173;
}

/// The name of a helper we call, for the disassembler.
pub fn helper_name(id: i32) -> Option<&'static str> {
    use helper::*;
    Some(match id {
        MAP_LOOKUP_ELEM => "bpf_map_lookup_elem",
        MAP_UPDATE_ELEM => "bpf_map_update_elem",
        MAP_DELETE_ELEM => "bpf_map_delete_elem",
        KTIME_GET_NS => "bpf_ktime_get_ns",
        GET_PRANDOM_U32 => "bpf_get_prandom_u32",
        GET_SMP_PROCESSOR_ID => "bpf_get_smp_processor_id",
        GET_NUMA_NODE_ID => "bpf_get_numa_node_id",
        D_PATH => "bpf_d_path",
        GET_CURRENT_PID_TGID => "bpf_get_current_pid_tgid",
        GET_CURRENT_UID_GID => "bpf_get_current_uid_gid",
        GET_CURRENT_COMM => "bpf_get_current_comm",
        GET_CURRENT_TASK => "bpf_get_current_task",
        GET_CURRENT_CGROUP_ID => "bpf_get_current_cgroup_id",
        PROBE_READ_USER => "bpf_probe_read_user",
        PROBE_READ_KERNEL => "bpf_probe_read_kernel",
        PROBE_READ_USER_STR => "bpf_probe_read_user_str",
        PROBE_READ_KERNEL_STR => "bpf_probe_read_kernel_str",
        RINGBUF_OUTPUT => "bpf_ringbuf_output",
        MAP_LOOKUP_PERCPU_ELEM => "bpf_map_lookup_percpu_elem",
        TRACE_PRINTK => "bpf_trace_printk",
        OVERRIDE_RETURN => "bpf_override_return",
        SEND_SIGNAL => "bpf_send_signal",
        GET_ATTACH_COOKIE => "bpf_get_attach_cookie",
        FOR_EACH_MAP_ELEM => "bpf_for_each_map_elem",
        GET_FUNC_IP => "bpf_get_func_ip",
        _ => return None,
    })
}

/// Access width of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    /// The size for an access of `bytes` (1, 2, 4 or 8).
    pub fn from_bytes(bytes: u32) -> Size {
        match bytes {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            _ => Size::DW,
        }
    }

    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    fn code(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    fn from_code(code: u8) -> Size {
        match code & 0x18 {
            0x00 => Size::W,
            0x08 => Size::H,
            0x10 => Size::B,
            _ => Size::DW,
        }
    }
}

/// Binary ALU operations (the signed ones are BPF v4 `sdiv`/`smod`: off = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Mod,
    SMod,
    Or,
    And,
    Xor,
    Lsh,
    Rsh,
    Arsh,
    Mov,
}

impl Alu {
    /// (operation code, offset field)
    fn encoding(self) -> (u8, i16) {
        match self {
            Alu::Add => (OP_ADD, 0),
            Alu::Sub => (OP_SUB, 0),
            Alu::Mul => (OP_MUL, 0),
            Alu::Div => (OP_DIV, 0),
            Alu::SDiv => (OP_DIV, 1),
            Alu::Mod => (OP_MOD, 0),
            Alu::SMod => (OP_MOD, 1),
            Alu::Or => (OP_OR, 0),
            Alu::And => (OP_AND, 0),
            Alu::Xor => (OP_XOR, 0),
            Alu::Lsh => (OP_LSH, 0),
            Alu::Rsh => (OP_RSH, 0),
            Alu::Arsh => (OP_ARSH, 0),
            Alu::Mov => (OP_MOV, 0),
        }
    }

    /// True if `a op b == b op a`.
    pub fn is_commutative(self) -> bool {
        matches!(self, Alu::Add | Alu::Mul | Alu::Or | Alu::And | Alu::Xor)
    }
}

/// Conditional jump predicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jmp {
    Eq,
    Ne,
    /// Unsigned >
    Gt,
    Ge,
    Lt,
    Le,
    /// Signed >
    SGt,
    SGe,
    SLt,
    SLe,
    /// `dst & src != 0`
    Set,
}

impl Jmp {
    fn code(self) -> u8 {
        match self {
            Jmp::Eq => 0x10,
            Jmp::Gt => 0x20,
            Jmp::Ge => 0x30,
            Jmp::Set => 0x40,
            Jmp::Ne => 0x50,
            Jmp::SGt => 0x60,
            Jmp::SGe => 0x70,
            Jmp::Lt => 0xa0,
            Jmp::Le => 0xb0,
            Jmp::SLt => 0xc0,
            Jmp::SLe => 0xd0,
        }
    }

    fn from_code(op: u8) -> Option<Jmp> {
        Some(match op {
            0x10 => Jmp::Eq,
            0x20 => Jmp::Gt,
            0x30 => Jmp::Ge,
            0x40 => Jmp::Set,
            0x50 => Jmp::Ne,
            0x60 => Jmp::SGt,
            0x70 => Jmp::SGe,
            0xa0 => Jmp::Lt,
            0xb0 => Jmp::Le,
            0xc0 => Jmp::SLt,
            0xd0 => Jmp::SLe,
            _ => return None,
        })
    }

    /// The predicate that holds exactly when `self` does not (None for `Set`).
    pub fn negate(self) -> Option<Jmp> {
        Some(match self {
            Jmp::Eq => Jmp::Ne,
            Jmp::Ne => Jmp::Eq,
            Jmp::Gt => Jmp::Le,
            Jmp::Le => Jmp::Gt,
            Jmp::Ge => Jmp::Lt,
            Jmp::Lt => Jmp::Ge,
            Jmp::SGt => Jmp::SLe,
            Jmp::SLe => Jmp::SGt,
            Jmp::SGe => Jmp::SLt,
            Jmp::SLt => Jmp::SGe,
            Jmp::Set => return None,
        })
    }

    /// The predicate with its operands swapped (`a < b` ⇔ `b > a`).
    pub fn swap(self) -> Jmp {
        match self {
            Jmp::Gt => Jmp::Lt,
            Jmp::Lt => Jmp::Gt,
            Jmp::Ge => Jmp::Le,
            Jmp::Le => Jmp::Ge,
            Jmp::SGt => Jmp::SLt,
            Jmp::SLt => Jmp::SGt,
            Jmp::SGe => Jmp::SLe,
            Jmp::SLe => Jmp::SGe,
            other => other,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Jmp::Eq => "==",
            Jmp::Ne => "!=",
            Jmp::Gt => ">",
            Jmp::Ge => ">=",
            Jmp::Lt => "<",
            Jmp::Le => "<=",
            Jmp::SGt => "s>",
            Jmp::SGe => "s>=",
            Jmp::SLt => "s<",
            Jmp::SLe => "s<=",
            Jmp::Set => "&",
        }
    }
}

/// One 8-byte eBPF instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    pub dst: Reg,
    pub src: Reg,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The little-endian wire form.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn class(self) -> u8 {
        self.code & 0x07
    }

    /// True for the first slot of a two-slot `ld_imm64`.
    pub fn is_ld_imm64(self) -> bool {
        self.code == CLASS_LD | MODE_IMM | Size::DW.code()
    }

    /// True for conditional and unconditional jumps that carry an `off` target.
    pub fn is_jump(self) -> bool {
        let class = self.class();
        let op = self.code & 0xf0;
        (class == CLASS_JMP || class == CLASS_JMP32) && op != OP_CALL && op != OP_EXIT
    }
}

/// Serialise instructions to the byte form the kernel and ELF want.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

fn alu(class: u8, op: Alu, src_kind: u8, dst: Reg, src: Reg, imm: i32) -> Insn {
    let (code, off) = op.encoding();
    Insn {
        code: class | src_kind | code,
        dst,
        src,
        off,
        imm,
    }
}

/// `dst op= src` on 64 bits.
pub fn alu64_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
    alu(CLASS_ALU64, op, SRC_X, dst, src, 0)
}

/// `dst op= imm` on 64 bits (imm sign-extended).
pub fn alu64_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
    alu(CLASS_ALU64, op, SRC_K, dst, 0, imm)
}

/// `wdst op= wsrc` on 32 bits; the result is zero-extended.
pub fn alu32_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
    alu(CLASS_ALU, op, SRC_X, dst, src, 0)
}

/// `wdst op= imm` on 32 bits; the result is zero-extended.
pub fn alu32_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
    alu(CLASS_ALU, op, SRC_K, dst, 0, imm)
}

pub fn mov64_reg(dst: Reg, src: Reg) -> Insn {
    alu64_reg(Alu::Mov, dst, src)
}

pub fn mov64_imm(dst: Reg, imm: i32) -> Insn {
    alu64_imm(Alu::Mov, dst, imm)
}

/// `wdst = wsrc`: copies the low 32 bits and clears the upper ones.
pub fn mov32_reg(dst: Reg, src: Reg) -> Insn {
    alu32_reg(Alu::Mov, dst, src)
}

/// `wdst = imm`: the upper 32 bits are cleared.
pub fn mov32_imm(dst: Reg, imm: i32) -> Insn {
    alu32_imm(Alu::Mov, dst, imm)
}

/// `dst = (s<bits>) src` (BPF v4 `movsx`, bits = 8, 16 or 32).
pub fn movsx64(dst: Reg, src: Reg, bits: u8) -> Insn {
    Insn {
        code: CLASS_ALU64 | SRC_X | OP_MOV,
        dst,
        src,
        off: i16::from(bits),
        imm: 0,
    }
}

/// `dst = -dst` on 64 bits.
/// `dst = be16/be32/be64(dst)`: on a little-endian machine, reverse the low
/// `bits` bits' bytes and zero the rest.
pub fn bswap(dst: Reg, bits: u8) -> Insn {
    Insn {
        code: CLASS_ALU | SRC_X | OP_END,
        dst,
        src: 0,
        off: 0,
        imm: i32::from(bits),
    }
}

pub fn neg64(dst: Reg) -> Insn {
    Insn {
        code: CLASS_ALU64 | SRC_K | OP_NEG,
        dst,
        ..Insn::default()
    }
}

/// `dst = value` for any 64-bit constant (two slots).
pub fn ld_imm64(dst: Reg, value: i64) -> [Insn; 2] {
    [
        Insn {
            code: CLASS_LD | MODE_IMM | Size::DW.code(),
            dst,
            src: 0,
            off: 0,
            imm: value as i32,
        },
        Insn {
            imm: (value >> 32) as i32,
            ..Insn::default()
        },
    ]
}

/// `dst = map` (two slots): the loader patches the map's fd into `imm`.
pub fn ld_map_fd(dst: Reg) -> [Insn; 2] {
    let mut pair = ld_imm64(dst, 0);
    pair[0].src = BPF_PSEUDO_MAP_FD;
    pair
}

/// `dst = *(size *)(src + off)`, zero-extended.
pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn {
        code: CLASS_LDX | MODE_MEM | size.code(),
        dst,
        src,
        off,
        imm: 0,
    }
}

/// `dst = *(s<size> *)(src + off)`, sign-extended (BPF v4).
pub fn ldxsx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn {
        code: CLASS_LDX | MODE_MEMSX | size.code(),
        dst,
        src,
        off,
        imm: 0,
    }
}

/// `*(size *)(dst + off) = src`
pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
    Insn {
        code: CLASS_STX | MODE_MEM | size.code(),
        dst,
        src,
        off,
        imm: 0,
    }
}

/// `*(size *)(dst + off) = imm` (sign-extended to 64 bits for DW).
pub fn st(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
    Insn {
        code: CLASS_ST | MODE_MEM | size.code(),
        dst,
        src: 0,
        off,
        imm,
    }
}

/// `if dst <cond> imm goto +off` (64-bit compare, imm sign-extended).
pub fn jmp_imm(cond: Jmp, dst: Reg, imm: i32, off: i16) -> Insn {
    Insn {
        code: CLASS_JMP | SRC_K | cond.code(),
        dst,
        src: 0,
        off,
        imm,
    }
}

/// `if dst <cond> src goto +off` (64-bit compare).
pub fn jmp_reg(cond: Jmp, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn {
        code: CLASS_JMP | SRC_X | cond.code(),
        dst,
        src,
        off,
        imm: 0,
    }
}

/// `goto +off`
pub fn ja(off: i16) -> Insn {
    Insn {
        code: CLASS_JMP | OP_JA,
        off,
        ..Insn::default()
    }
}

/// `call helper`
pub fn call(helper: i32) -> Insn {
    Insn {
        code: CLASS_JMP | OP_CALL,
        imm: helper,
        ..Insn::default()
    }
}

pub fn exit() -> Insn {
    Insn {
        code: CLASS_JMP | OP_EXIT,
        ..Insn::default()
    }
}

// ---- disassembler ----

/// Render instructions as readable assembly, one numbered line per instruction.
/// `map_name(i)` names the map whose fd the `ld_imm64` at index `i` loads.
pub fn disassemble_insns(insns: &[Insn], map_name: &dyn Fn(usize) -> Option<String>) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let text = if insn.is_ld_imm64() {
            let high = insns.get(i + 1).map_or(0, |n| n.imm);
            let text = format_ld_imm64(insn, high, map_name(i));
            let _ = writeln!(out, "{i:4}: {text}");
            i += 2;
            continue;
        } else {
            format_insn(insn)
        };
        let _ = writeln!(out, "{i:4}: {text}");
        i += 1;
    }
    out
}

fn format_ld_imm64(insn: Insn, high: i32, map: Option<String>) -> String {
    let dst = insn.dst;
    if insn.src == BPF_PSEUDO_MAP_FD {
        return match map {
            Some(name) => format!("r{dst} = map[{name}]"),
            None => format!("r{dst} = map_fd({})", insn.imm),
        };
    }
    let value = (i64::from(high) << 32) | i64::from(insn.imm as u32);
    format!("r{dst} = {value} ll")
}

/// One instruction as text (no index); `ld_imm64` shows only its low half.
pub fn format_insn(insn: Insn) -> String {
    match insn.class() {
        CLASS_ALU64 => format_alu(insn, 'r'),
        CLASS_ALU => format_alu(insn, 'w'),
        CLASS_LDX => format_ldx(insn),
        CLASS_ST | CLASS_STX => format_store(insn),
        CLASS_JMP => format_jmp(insn, 'r'),
        CLASS_JMP32 => format_jmp(insn, 'w'),
        CLASS_LD if insn.is_ld_imm64() => format_ld_imm64(insn, 0, None),
        _ => unknown(insn),
    }
}

fn unknown(insn: Insn) -> String {
    format!(
        "(unknown opcode {:#04x} dst={} src={} off={} imm={})",
        insn.code, insn.dst, insn.src, insn.off, insn.imm
    )
}

fn format_alu(insn: Insn, reg: char) -> String {
    let dst = insn.dst;
    let operand = if insn.code & SRC_X != 0 {
        format!("{reg}{}", insn.src)
    } else {
        insn.imm.to_string()
    };
    let signed = insn.off == 1;
    let op = match insn.code & 0xf0 {
        OP_ADD => "+=",
        OP_SUB => "-=",
        OP_MUL => "*=",
        OP_DIV if signed => "s/=",
        OP_DIV => "/=",
        OP_MOD if signed => "s%=",
        OP_MOD => "%=",
        OP_OR => "|=",
        OP_AND => "&=",
        OP_XOR => "^=",
        OP_LSH => "<<=",
        OP_RSH => ">>=",
        OP_ARSH => "s>>=",
        OP_NEG => return format!("{reg}{dst} = -{reg}{dst}"),
        OP_MOV if insn.code & SRC_X != 0 && insn.off != 0 => {
            return format!("{reg}{dst} = (s{}){reg}{}", insn.off, insn.src)
        }
        OP_MOV => return format!("{reg}{dst} = {operand}"),
        OP_END => {
            let order = if insn.code & SRC_X != 0 { "be" } else { "le" };
            let order = if insn.class() == CLASS_ALU64 {
                "bswap"
            } else {
                order
            };
            return format!("r{dst} = {order}{} r{dst}", insn.imm);
        }
        _ => return unknown(insn),
    };
    format!("{reg}{dst} {op} {operand}")
}

fn size_name(size: Size, signed: bool) -> String {
    let sign = if signed { 's' } else { 'u' };
    format!("{sign}{}", size.bytes() * 8)
}

fn address(base: Reg, off: i16) -> String {
    if off < 0 {
        format!("r{base} - {}", -i32::from(off))
    } else {
        format!("r{base} + {off}")
    }
}

fn format_ldx(insn: Insn) -> String {
    let signed = match insn.code & 0xe0 {
        MODE_MEM => false,
        MODE_MEMSX => true,
        _ => return unknown(insn),
    };
    let size = size_name(Size::from_code(insn.code), signed);
    format!(
        "r{} = *({size} *)({})",
        insn.dst,
        address(insn.src, insn.off)
    )
}

fn format_store(insn: Insn) -> String {
    let size = size_name(Size::from_code(insn.code), false);
    let place = format!("*({size} *)({})", address(insn.dst, insn.off));
    match (insn.class(), insn.code & 0xe0) {
        (CLASS_ST, MODE_MEM) => format!("{place} = {}", insn.imm),
        (CLASS_STX, MODE_MEM) => format!("{place} = r{}", insn.src),
        (CLASS_STX, MODE_ATOMIC) if insn.imm == i32::from(OP_ADD) => {
            format!("lock {place} += r{}", insn.src)
        }
        _ => unknown(insn),
    }
}

fn jump_target(off: i32) -> String {
    if off < 0 {
        off.to_string()
    } else {
        format!("+{off}")
    }
}

fn format_jmp(insn: Insn, reg: char) -> String {
    match insn.code & 0xf0 {
        OP_JA if reg == 'r' => return format!("goto {}", jump_target(i32::from(insn.off))),
        // In the JMP32 class `ja` is `gotol`, with a 32-bit offset in imm.
        OP_JA => return format!("gotol {}", jump_target(insn.imm)),
        OP_CALL => {
            return match helper_name(insn.imm) {
                Some(name) => format!("call {name}"),
                None => format!("call {}", insn.imm),
            }
        }
        OP_EXIT => return "exit".to_string(),
        _ => {}
    }
    let Some(cond) = Jmp::from_code(insn.code & 0xf0) else {
        return unknown(insn);
    };
    let operand = if insn.code & SRC_X != 0 {
        format!("{reg}{}", insn.src)
    } else {
        insn.imm.to_string()
    };
    format!(
        "if {reg}{} {} {operand} goto {}",
        insn.dst,
        cond.symbol(),
        jump_target(i32::from(insn.off))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel_uapi() {
        // r1 = *(u64 *)(r10 - 8)  →  79 a1 f8 ff 00 00 00 00
        assert_eq!(
            ldx(Size::DW, R1, R10, -8).to_bytes(),
            [0x79, 0xa1, 0xf8, 0xff, 0, 0, 0, 0]
        );
        // call 1  →  85 00 00 00 01 00 00 00
        assert_eq!(call(1).to_bytes(), [0x85, 0, 0, 0, 1, 0, 0, 0]);
        // r0 = 0 ; exit
        assert_eq!(mov64_imm(R0, 0).to_bytes(), [0xb7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        // sdiv r1, r2 has off = 1
        assert_eq!(
            alu64_reg(Alu::SDiv, R1, R2).to_bytes(),
            [0x3f, 0x21, 1, 0, 0, 0, 0, 0]
        );
        let pair = ld_imm64(R2, 0x1122334455667788);
        assert_eq!(pair[0].imm as u32, 0x55667788);
        assert_eq!(pair[1].imm as u32, 0x11223344);
        let back = Insn::from_bytes(stx(Size::W, R10, -4, R3).to_bytes());
        assert_eq!(back, stx(Size::W, R10, -4, R3));
    }

    #[test]
    fn disassembles_readably() {
        let mut insns = vec![
            st(Size::W, R10, -4, 0),
            mov64_reg(R2, R10),
            alu64_imm(Alu::Add, R2, -4),
        ];
        insns.extend(ld_map_fd(R1));
        insns.extend([
            call(helper::MAP_LOOKUP_ELEM),
            jmp_imm(Jmp::Eq, R0, 0, 3),
            ldxsx(Size::W, R1, R0, 0),
            movsx64(R1, R1, 8),
            alu64_reg(Alu::SMod, R1, R2),
            mov32_reg(R1, R1),
            jmp_reg(Jmp::SLt, R1, R2, -2),
            neg64(R3),
        ]);
        insns.extend(ld_imm64(R4, -2));
        insns.push(exit());
        let text = disassemble_insns(&insns, &|i| (i == 3).then(|| "m0".to_string()));
        let expected = "   0: *(u32 *)(r10 - 4) = 0
   1: r2 = r10
   2: r2 += -4
   3: r1 = map[m0]
   5: call bpf_map_lookup_elem
   6: if r0 == 0 goto +3
   7: r1 = *(s32 *)(r0 + 0)
   8: r1 = (s8)r1
   9: r1 s%= r2
  10: w1 = w1
  11: if r1 s< r2 goto -2
  12: r3 = -r3
  13: r4 = -2 ll
  15: exit
";
        assert_eq!(text, expected);
    }
}
