//! Differential test: the same expression-table IR runs in the Cranelift JIT and
//! in the kernel (eBPF back end, loaded with aya, attached to
//! `syscalls:sys_enter_getpid`, triggered by `getpid()`); both must produce the
//! same value for every case, and that value must be the Rust reference.

mod jit_support;

use aya::maps::Array;
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use jit_support::{
    array_map, array_values, cases, expected, input_value, table_module, Inputs, Recorder,
    INPUTS_MAP, RESULTS_MAP,
};
use rtrace_compiler::bpf::{disassemble, emit_function, map_object_name, write_elf, EmitOptions};
use rtrace_compiler::ir::{Context, Function, Inst, Mem, Module, Operand};
use rtrace_compiler::jit;

/// Cases per kernel program: keeps each program small for the verifier.
const CHUNK: usize = 400;

/// A value no case produces: shows that the kernel program really ran.
const UNWRITTEN: u64 = 0x5A5A_5A5A_5A5A_5A5A;

fn ensure_tracefs() {
    if !std::path::Path::new("/sys/kernel/tracing/events").exists() {
        let status = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting tracefs failed");
    }
}

/// Run function 0 in the JIT with `inputs[i]` under key `i` of the inputs map;
/// the first `results` values of the results map.
fn run_in_jit(module: &Module, inputs: &[[u8; 16]], results: usize) -> Vec<i64> {
    let program = jit::compile(module, &[0]).unwrap_or_else(|e| panic!("{e}"));
    let mut host = Recorder::default();
    for (i, input) in inputs.iter().enumerate() {
        let key = (i as u32).to_le_bytes().to_vec();
        host.values.insert((INPUTS_MAP, Some(key)), input.to_vec());
    }
    program.run(0, &mut host);
    array_values(&host.writes, results)
}

/// The same in the kernel: attached to sys_enter_getpid and triggered once.
fn run_in_kernel(module: &Module, inputs: &[[u8; 16]], results: usize) -> Vec<i64> {
    let func = &module.functions[0];
    let prog = emit_function(module, func, &EmitOptions::default())
        .unwrap_or_else(|e| panic!("eBPF emission failed: {e}"));
    let section = "tracepoint/syscalls/sys_enter_getpid".to_string();
    let elf = write_elf(module, &[(prog.clone(), section)]);
    let mut ebpf = EbpfLoader::new()
        .load(&elf)
        .unwrap_or_else(|e| panic!("aya could not load the ELF: {e:?}"));
    fill_maps(&mut ebpf, inputs, results);

    let tp: &mut TracePoint = ebpf.program_mut(&func.name).unwrap().try_into().unwrap();
    if let Err(e) = tp.load() {
        panic!(
            "the verifier rejected {}: {e}\n{}",
            func.name,
            disassemble(&prog)
        );
    }
    tp.attach("syscalls", "sys_enter_getpid").expect("attach");
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() };

    let map: Array<_, u64> =
        Array::try_from(ebpf.map(&map_object_name(RESULTS_MAP)).unwrap()).unwrap();
    (0..results as u32)
        .map(|i| {
            let v = map.get(&i, 0).unwrap();
            assert_ne!(v, UNWRITTEN, "the kernel program did not write result {i}");
            v as i64
        })
        .collect()
}

/// Inputs into the inputs map, a sentinel into every result.
fn fill_maps(ebpf: &mut Ebpf, inputs: &[[u8; 16]], results: usize) {
    let mut map: Array<_, [u8; 16]> =
        Array::try_from(ebpf.map_mut(&map_object_name(INPUTS_MAP)).unwrap()).unwrap();
    for (i, input) in inputs.iter().enumerate() {
        map.set(i as u32, input, 0).unwrap();
    }
    let mut map: Array<_, u64> =
        Array::try_from(ebpf.map_mut(&map_object_name(RESULTS_MAP)).unwrap()).unwrap();
    for i in 0..results as u32 {
        map.set(i, UNWRITTEN, 0).unwrap();
    }
}

#[test]
fn jit_and_kernel_agree_on_every_expression() {
    ensure_tracefs();
    let all = cases();
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for inputs in [Inputs::FromMap, Inputs::Constants] {
        for (n, chunk) in all.chunks(CHUNK).enumerate() {
            let module = table_module(chunk, &format!("jvb{n}"), Context::Tracepoint, inputs);
            let operands: Vec<[u8; 16]> = chunk.iter().map(input_value).collect();
            let in_jit = run_in_jit(&module, &operands, chunk.len());
            let in_kernel = run_in_kernel(&module, &operands, chunk.len());
            for ((case, j), k) in chunk.iter().zip(in_jit).zip(in_kernel) {
                let want = expected(case);
                if j != k || j != want {
                    disagreements.push(format!(
                        "{case:?} ({inputs:?}): jit {j:#x}, kernel {k:#x}, expected {want:#x}"
                    ));
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 2 * all.len());
    assert!(
        disagreements.is_empty(),
        "{} of {compared} cases differ:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Slot memory in both back ends: loads of every size and sign at aligned
/// offsets after `MapRead`, `Copy` and `Zero`, and `StrEq` on short strings.
#[test]
fn jit_and_kernel_agree_on_slot_memory() {
    ensure_tracefs();
    let mut f = Function::new("jvb_mem", Context::Tracepoint);
    let key = f.new_slot(8);
    let value = f.new_slot(8);
    let data = f.new_slot(32);
    let mut insts = vec![
        Inst::Store {
            mem: Mem::at(key, 0),
            src: Operand::Imm(0),
            size: 4,
        },
        Inst::MapRead {
            map: INPUTS_MAP,
            key: Some(Mem::at(key, 0)),
            dst: Mem::at(data, 0),
            found: None,
        },
        Inst::Copy {
            dst: Mem::at(data, 16),
            src: Mem::at(data, 0),
            len: 16,
        },
        Inst::Zero {
            mem: Mem::at(data, 20),
            len: 3,
        },
        Inst::Store {
            mem: Mem::at(data, 26),
            src: Operand::Imm(-2),
            size: 2,
        },
    ];
    // Each result is written at once so few registers are live (BPF stack).
    let mut results = 0;
    let mut write = |insts: &mut Vec<Inst>, r| {
        let index = Operand::Imm(results);
        insts.push(Inst::Store {
            mem: Mem::at(key, 0),
            src: index,
            size: 4,
        });
        insts.push(Inst::Store {
            mem: Mem::at(value, 0),
            src: Operand::Reg(r),
            size: 8,
        });
        let (key, src) = (Some(Mem::at(key, 0)), Mem::at(value, 0));
        insts.push(Inst::MapWrite {
            map: RESULTS_MAP,
            key,
            src,
        });
        results += 1;
    };
    for size in [1u8, 2, 4, 8] {
        for off in (0..32).step_by(usize::from(size).max(2)) {
            for signed in [false, true] {
                let dst = f.new_vreg();
                insts.push(Inst::Load {
                    dst,
                    mem: Mem::at(data, off as u32),
                    size,
                    signed,
                });
                write(&mut insts, dst);
            }
        }
    }
    let strings: [(&[u8], &[u8], u32); 5] = [
        (b"abc\0xyz", b"abc\0uvw", 8),
        (b"abc\0", b"abd\0", 5),
        (b"ab\0", b"abc", 3),
        (b"abcdefgh", b"abcdefgh", 8),
        (b"abcdefgX", b"abcdefgY", 7),
    ];
    for (a, b, len) in strings {
        let (sa, sb) = (f.new_slot(8), f.new_slot(8));
        for (slot, text) in [(sa, a), (sb, b)] {
            insts.push(Inst::Zero {
                mem: Mem::at(slot, 0),
                len: 8,
            });
            for (i, byte) in text.iter().enumerate() {
                let src = Operand::Imm(i64::from(*byte));
                insts.push(Inst::Store {
                    mem: Mem::at(slot, i as u32),
                    src,
                    size: 1,
                });
            }
        }
        let dst = f.new_vreg();
        insts.push(Inst::StrEq {
            dst,
            a: Mem::at(sa, 0),
            b: Mem::at(sb, 0),
            len,
        });
        write(&mut insts, dst);
    }
    let results = results as usize;
    f.blocks[0].insts = insts;
    let module = Module {
        maps: vec![array_map("results", results, 8), array_map("inputs", 1, 16)],
        events: Vec::new(),
        functions: vec![f],
    };
    let input: [u8; 16] = [
        0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8, 0x09, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f,
        0x70,
    ];
    let in_jit = run_in_jit(&module, &[input], results);
    let in_kernel = run_in_kernel(&module, &[input], results);
    assert_eq!(in_jit, in_kernel);
    // Spot checks against the input bytes.
    assert_eq!(in_jit[0], 0x81);
    assert_eq!(in_jit[1], -0x7f);
    let streq: Vec<i64> = in_jit[in_jit.len() - strings.len()..].to_vec();
    assert_eq!(streq, vec![1, 0, 0, 1, 1]);
}
