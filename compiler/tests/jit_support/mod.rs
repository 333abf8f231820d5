//! Shared by the JIT tests: a recording `Host` and the expression table
//! (IR built once, expected values computed independently in Rust).
#![allow(dead_code)]

use rtrace_compiler::ir::{
    AggOp, BinOp, Builtin, Cond, Context, Function, Inst, MapId, MapKind, MapSpec, Mem, Module,
    Operand, VReg,
};
use rtrace_compiler::jit::Host;
use rtrace_stdlib::types::Type;
use std::collections::HashMap;

/// A recorded `map_write`: map, key bytes, value bytes.
pub type Write = (MapId, Option<Vec<u8>>, Vec<u8>);

/// A `Host` that records every call and keeps written values so reads see them.
#[derive(Default)]
pub struct Recorder {
    pub writes: Vec<Write>,
    pub aggs: Vec<(MapId, Option<Vec<u8>>, AggOp, i64)>,
    pub deletes: Vec<(MapId, Option<Vec<u8>>)>,
    pub emits: Vec<Vec<u8>>,
    pub reads: Vec<(u64, usize, bool)>,
    pub values: HashMap<(MapId, Option<Vec<u8>>), Vec<u8>>,
    /// What `read` copies (None: the read faults).
    pub memory: Option<Vec<u8>>,
    /// What `read_str` copies, unterminated on purpose when it fills `dst`.
    pub string: Vec<u8>,
    pub comm: Vec<u8>,
}

impl Host for Recorder {
    fn map_read(&mut self, map: MapId, key: Option<&[u8]>, dst: &mut [u8]) -> bool {
        match self.values.get(&(map, key.map(<[u8]>::to_vec))) {
            Some(v) => {
                dst.copy_from_slice(v);
                true
            }
            None => {
                // Garbage: the JIT must zero `dst` itself when nothing is found.
                dst.fill(0xAA);
                false
            }
        }
    }

    fn map_write(&mut self, map: MapId, key: Option<&[u8]>, src: &[u8]) {
        let key = key.map(<[u8]>::to_vec);
        self.writes.push((map, key.clone(), src.to_vec()));
        self.values.insert((map, key), src.to_vec());
    }

    fn map_agg(&mut self, map: MapId, key: Option<&[u8]>, op: AggOp, val: i64) {
        self.aggs.push((map, key.map(<[u8]>::to_vec), op, val));
    }

    fn map_delete(&mut self, map: MapId, key: Option<&[u8]>) {
        let key = key.map(<[u8]>::to_vec);
        self.values.remove(&(map, key.clone()));
        self.deletes.push((map, key));
    }

    fn emit(&mut self, record: &[u8]) {
        self.emits.push(record.to_vec());
    }

    fn builtin(&mut self, which: Builtin) -> u64 {
        match which {
            Builtin::Pid => 4242,
            Builtin::Nsecs => 123_456_789,
            Builtin::CurTask => 0,
            _ => 7,
        }
    }

    fn comm(&mut self, dst: &mut [u8]) {
        let n = self.comm.len().min(dst.len());
        dst[..n].copy_from_slice(&self.comm[..n]);
    }

    fn read(&mut self, dst: &mut [u8], addr: u64, user: bool) -> bool {
        self.reads.push((addr, dst.len(), user));
        match &self.memory {
            Some(m) => {
                dst.copy_from_slice(&m[..dst.len()]);
                true
            }
            None => {
                dst.fill(0xEE);
                false
            }
        }
    }

    fn read_str(&mut self, dst: &mut [u8], addr: u64, user: bool) {
        self.reads.push((addr, dst.len(), user));
        let n = self.string.len().min(dst.len());
        dst[..n].copy_from_slice(&self.string[..n]);
    }
}

/// Decode the u64 values of an Array map written as (u32 key → u64 value).
pub fn array_values(writes: &[Write], len: usize) -> Vec<i64> {
    let mut out = vec![None; len];
    for (_, key, value) in writes {
        let key = key.as_ref().expect("array maps have keys");
        let index = u32::from_le_bytes(key[..4].try_into().unwrap()) as usize;
        out[index] = Some(i64::from_le_bytes(value[..8].try_into().unwrap()));
    }
    out.into_iter()
        .enumerate()
        .map(|(i, v)| v.unwrap_or_else(|| panic!("case {i} was never written")))
        .collect()
}

// ---- the expression table ----

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Bin(BinOp),
    Cmp(Cond),
    Ext { bits: u8, signed: bool },
    Neg,
    Not,
}

/// One expression: `a op b`, with `b` an immediate operand if `imm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub op: Op,
    pub a: i64,
    pub b: i64,
    pub imm: bool,
}

pub const BIN_OPS: [BinOp; 13] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::UDiv,
    BinOp::SDiv,
    BinOp::URem,
    BinOp::SRem,
    BinOp::And,
    BinOp::Or,
    BinOp::Xor,
    BinOp::Shl,
    BinOp::LShr,
    BinOp::AShr,
];

pub const CONDS: [Cond; 10] = [
    Cond::Eq,
    Cond::Ne,
    Cond::ULt,
    Cond::ULe,
    Cond::UGt,
    Cond::UGe,
    Cond::SLt,
    Cond::SLe,
    Cond::SGt,
    Cond::SGe,
];

/// Register operands: signs, zero, ±1, extremes, shift counts ≥ 64.
pub const VALUES: [i64; 10] = [
    0,
    1,
    -1,
    3,
    -7,
    64,
    65,
    i64::MIN,
    i64::MAX,
    0x1234_5678_9abc_def0,
];

/// Immediate operands: all fit in 32 bits (the eBPF immediate field).
pub const IMMEDIATES: [i64; 8] = [0, 1, -1, 3, -7, 64, 0x7fff_ffff, -0x8000_0000];

/// Values for the one-operand ops.
pub const UNARY_VALUES: [i64; 8] = [
    0,
    -1,
    -128,
    0x1_80,
    0xffff_8000,
    0x8000_0000,
    i64::MIN,
    0x1234_5678_9abc_def0,
];

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for op in BIN_OPS {
        for a in VALUES {
            for b in VALUES {
                out.push(Case {
                    op: Op::Bin(op),
                    a,
                    b,
                    imm: false,
                });
            }
            for b in IMMEDIATES {
                out.push(Case {
                    op: Op::Bin(op),
                    a,
                    b,
                    imm: true,
                });
            }
        }
    }
    for cond in CONDS {
        for a in VALUES {
            for b in VALUES {
                out.push(Case {
                    op: Op::Cmp(cond),
                    a,
                    b,
                    imm: false,
                });
            }
            for b in [-1, 0, 3] {
                out.push(Case {
                    op: Op::Cmp(cond),
                    a,
                    b,
                    imm: true,
                });
            }
        }
    }
    for a in UNARY_VALUES {
        for bits in [8, 16, 32] {
            for signed in [false, true] {
                out.push(Case {
                    op: Op::Ext { bits, signed },
                    a,
                    b: 0,
                    imm: false,
                });
            }
        }
        out.push(Case {
            op: Op::Neg,
            a,
            b: 0,
            imm: false,
        });
        out.push(Case {
            op: Op::Not,
            a,
            b: 0,
            imm: false,
        });
    }
    out
}

/// The eBPF result of a case, computed with Rust's integer operations.
pub fn expected(case: &Case) -> i64 {
    let (a, b) = (case.a, case.b);
    let (ua, ub) = (a as u64, b as u64);
    match case.op {
        Op::Bin(op) => match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::UDiv => ua.checked_div(ub).unwrap_or(0) as i64,
            BinOp::URem => ua.checked_rem(ub).unwrap_or(ua) as i64,
            BinOp::SDiv if b == 0 => 0,
            BinOp::SDiv => a.wrapping_div(b),
            BinOp::SRem if b == 0 => a,
            BinOp::SRem => a.wrapping_rem(b),
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::Shl => ua.wrapping_shl((ub % 64) as u32) as i64,
            BinOp::LShr => ua.wrapping_shr((ub % 64) as u32) as i64,
            BinOp::AShr => a.wrapping_shr((ub % 64) as u32),
        },
        Op::Cmp(cond) => i64::from(match cond {
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
        }),
        Op::Ext { bits, signed } => match (bits, signed) {
            (8, false) => i64::from(a as u8),
            (8, true) => i64::from(a as i8),
            (16, false) => i64::from(a as u16),
            (16, true) => i64::from(a as i16),
            (32, false) => i64::from(a as u32),
            _ => i64::from(a as i32),
        },
        Op::Neg => a.wrapping_neg(),
        Op::Not => !a,
    }
}

/// Where the table's operands come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// `Const` instructions: lets an optimising back end fold the expression.
    Constants,
    /// Read at run time from the inputs map (key `i` → `[a, b]`): the generated
    /// instructions themselves compute the result.
    FromMap,
}

pub const RESULTS_MAP: MapId = 0;
pub const INPUTS_MAP: MapId = 1;

pub fn array_map(name: &str, entries: usize, value_size: u32) -> MapSpec {
    MapSpec {
        name: name.into(),
        kind: MapKind::Array,
        key_size: 4,
        value_size,
        max_entries: entries as u32,
        key_type: Type::U32,
        value_type: Type::U64,
    }
}

/// The inputs map value of a case: `a` then `b`, little-endian.
pub fn input_value(case: &Case) -> [u8; 16] {
    let mut v = [0; 16];
    v[..8].copy_from_slice(&case.a.to_le_bytes());
    v[8..].copy_from_slice(&case.b.to_le_bytes());
    v
}

/// Put every case's operands into the recorder's inputs map.
pub fn load_inputs(host: &mut Recorder, cases: &[Case]) {
    for (i, case) in cases.iter().enumerate() {
        let key = (i as u32).to_le_bytes().to_vec();
        host.values
            .insert((INPUTS_MAP, Some(key)), input_value(case).to_vec());
    }
}

/// One function evaluating every case and writing result `i` under key `i` of
/// the results map (Array, u32 → u64). Every case uses fresh registers, so the
/// function has thousands.
pub fn table_module(cases: &[Case], name: &str, context: Context, inputs: Inputs) -> Module {
    let mut f = Function::new(name, context);
    let key = f.new_slot(8);
    let value = f.new_slot(8);
    let operands = f.new_slot(16);
    let mut insts = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let key_at = Mem::at(key, 0);
        insts.push(Inst::Store {
            mem: key_at,
            src: Operand::Imm(i as i64),
            size: 4,
        });
        if inputs == Inputs::FromMap {
            let dst = Mem::at(operands, 0);
            insts.push(Inst::MapRead {
                map: INPUTS_MAP,
                key: Some(key_at),
                dst,
                found: None,
            });
        }
        let r = case_insts(
            &mut f,
            &mut insts,
            case,
            (inputs == Inputs::FromMap).then_some(operands),
        );
        insts.push(Inst::Store {
            mem: Mem::at(value, 0),
            src: Operand::Reg(r),
            size: 8,
        });
        insts.push(Inst::MapWrite {
            map: RESULTS_MAP,
            key: Some(key_at),
            src: Mem::at(value, 0),
        });
    }
    f.blocks[0].insts = insts;
    Module {
        maps: vec![
            array_map("results", cases.len(), 8),
            array_map("inputs", cases.len(), 16),
        ],
        events: Vec::new(),
        functions: vec![f],
    }
}

/// Append the instructions computing `case`, its operands taken from
/// `operands` (a slot holding `[a, b]`) or from constants; returns the
/// result register.
fn case_insts(f: &mut Function, insts: &mut Vec<Inst>, case: &Case, operands: Option<u32>) -> VReg {
    let mut operand = |f: &mut Function, value: i64, off: u32| {
        let r = f.new_vreg();
        insts.push(match operands {
            Some(slot) => Inst::Load {
                dst: r,
                mem: Mem::at(slot, off),
                size: 8,
                signed: false,
            },
            None => Inst::Const { dst: r, value },
        });
        r
    };
    let a = operand(f, case.a, 0);
    let b = if case.imm {
        Operand::Imm(case.b)
    } else {
        Operand::Reg(operand(f, case.b, 8))
    };
    let dst = f.new_vreg();
    insts.push(match case.op {
        Op::Bin(op) => Inst::Bin { dst, op, a, b },
        Op::Cmp(cond) => Inst::Cmp { dst, cond, a, b },
        Op::Ext { bits, signed } => Inst::Ext {
            dst,
            src: a,
            bits,
            signed,
        },
        Op::Neg => Inst::Neg { dst, src: a },
        Op::Not => Inst::Not { dst, src: a },
    });
    dst
}
