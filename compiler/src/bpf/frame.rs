//! Stack frame layout below r10: spill slots, a scratch area, then the IR slots.
//!
//! IR slots whose accesses never overlap in time share bytes: each slot's life is
//! the span of instruction indices between its first and last access, widened to
//! cover any loop it is touched in. This keeps scripts with several printf records
//! or string temporaries under the 512-byte limit.

use super::insn::{Reg, R10};
use super::liveness::{successors, Liveness};
use super::{EmitError, STACK_LIMIT};
use crate::ir::{Effect, Function, Inst, Mem};
use rtrace_stdlib::types::round8;

pub struct Frame {
    /// Base register and offset of each IR slot's first byte: r10 for stack
    /// slots, the scratch-map register for slots placed in the scratch map.
    slot_off: Vec<(Reg, i32)>,
    /// r10-relative offset of each spill slot.
    spill_off: Vec<i32>,
    /// r10-relative offset of the scratch area's first byte.
    pub scratch: i32,
    /// Bytes of the per-CPU scratch map this function uses (0: stack only).
    pub map_bytes: u32,
}

impl Frame {
    /// Lay out `func`'s slots plus `spills` spill slots and `scratch` scratch bytes.
    pub fn layout(
        func: &Function,
        live: &Liveness,
        spills: u32,
        scratch: u32,
        map_base: Option<Reg>,
    ) -> Result<Frame, EmitError> {
        Self::layout_with_aliases(func, live, spills, scratch, map_base, &[])
    }

    /// Like [`Frame::layout`], but each `(slot, base, off)` in `aliases` takes
    /// no bytes of this frame: it lives at `base + off` (another frame's memory,
    /// as seen from a callback subprogram).
    pub fn layout_with_aliases(
        func: &Function,
        live: &Liveness,
        spills: u32,
        scratch: u32,
        map_base: Option<Reg>,
        aliases: &[(u32, Reg, i32)],
    ) -> Result<Frame, EmitError> {
        let mut lives = slot_lives(func, live);
        for &(slot, _, _) in aliases {
            if let Some(life) = lives.get_mut(slot as usize) {
                *life = None;
            }
        }
        let fixed = spills * 8 + round8(scratch);
        let in_map = match map_base {
            Some(_) => {
                super::scratch_map::slots_for_map(func, &lives, STACK_LIMIT.saturating_sub(fixed))
            }
            None => vec![false; func.slots.len()],
        };
        let only = |want: bool| -> Vec<Option<(u32, u32)>> {
            lives
                .iter()
                .zip(&in_map)
                .map(|(l, &m)| if m == want { *l } else { None })
                .collect()
        };
        let (stack_pos, area) = pack(func, &only(false));
        let (map_pos, map_bytes) = pack(func, &only(true));
        let spill_bytes = spills * 8;
        let scratch = round8(scratch);
        let size = spill_bytes + scratch + area;
        if size > STACK_LIMIT {
            return Err(EmitError::StackLimit {
                needed: size,
                limit: STACK_LIMIT,
            });
        }
        let base = -(size as i32);
        let mut slot_off: Vec<(Reg, i32)> = (0..func.slots.len())
            .map(|s| match (in_map[s], map_base) {
                (true, Some(reg)) => (reg, map_pos[s] as i32),
                _ => (R10, base + stack_pos[s] as i32),
            })
            .collect();
        for &(slot, reg, off) in aliases {
            if let Some(at) = slot_off.get_mut(slot as usize) {
                *at = (reg, off);
            }
        }
        Ok(Frame {
            slot_off,
            spill_off: (0..spills).map(|i| -8 * (i as i32 + 1)).collect(),
            scratch: -((spill_bytes + scratch) as i32),
            map_bytes,
        })
    }

    /// Base register and offset of `mem`.
    pub fn addr(&self, mem: Mem) -> (Reg, i32) {
        let (base, off) = self.slot_off[mem.slot as usize];
        (base, off + mem.off as i32)
    }

    pub fn spill(&self, slot: u32) -> i32 {
        self.spill_off[slot as usize]
    }
}

/// Stack addresses an instruction touches.
pub fn inst_mems(inst: &Inst, out: &mut Vec<Mem>) {
    match inst {
        Inst::Load { mem, .. }
        | Inst::Store { mem, .. }
        | Inst::Zero { mem, .. }
        | Inst::Emit { mem, .. } => out.push(*mem),
        Inst::Copy { dst, src, .. } => out.extend([*dst, *src]),
        Inst::Read { dst, .. } | Inst::ReadStr { dst, .. } | Inst::Comm { dst } => out.push(*dst),
        Inst::ReadBuf { dst, .. } => out.push(*dst),
        Inst::Effect(Effect::TracePrintk { fmt, .. }) => out.push(*fmt),
        Inst::Effect(Effect::DPath { dst, .. }) => out.push(*dst),
        Inst::StrEq { a, b, .. } => out.extend([*a, *b]),
        Inst::MapRead { key, dst, .. } => out.extend(key.iter().copied().chain([*dst])),
        Inst::MapWrite { key, src, .. } => out.extend(key.iter().copied().chain([*src])),
        Inst::MapAgg { key, .. } | Inst::MapDelete { key, .. } => out.extend(key.iter().copied()),
        Inst::MapReadCpu { key, dst, .. } => out.extend(key.iter().copied().chain([*dst])),
        Inst::MapEntry { key, value, .. } => out.extend([*key, *value]),
        // The callback reads and writes the aliased slots while the helper runs.
        Inst::MapForEach { outer, .. } => out.extend(outer.iter().map(|&(s, _)| Mem::at(s, 0))),
        _ => {}
    }
}

/// [first, last] instruction index touching each slot (None if never touched).
pub(super) fn slot_lives(func: &Function, live: &Liveness) -> Vec<Option<(u32, u32)>> {
    let mut lives: Vec<Option<(u32, u32)>> = vec![None; func.slots.len()];
    let mut mems = Vec::new();
    for &b in &live.order {
        let first = live.first[b as usize].unwrap_or(0);
        for (i, inst) in func.blocks[b as usize].insts.iter().enumerate() {
            let k = first + i as u32;
            mems.clear();
            inst_mems(inst, &mut mems);
            for m in &mems {
                let Some(life) = lives.get_mut(m.slot as usize) else {
                    continue;
                };
                *life = Some(life.map_or((k, k), |(s, e)| (s.min(k), e.max(k))));
            }
        }
    }
    widen_over_loops(func, live, &mut lives);
    lives
}

/// A slot touched inside a loop must survive the whole loop: every back edge
/// (a jump to a block placed at or before the jump) spans [target, jump]; a life
/// overlapping that span is widened to include it, until nothing changes.
fn widen_over_loops(func: &Function, live: &Liveness, lives: &mut [Option<(u32, u32)>]) {
    let mut spans = Vec::new();
    for &b in &live.order {
        let term = live.term_index(func, b);
        for s in successors(&func.blocks[b as usize].term) {
            if let Some(target) = live.first[s as usize] {
                if target <= term {
                    spans.push((target, term));
                }
            }
        }
    }
    let mut changed = true;
    while changed {
        changed = false;
        for life in lives.iter_mut().flatten() {
            for &(lo, hi) in &spans {
                let overlaps = life.0 <= hi && lo <= life.1;
                let wider = (life.0.min(lo), life.1.max(hi));
                if overlaps && wider != *life {
                    *life = wider;
                    changed = true;
                }
            }
        }
    }
}

/// First-fit packing: byte position of each slot inside the slot area, and the
/// area's size. Slots whose lives overlap get disjoint bytes.
pub(super) fn pack(func: &Function, lives: &[Option<(u32, u32)>]) -> (Vec<u32>, u32) {
    let mut order: Vec<usize> = (0..func.slots.len())
        .filter(|&s| lives[s].is_some())
        .collect();
    order.sort_by_key(|&s| (lives[s].map(|l| l.0), std::cmp::Reverse(func.slots[s].size)));
    let mut pos = vec![0u32; func.slots.len()];
    // Slots still alive: (start, end, life). Slots come in order of their life's
    // start, so one whose life ended before the current start can never overlap
    // a later slot and leaves the list (keeps packing linear for long scripts).
    let mut placed: Vec<(u32, u32, (u32, u32))> = Vec::new();
    let mut area = 0;
    for s in order {
        let life = lives[s].unwrap_or((0, 0));
        placed.retain(|p| p.2 .1 >= life.0);
        let size = round8(func.slots[s].size);
        let mut busy: Vec<(u32, u32)> = placed
            .iter()
            .filter(|p| p.2 .0 <= life.1 && life.0 <= p.2 .1)
            .map(|p| (p.0, p.1))
            .collect();
        busy.sort_unstable();
        let mut at = 0;
        for (start, end) in busy {
            if at + size <= start {
                break;
            }
            at = at.max(end);
        }
        pos[s] = at;
        placed.push((at, at + size, life));
        area = area.max(at + size);
    }
    (pos, area)
}
