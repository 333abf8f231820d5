//! The Cranelift JIT back end, run through a recording `Host`.

mod jit_support;

use jit_support::{array_values, cases, expected, load_inputs, table_module, Inputs, Recorder};
use rtrace_compiler::ir::{
    AggOp, BinOp, Block, Builtin, Cond, Context, Function, Inst, MapKind, MapSpec, Mem, Module,
    Operand, Term,
};
use rtrace_compiler::jit::{compile, Host, JitProgram};
use rtrace_stdlib::types::Type;
use std::time::Instant;

fn run_one(module: &Module) -> Recorder {
    let mut host = Recorder::default();
    run_with(module, &mut host);
    host
}

fn run_with(module: &Module, host: &mut Recorder) {
    let program = compile(module, &[0]).unwrap_or_else(|e| panic!("{e}"));
    program.run(0, host);
}

fn module_of(f: Function, maps: Vec<MapSpec>) -> Module {
    Module {
        maps,
        events: Vec::new(),
        functions: vec![f],
    }
}

fn hash_map(key_size: u32, value_size: u32) -> MapSpec {
    MapSpec {
        name: "@m".into(),
        kind: MapKind::Hash,
        key_size,
        value_size,
        max_entries: 1024,
        key_type: Type::U64,
        value_type: Type::U64,
    }
}

fn keyless_map(value_size: u32) -> MapSpec {
    MapSpec {
        name: "@".into(),
        kind: MapKind::PerCpuArray,
        key_size: 4,
        value_size,
        max_entries: 1,
        key_type: Type::None,
        value_type: Type::Count,
    }
}

/// A function whose entry block ends by emitting `len` bytes of `slot`.
fn emit_slot(f: &mut Function, slot: u32, len: u32) {
    f.blocks[0].insts.push(Inst::Emit {
        mem: Mem::at(slot, 0),
        len,
    });
}

#[test]
fn expression_table_matches_rust_integer_semantics() {
    let cases = cases();
    assert!(cases.len() > 3000);
    for inputs in [Inputs::Constants, Inputs::FromMap] {
        let module = table_module(&cases, "table", Context::User, inputs);
        let start = Instant::now();
        let program = compile(&module, &[0]).unwrap();
        eprintln!(
            "JIT compile of the {}-case table ({inputs:?}): {:?}",
            cases.len(),
            start.elapsed()
        );
        let mut host = Recorder::default();
        load_inputs(&mut host, &cases);
        program.run(0, &mut host);
        let got = array_values(&host.writes, cases.len());
        for (case, got) in cases.iter().zip(got) {
            assert_eq!(got, expected(case), "{case:?} with {inputs:?}");
        }
    }
}

#[test]
fn division_edge_cases_do_not_trap() {
    // Spot checks of the rules the table also covers, stated explicitly.
    let table = [
        (BinOp::SDiv, i64::MIN, -1, i64::MIN),
        (BinOp::SRem, i64::MIN, -1, 0),
        (BinOp::UDiv, 5, 0, 0),
        (BinOp::SDiv, -5, 0, 0),
        (BinOp::URem, 5, 0, 5),
        (BinOp::SRem, -5, 0, -5),
        (BinOp::SRem, -7, 2, -1),
        (BinOp::UDiv, -1, 2, i64::MAX),
        (BinOp::Shl, 1, 65, 2),
        (BinOp::LShr, i64::MIN, 127, 1),
        (BinOp::AShr, i64::MIN, 127, -1),
    ];
    for imm in [false, true] {
        let cases: Vec<_> = table
            .iter()
            .map(|&(op, a, b, _)| jit_support::Case {
                op: jit_support::Op::Bin(op),
                a,
                b,
                imm,
            })
            .collect();
        let want: Vec<i64> = table.iter().map(|t| t.3).collect();
        for inputs in [Inputs::Constants, Inputs::FromMap] {
            let mut host = Recorder::default();
            load_inputs(&mut host, &cases);
            run_with(
                &table_module(&cases, "div", Context::User, inputs),
                &mut host,
            );
            let got = array_values(&host.writes, cases.len());
            assert_eq!(got, want, "immediate divisor: {imm}, {inputs:?}");
        }
    }
}

#[test]
fn map_operations_pass_exact_key_and_value_bytes() {
    let mut f = Function::new("maps", Context::User);
    let key = f.new_slot(16);
    let val = f.new_slot(8);
    let out = f.new_slot(16);
    let (v, found, missing) = (f.new_vreg(), f.new_vreg(), f.new_vreg());
    f.blocks[0].insts = vec![
        Inst::Store {
            mem: Mem::at(key, 0),
            src: Operand::Imm(0x0102_0304),
            size: 8,
        },
        Inst::Store {
            mem: Mem::at(key, 8),
            src: Operand::Imm(-2),
            size: 8,
        },
        Inst::Const {
            dst: v,
            value: 0x1122_3344_5566_7788,
        },
        Inst::Store {
            mem: Mem::at(val, 0),
            src: Operand::Reg(v),
            size: 8,
        },
        Inst::MapWrite {
            map: 0,
            key: Some(Mem::at(key, 0)),
            src: Mem::at(val, 0),
        },
        // Read it back into out[0..8], then read a missing key into out[8..16].
        Inst::MapRead {
            map: 0,
            key: Some(Mem::at(key, 0)),
            dst: Mem::at(out, 0),
            found: Some(found),
        },
        Inst::Store {
            mem: Mem::at(key, 0),
            src: Operand::Imm(99),
            size: 8,
        },
        Inst::MapRead {
            map: 0,
            key: Some(Mem::at(key, 0)),
            dst: Mem::at(out, 8),
            found: Some(missing),
        },
        Inst::MapAgg {
            map: 1,
            key: None,
            op: AggOp::Count,
            val: Operand::Imm(0),
        },
        Inst::MapAgg {
            map: 0,
            key: Some(Mem::at(key, 0)),
            op: AggOp::Max,
            val: Operand::Reg(v),
        },
        Inst::MapAgg {
            map: 0,
            key: Some(Mem::at(key, 0)),
            op: AggOp::Add,
            val: Operand::Imm(-5),
        },
        Inst::MapAgg {
            map: 0,
            key: Some(Mem::at(key, 0)),
            op: AggOp::Min,
            val: Operand::Imm(3),
        },
        Inst::MapDelete {
            map: 0,
            key: Some(Mem::at(key, 0)),
        },
        Inst::MapDelete { map: 1, key: None },
        Inst::Store {
            mem: Mem::at(val, 0),
            src: Operand::Reg(found),
            size: 8,
        },
        Inst::MapWrite {
            map: 1,
            key: None,
            src: Mem::at(val, 0),
        },
        Inst::Store {
            mem: Mem::at(val, 0),
            src: Operand::Reg(missing),
            size: 8,
        },
        Inst::MapWrite {
            map: 1,
            key: None,
            src: Mem::at(val, 0),
        },
    ];
    emit_slot(&mut f, out, 16);
    let module = module_of(f, vec![hash_map(16, 8), keyless_map(8)]);
    let host = run_one(&module);

    let mut key0 = 0x0102_0304u64.to_le_bytes().to_vec();
    key0.extend_from_slice(&(-2i64).to_le_bytes());
    let mut key1 = 99u64.to_le_bytes().to_vec();
    key1.extend_from_slice(&(-2i64).to_le_bytes());
    let value = 0x1122_3344_5566_7788u64.to_le_bytes().to_vec();
    assert_eq!(
        host.writes,
        vec![
            (0, Some(key0), value.clone()),
            (1, None, 1u64.to_le_bytes().to_vec()),
            (1, None, 0u64.to_le_bytes().to_vec()),
        ]
    );
    assert_eq!(
        host.aggs,
        vec![
            (1, None, AggOp::Count, 0),
            (0, Some(key1.clone()), AggOp::Max, 0x1122_3344_5566_7788),
            (0, Some(key1.clone()), AggOp::Add, -5),
            (0, Some(key1.clone()), AggOp::Min, 3),
        ]
    );
    assert_eq!(host.deletes, vec![(0, Some(key1)), (1, None)]);
    // The found value, then zeros (not the host's 0xAA garbage) for the miss.
    let mut record = value;
    record.extend_from_slice(&[0; 8]);
    assert_eq!(host.emits, vec![record]);
}

#[test]
fn emit_sends_the_record_bytes() {
    let mut f = Function::new("emit", Context::User);
    let rec = f.new_slot(24);
    f.blocks[0].insts = vec![
        Inst::Zero {
            mem: Mem::at(rec, 0),
            len: 24,
        },
        Inst::Store {
            mem: Mem::at(rec, 0),
            src: Operand::Imm(3),
            size: 8,
        },
        Inst::Store {
            mem: Mem::at(rec, 8),
            src: Operand::Imm(0x6968),
            size: 2,
        },
        Inst::Store {
            mem: Mem::at(rec, 16),
            src: Operand::Imm(-1),
            size: 4,
        },
    ];
    emit_slot(&mut f, rec, 24);
    let host = run_one(&module_of(f, vec![]));
    let mut want = vec![3, 0, 0, 0, 0, 0, 0, 0, b'h', b'i', 0, 0, 0, 0, 0, 0];
    want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(host.emits, vec![want]);
}

#[test]
fn loads_and_stores_extend_by_size_and_sign() {
    let mut f = Function::new("ldst", Context::User);
    let s = f.new_slot(8);
    let results = f.new_slot(8 * 8);
    let src = f.new_vreg();
    let mut insts = vec![
        Inst::Const {
            dst: src,
            value: 0x8182_8384_8586_8788u64 as i64,
        },
        Inst::Store {
            mem: Mem::at(s, 0),
            src: Operand::Reg(src),
            size: 8,
        },
    ];
    let mut out = 0;
    for size in [1u8, 2, 4, 8] {
        for signed in [false, true] {
            let v = f.new_vreg();
            insts.push(Inst::Load {
                dst: v,
                mem: Mem::at(s, 0),
                size,
                signed,
            });
            insts.push(Inst::Store {
                mem: Mem::at(results, out),
                src: Operand::Reg(v),
                size: 8,
            });
            out += 8;
        }
    }
    f.blocks[0].insts = insts;
    emit_slot(&mut f, results, 64);
    let host = run_one(&module_of(f, vec![]));
    let got: Vec<u64> = host.emits[0]
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let x = 0x8182_8384_8586_8788u64;
    let want = [
        x as u8 as u64,
        x as i8 as u64,
        x as u16 as u64,
        x as i16 as u64,
        x as u32 as u64,
        x as i32 as u64,
        x,
        x,
    ];
    assert_eq!(got, want);
}

/// while ($i <= 10) { $sum += $i; $i++ } with the loop header as block 0, so the
/// entry block is also a jump target.
#[test]
fn bounded_loop_built_from_blocks() {
    let mut f = Function::new("loop", Context::User);
    let out = f.new_slot(8);
    let (i, sum, c, iterations) = (f.new_vreg(), f.new_vreg(), f.new_vreg(), f.new_vreg());
    let body = f.new_block();
    let done = f.new_block();
    // Registers start at 0: i = 0, sum = 0 on first entry.
    f.blocks[0] = Block {
        insts: vec![Inst::Cmp {
            dst: c,
            cond: Cond::SLe,
            a: i,
            b: Operand::Imm(10),
        }],
        term: Term::Branch {
            cond: c,
            then: body,
            els: done,
        },
    };
    f.blocks[body as usize] = Block {
        insts: vec![
            Inst::Bin {
                dst: sum,
                op: BinOp::Add,
                a: sum,
                b: Operand::Reg(i),
            },
            Inst::Bin {
                dst: i,
                op: BinOp::Add,
                a: i,
                b: Operand::Imm(1),
            },
            Inst::Bin {
                dst: iterations,
                op: BinOp::Add,
                a: iterations,
                b: Operand::Imm(1),
            },
        ],
        term: Term::Jump(0),
    };
    f.blocks[done as usize] = Block {
        insts: vec![
            Inst::Bin {
                dst: sum,
                op: BinOp::Mul,
                a: sum,
                b: Operand::Imm(1000),
            },
            Inst::Bin {
                dst: sum,
                op: BinOp::Add,
                a: sum,
                b: Operand::Reg(iterations),
            },
            Inst::Store {
                mem: Mem::at(out, 0),
                src: Operand::Reg(sum),
                size: 8,
            },
            Inst::Emit {
                mem: Mem::at(out, 0),
                len: 8,
            },
        ],
        term: Term::Return,
    };
    let host = run_one(&module_of(f, vec![]));
    assert_eq!(host.emits, vec![(55 * 1000 + 11u64).to_le_bytes().to_vec()]);
}

#[test]
fn str_eq_compares_up_to_nul_or_length() {
    // (a, b, len, equal?)
    let table: [(&[u8], &[u8], u32, i64); 7] = [
        (b"hello\0xx", b"hello\0yy", 8, 1),
        (b"hello\0", b"help\0\0", 6, 0),
        (b"ab\0", b"abc", 3, 0),
        (b"abcd", b"abcd", 4, 1),
        (b"abcdX", b"abcdY", 4, 1),
        (b"\0a", b"\0b", 2, 1),
        (b"", b"", 0, 1),
    ];
    let mut f = Function::new("streq", Context::User);
    let results = f.new_slot(8 * table.len() as u32);
    let mut insts = Vec::new();
    for (n, (a, b, len, _)) in table.iter().enumerate() {
        let (sa, sb) = (f.new_slot(8), f.new_slot(8));
        for (slot, text) in [(sa, a), (sb, b)] {
            for (i, byte) in text.iter().enumerate() {
                insts.push(Inst::Store {
                    mem: Mem::at(slot, i as u32),
                    src: Operand::Imm(i64::from(*byte)),
                    size: 1,
                });
            }
        }
        let v = f.new_vreg();
        insts.push(Inst::StrEq {
            dst: v,
            a: Mem::at(sa, 0),
            b: Mem::at(sb, 0),
            len: *len,
        });
        insts.push(Inst::Store {
            mem: Mem::at(results, 8 * n as u32),
            src: Operand::Reg(v),
            size: 8,
        });
    }
    f.blocks[0].insts = insts;
    emit_slot(&mut f, results, 8 * table.len() as u32);
    let host = run_one(&module_of(f, vec![]));
    let got: Vec<i64> = host.emits[0]
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want: Vec<i64> = table.iter().map(|t| t.3).collect();
    assert_eq!(got, want);
}

/// Fill `len` bytes of `slot` with 1, 2, 3, … (mod 251).
fn fill_pattern(insts: &mut Vec<Inst>, slot: u32, len: u32) {
    for i in 0..len {
        insts.push(Inst::Store {
            mem: Mem::at(slot, i),
            src: Operand::Imm(i64::from(i % 251 + 1)),
            size: 1,
        });
    }
}

#[test]
fn zero_and_copy_short_and_long_ranges() {
    for len in [1u32, 7, 13, 64, 128, 129, 203, 1000] {
        let mut f = Function::new("zc", Context::User);
        let (a, b) = (f.new_slot(len + 16), f.new_slot(len + 16));
        let mut insts = Vec::new();
        fill_pattern(&mut insts, a, len + 16);
        // b = zeroes except the copied range [3, 3+len) taken from a[5..].
        insts.push(Inst::Zero {
            mem: Mem::at(b, 0),
            len: len + 16,
        });
        insts.push(Inst::Copy {
            dst: Mem::at(b, 3),
            src: Mem::at(a, 5),
            len,
        });
        // Then zero a[2..2+len] to check Zero at an odd offset.
        insts.push(Inst::Zero {
            mem: Mem::at(a, 2),
            len,
        });
        f.blocks[0].insts = insts;
        emit_slot(&mut f, a, len + 16);
        f.blocks[0].insts.push(Inst::Emit {
            mem: Mem::at(b, 0),
            len: len + 16,
        });
        let host = run_one(&module_of(f, vec![]));

        let pattern: Vec<u8> = (0..len + 16).map(|i| (i % 251 + 1) as u8).collect();
        let mut want_a = pattern.clone();
        want_a[2..2 + len as usize].fill(0);
        let mut want_b = vec![0u8; (len + 16) as usize];
        want_b[3..3 + len as usize].copy_from_slice(&pattern[5..5 + len as usize]);
        assert_eq!(host.emits, vec![want_a, want_b], "len {len}");
    }
}

#[test]
fn builtins_comm_and_reads_go_through_the_host() {
    let mut f = Function::new("host", Context::User);
    let out = f.new_slot(8 * 4);
    let comm = f.new_slot(16);
    let buf = f.new_slot(8);
    let s = f.new_slot(8);
    let failed = f.new_slot(8);
    let (pid, ns, addr, ctx, ctx_addr) = (
        f.new_vreg(),
        f.new_vreg(),
        f.new_vreg(),
        f.new_vreg(),
        f.new_vreg(),
    );
    let mut insts = vec![
        Inst::Builtin {
            dst: pid,
            which: Builtin::Pid,
        },
        Inst::Builtin {
            dst: ns,
            which: Builtin::Nsecs,
        },
        // No probe context in user space.
        Inst::CtxLoad {
            dst: ctx,
            off: 8,
            size: 8,
            signed: false,
        },
        Inst::CtxAddr {
            dst: ctx_addr,
            off: 16,
        },
        Inst::Store {
            mem: Mem::at(out, 0),
            src: Operand::Reg(pid),
            size: 8,
        },
        Inst::Store {
            mem: Mem::at(out, 8),
            src: Operand::Reg(ns),
            size: 8,
        },
        Inst::Store {
            mem: Mem::at(out, 16),
            src: Operand::Reg(ctx),
            size: 8,
        },
        Inst::Store {
            mem: Mem::at(out, 24),
            src: Operand::Reg(ctx_addr),
            size: 8,
        },
        Inst::Comm {
            dst: Mem::at(comm, 0),
        },
        Inst::Const {
            dst: addr,
            value: 0x7fff_0000_1000,
        },
        Inst::Read {
            dst: Mem::at(buf, 0),
            len: 8,
            addr,
            user: true,
        },
        Inst::ReadStr {
            dst: Mem::at(s, 0),
            len: 8,
            addr,
            user: false,
        },
    ];
    fill_pattern(&mut insts, failed, 8);
    f.blocks[0].insts = insts;
    for (slot, len) in [(out, 32), (comm, 16), (buf, 8), (s, 8)] {
        f.blocks[0].insts.push(Inst::Emit {
            mem: Mem::at(slot, 0),
            len,
        });
    }
    let module = module_of(f, vec![]);

    let mut host = Recorder {
        memory: Some(b"ABCDEFGH".to_vec()),
        string: b"truncated-string".to_vec(),
        comm: b"a-very-long-command-name".to_vec(),
        ..Recorder::default()
    };
    run_with(&module, &mut host);
    let mut want_out = 4242u64.to_le_bytes().to_vec();
    want_out.extend_from_slice(&123_456_789u64.to_le_bytes());
    want_out.extend_from_slice(&[0; 16]);
    assert_eq!(host.emits[0], want_out);
    assert_eq!(host.emits[1], b"a-very-long-com\0");
    assert_eq!(host.emits[2], b"ABCDEFGH");
    // Forced NUL termination when the host fills the whole buffer.
    assert_eq!(host.emits[3], b"truncat\0");
    assert_eq!(
        host.reads,
        vec![(0x7fff_0000_1000, 8, true), (0x7fff_0000_1000, 8, false)]
    );

    // A faulting read zeroes the destination; a short string is zero-padded.
    let mut host = Recorder {
        memory: None,
        string: b"hi\0garb".to_vec(),
        ..Recorder::default()
    };
    run_with(&module, &mut host);
    assert_eq!(host.emits[1], [0u8; 16]);
    assert_eq!(host.emits[2], [0u8; 8]);
    assert_eq!(host.emits[3], b"hi\0\0\0\0\0\0");
}

/// 600 live registers (each used again at the end) force spills.
#[test]
fn hundreds_of_live_registers() {
    const N: u32 = 600;
    let mut f = Function::new("regs", Context::User);
    let out = f.new_slot(8);
    let regs: Vec<u32> = (0..N).map(|_| f.new_vreg()).collect();
    let mut insts = vec![Inst::Const {
        dst: regs[0],
        value: 1,
    }];
    for k in 1..N as usize {
        insts.push(Inst::Bin {
            dst: regs[k],
            op: BinOp::Mul,
            a: regs[k - 1],
            b: Operand::Imm(3),
        });
        insts.push(Inst::Bin {
            dst: regs[k],
            op: BinOp::Add,
            a: regs[k],
            b: Operand::Imm(k as i64),
        });
    }
    let acc = f.new_vreg();
    for (k, r) in regs.iter().enumerate() {
        let op = if k % 2 == 0 { BinOp::Add } else { BinOp::Xor };
        insts.push(Inst::Bin {
            dst: acc,
            op,
            a: acc,
            b: Operand::Reg(*r),
        });
    }
    insts.push(Inst::Store {
        mem: Mem::at(out, 0),
        src: Operand::Reg(acc),
        size: 8,
    });
    f.blocks[0].insts = insts;
    emit_slot(&mut f, out, 8);
    let host = run_one(&module_of(f, vec![]));

    let mut values = vec![1u64];
    for k in 1..N as u64 {
        values.push(values[k as usize - 1].wrapping_mul(3).wrapping_add(k));
    }
    let mut acc = 0u64;
    for (k, v) in values.iter().enumerate() {
        acc = if k % 2 == 0 {
            acc.wrapping_add(*v)
        } else {
            acc ^ v
        };
    }
    assert_eq!(host.emits, vec![acc.to_le_bytes().to_vec()]);
}

#[test]
fn several_functions_in_one_program_run_by_index() {
    let mut module = Module::default();
    for value in [10i64, 20, 30] {
        let mut f = Function::new(format!("f{value}"), Context::User);
        let s = f.new_slot(8);
        f.blocks[0].insts = vec![Inst::Store {
            mem: Mem::at(s, 0),
            src: Operand::Imm(value),
            size: 8,
        }];
        emit_slot(&mut f, s, 8);
        module.functions.push(f);
    }
    let program = compile(&module, &[2, 0]).unwrap();
    assert_eq!(
        (program.len(), program.name(0), program.name(1)),
        (2, Some("f30"), Some("f10"))
    );
    let mut host = Recorder::default();
    program.run(1, &mut host);
    program.run(0, &mut host);
    program.run(0, &mut host);
    let got: Vec<u64> = host
        .emits
        .iter()
        .map(|e| u64::from_le_bytes(e[..].try_into().unwrap()))
        .collect();
    assert_eq!(got, vec![10, 30, 30]);
}

#[test]
fn invalid_ir_is_rejected_with_a_clear_error() {
    let mut f = Function::new("bad", Context::User);
    let s = f.new_slot(8);
    f.blocks[0].insts = vec![Inst::Store {
        mem: Mem::at(s, 4),
        src: Operand::Imm(1),
        size: 8,
    }];
    let err = compile(&module_of(f, vec![]), &[0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot compile user-space block `bad` to native code: in block b0, 8 bytes at offset 4 \
         overflow slot s0 of 8 bytes (Store { mem: Mem { slot: 0, off: 4 }, src: Imm(1), size: 8 })"
    );

    let mut f = Function::new("jump", Context::User);
    f.blocks[0].term = Term::Jump(5);
    let err = compile(&module_of(f, vec![]), &[0]).unwrap_err();
    assert!(err.to_string().contains("block b5 does not exist"), "{err}");

    let mut f = Function::new("map", Context::User);
    f.blocks[0].insts = vec![Inst::MapDelete { map: 3, key: None }];
    let err = compile(&module_of(f, vec![]), &[0]).unwrap_err();
    assert!(err.to_string().contains("map 3 does not exist"), "{err}");

    let err = compile(&Module::default(), &[1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot set up the native code compiler: function 1 does not exist (the module has 0)"
    );
}

struct PanickingHost(Recorder);

impl Host for PanickingHost {
    fn map_read(&mut self, map: u32, key: Option<&[u8]>, dst: &mut [u8]) -> bool {
        self.0.map_read(map, key, dst)
    }
    fn map_write(&mut self, map: u32, key: Option<&[u8]>, src: &[u8]) {
        self.0.map_write(map, key, src)
    }
    fn map_agg(&mut self, map: u32, key: Option<&[u8]>, op: AggOp, val: i64) {
        self.0.map_agg(map, key, op, val)
    }
    fn map_delete(&mut self, map: u32, key: Option<&[u8]>) {
        self.0.map_delete(map, key)
    }
    fn emit(&mut self, record: &[u8]) {
        if record[0] == 2 {
            panic!("host failure on event 2");
        }
        self.0.emit(record)
    }
    fn builtin(&mut self, which: Builtin) -> u64 {
        self.0.builtin(which)
    }
    fn comm(&mut self, dst: &mut [u8]) {
        self.0.comm(dst)
    }
    fn read(&mut self, dst: &mut [u8], addr: u64, user: bool) -> bool {
        self.0.read(dst, addr, user)
    }
    fn read_str(&mut self, dst: &mut [u8], addr: u64, user: bool) {
        self.0.read_str(dst, addr, user)
    }
}

#[test]
fn a_host_panic_resurfaces_from_run_and_later_calls_are_skipped() {
    let mut f = Function::new("panic", Context::User);
    let s = f.new_slot(8);
    for event in [1i64, 2, 3] {
        f.blocks[0].insts.push(Inst::Store {
            mem: Mem::at(s, 0),
            src: Operand::Imm(event),
            size: 8,
        });
        f.blocks[0].insts.push(Inst::Emit {
            mem: Mem::at(s, 0),
            len: 8,
        });
    }
    let program = compile(&module_of(f, vec![]), &[0]).unwrap();
    let mut host = PanickingHost(Recorder::default());
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.run(0, &mut host)));
    let payload = result.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"host failure on event 2")
    );
    assert_eq!(host.0.emits, vec![1u64.to_le_bytes().to_vec()]);
}

/// A straight-line function of `n` instructions mixing arithmetic, memory,
/// branches and host calls, like a long BEGIN block.
fn big_function(n: usize) -> Module {
    let mut f = Function::new("big", Context::User);
    let slot = f.new_slot(64);
    let regs: Vec<u32> = (0..64).map(|_| f.new_vreg()).collect();
    let mut insts = Vec::with_capacity(n);
    let mut block = 0u32;
    for k in 0..n {
        let (d, a, b) = (
            regs[k % 64],
            regs[(k * 7 + 3) % 64],
            regs[(k * 13 + 5) % 64],
        );
        insts.push(match k % 8 {
            0 => Inst::Const {
                dst: d,
                value: k as i64,
            },
            1 => Inst::Bin {
                dst: d,
                op: BinOp::Add,
                a,
                b: Operand::Reg(b),
            },
            2 => Inst::Bin {
                dst: d,
                op: BinOp::SDiv,
                a,
                b: Operand::Reg(b),
            },
            3 => Inst::Store {
                mem: Mem::at(slot, (k % 8) as u32 * 8),
                src: Operand::Reg(a),
                size: 8,
            },
            4 => Inst::Load {
                dst: d,
                mem: Mem::at(slot, 8),
                size: 4,
                signed: true,
            },
            5 => Inst::Cmp {
                dst: d,
                cond: Cond::SLt,
                a,
                b: Operand::Reg(b),
            },
            6 => Inst::Bin {
                dst: d,
                op: BinOp::Shl,
                a,
                b: Operand::Imm(3),
            },
            _ => Inst::MapAgg {
                map: 0,
                key: None,
                op: AggOp::Add,
                val: Operand::Reg(a),
            },
        });
        // Every 100 instructions: a conditional branch to the next block.
        if k % 100 == 99 {
            let next = f.new_block();
            let skip = f.new_block();
            f.blocks[block as usize].insts = std::mem::take(&mut insts);
            f.blocks[block as usize].term = Term::Branch {
                cond: d,
                then: skip,
                els: next,
            };
            f.blocks[skip as usize].term = Term::Jump(next);
            block = next;
        }
    }
    f.blocks[block as usize].insts = insts;
    module_of(f, vec![keyless_map(16)])
}

#[test]
fn a_10000_instruction_function_compiles_and_runs() {
    // Its speed is measured by bench/run (row 4), not asserted here.
    let module = big_function(10_000);
    let program: JitProgram = compile(&module, &[0]).unwrap();
    let mut host = Recorder::default();
    program.run(0, &mut host);
    assert_eq!(host.aggs.len(), 10_000 / 8);
}

#[test]
fn large_slots_and_unreachable_blocks_are_fine() {
    const BIG: u32 = 128 * 1024;
    let mut f = Function::new("big_slot", Context::User);
    let big = f.new_slot(BIG);
    let out = f.new_slot(16);
    let dead = f.new_block();
    let mut insts = Vec::new();
    fill_pattern(&mut insts, big, 16);
    insts.push(Inst::Store {
        mem: Mem::at(big, BIG - 8),
        src: Operand::Imm(-1),
        size: 8,
    });
    insts.push(Inst::Zero {
        mem: Mem::at(big, 8),
        len: BIG - 8,
    });
    insts.push(Inst::Copy {
        dst: Mem::at(out, 0),
        src: Mem::at(big, 0),
        len: 16,
    });
    f.blocks[0].insts = insts;
    emit_slot(&mut f, out, 16);
    // Never reached; reads a register nobody wrote.
    let v = f.new_vreg();
    f.blocks[dead as usize] = Block {
        insts: vec![Inst::Store {
            mem: Mem::at(out, 0),
            src: Operand::Reg(v),
            size: 8,
        }],
        term: Term::Jump(dead),
    };
    let host = run_one(&module_of(f, vec![]));
    let mut want: Vec<u8> = (1..=8).collect();
    want.extend_from_slice(&[0; 8]);
    assert_eq!(host.emits, vec![want]);

    let mut f = Function::new("too_big", Context::User);
    f.new_slot(300 * 1024);
    let err = compile(&module_of(f, vec![]), &[0]).unwrap_err();
    assert!(
        err.to_string().contains("more than the 262144 allowed"),
        "{err}"
    );
}

#[test]
fn programs_can_move_to_another_thread() {
    let mut f = Function::new("thread", Context::User);
    let s = f.new_slot(8);
    f.blocks[0].insts = vec![Inst::Store {
        mem: Mem::at(s, 0),
        src: Operand::Imm(5),
        size: 8,
    }];
    emit_slot(&mut f, s, 8);
    let program = compile(&module_of(f, vec![]), &[0]).unwrap();
    let emits = std::thread::spawn(move || {
        let mut host = Recorder::default();
        program.run(0, &mut host);
        host.emits
    })
    .join()
    .unwrap();
    assert_eq!(emits, vec![5u64.to_le_bytes().to_vec()]);
}
