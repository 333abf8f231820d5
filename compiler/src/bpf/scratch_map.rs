//! Scratch space outside the 512-byte eBPF stack.
//!
//! When a probe's slots (strings, tuples, records) do not fit on the stack, the
//! largest ones move to a one-entry per-CPU array map (`.scratch`). The prologue
//! looks its value up once and keeps the pointer in a reserved callee-saved
//! register, so slot accesses stay `base + constant offset` either way. A map
//! value pointer is a valid destination for `probe_read_str`, a valid map key
//! and a valid ring-buffer record, so every expansion works on either base.
//!
//! Per-CPU data is safe here because a probe program runs to completion on its
//! CPU; the one exception (a perf-event program in NMI interrupting a
//! tracepoint program on the same CPU) could overwrite strings mid-probe, a
//! limitation bpftrace's own scratch buffers share.

use super::frame::pack;
use crate::ir::{Function, Module};

/// Name of the per-CPU array whose single value holds slots that do not fit on
/// the stack. Lowering declares it; the pipeline sizes it after code generation.
pub const SCRATCH_MAP: &str = ".scratch";

/// The scratch map's id, if the module declares one.
pub fn scratch_map(module: &Module) -> Option<u32> {
    module
        .maps
        .iter()
        .position(|m| m.name == SCRATCH_MAP)
        .map(|i| i as u32)
}

/// Which slots to place in the scratch map so the rest pack into `budget` stack
/// bytes: the largest slots move first (each move frees the most stack).
pub(super) fn slots_for_map(
    func: &Function,
    lives: &[Option<(u32, u32)>],
    budget: u32,
) -> Vec<bool> {
    let mut in_map = vec![false; func.slots.len()];
    let mut by_size: Vec<usize> = (0..func.slots.len())
        .filter(|&s| lives[s].is_some())
        .collect();
    by_size.sort_by_key(|&s| std::cmp::Reverse(func.slots[s].size));
    for s in by_size {
        let on_stack: Vec<Option<(u32, u32)>> = lives
            .iter()
            .zip(&in_map)
            .map(|(l, &m)| if m { None } else { *l })
            .collect();
        if pack(func, &on_stack).1 <= budget {
            break;
        }
        in_map[s] = true;
    }
    in_map
}
