//! BTF `func_info` for programs with callback subprograms.
//!
//! The 6.x verifier refuses a program that passes a subprogram to
//! `bpf_for_each_map_elem` unless every function has a `func_info` record
//! naming a BTF `FUNC` ("missing btf func_info"). rtrace's programs carry no
//! BTF, so this builds the smallest blob that satisfies it: `int`, one
//! prototype `int (void)` and one static `FUNC` per subprogram.

use crate::sys;
use std::io;
use std::os::fd::OwnedFd;

/// Instruction size in bytes.
const INSN: usize = 8;
/// `BPF_PSEUDO_CALL` / `BPF_PSEUDO_FUNC` values of `src_reg`.
const PSEUDO_CALL: u8 = 1;
const PSEUDO_FUNC: u8 = 4;

/// Start instruction of every function in `insns` (encoded): 0, then each
/// target of a bpf2bpf call or of a function-address `ld_imm64`, sorted.
pub fn function_starts(insns: &[u8]) -> Vec<u32> {
    let mut starts = vec![0u32];
    let count = insns.len() / INSN;
    for i in 0..count {
        let b = &insns[i * INSN..(i + 1) * INSN];
        let (code, src) = (b[0], b[1] >> 4);
        let imm = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let is_call = code == 0x85 && src == PSEUDO_CALL;
        let is_func = code == 0x18 && src == PSEUDO_FUNC;
        if is_call || is_func {
            let target = i as i64 + i64::from(imm) + 1;
            if (0..count as i64).contains(&target) {
                starts.push(target as u32);
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// The BTF blob for `functions` functions: type 1 `int`, type 2 `int (void)`,
/// types 3.. one static `FUNC` each, named `f0`, `f1`, ….
pub fn btf_blob(functions: usize) -> Vec<u8> {
    let mut strings = b"\0int\0".to_vec();
    let mut types = Vec::new();
    let mut put = |words: &[u32]| words.iter().for_each(|w| types.extend(w.to_le_bytes()));
    // INT "int": size 4, signed, 32 bits.
    put(&[1, 1 << 24, 4, (1 << 24) | 32]);
    // FUNC_PROTO returning int, no parameters.
    put(&[0, 13 << 24, 1]);
    for i in 0..functions {
        let name = strings.len() as u32;
        strings.extend(format!("f{i}\0").bytes());
        // FUNC, static linkage, of prototype 2.
        put(&[name, 12 << 24, 2]);
    }
    let mut blob = Vec::new();
    let header: [u32; 6] = [
        24,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
        0,
    ];
    blob.extend(0xeb9fu16.to_le_bytes());
    blob.push(1); // version
    blob.push(0); // flags
    for w in &header[..5] {
        blob.extend(w.to_le_bytes());
    }
    blob.extend(types);
    blob.extend(strings);
    blob
}

/// `struct bpf_func_info` records: (instruction offset, BTF type id).
pub fn records(starts: &[u32]) -> Vec<u8> {
    starts
        .iter()
        .enumerate()
        .flat_map(|(i, &at)| [at, 3 + i as u32])
        .flat_map(u32::to_le_bytes)
        .collect()
}

/// Loads the blob for `functions` functions into the kernel.
pub fn load_btf(functions: usize) -> io::Result<OwnedFd> {
    sys::btf_load(&btf_blob(functions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_callback_starts_from_pseudo_func_loads() {
        let mut insns = vec![0u8; 8 * 6];
        // insn 1: ld_imm64 r2, func +2 (→ insn 4)
        insns[8] = 0x18;
        insns[9] = (PSEUDO_FUNC << 4) | 2;
        insns[12..16].copy_from_slice(&2i32.to_le_bytes());
        assert_eq!(function_starts(&insns), vec![0, 4]);
        assert_eq!(
            records(&[0, 4]),
            [0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0]
        );
    }

    #[test]
    fn blob_header_counts_its_sections() {
        let blob = btf_blob(2);
        assert_eq!(&blob[..4], &[0x9f, 0xeb, 1, 0]);
        let type_len = u32::from_le_bytes(blob[12..16].try_into().unwrap());
        assert_eq!(type_len, 16 + 12 + 2 * 12);
        assert!(blob.ends_with(b"f0\0f1\0"));
    }
}
