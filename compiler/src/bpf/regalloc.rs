//! Linear-scan register allocation over the callee-saved registers r6–r9.
//!
//! Values live in r6–r9 because those survive helper calls; r0–r5 stay free as
//! scratch inside one IR instruction's expansion. Each variable gets one live
//! interval over the linear instruction order (the hull of its live points, so
//! loops are covered through the block live-in/live-out sets). When more intervals
//! overlap than there are registers, the one that ends last is spilled to an 8-byte
//! stack slot for its whole life; a spill slot is shared only by intervals that do
//! not overlap (an evicted interval started earlier, so "free now" is not enough).

use super::insn::Reg;
use super::liveness::{inst_uses, Liveness};
use crate::ir::{Function, Inst, Term, VReg};

/// Where a variable lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Reg(Reg),
    /// Index of an 8-byte spill slot (the frame gives it an address).
    Spill(u32),
}

pub struct Allocation {
    /// Per variable (vregs, then the context); None if never referenced.
    pub locs: Vec<Option<Loc>>,
    pub spill_slots: u32,
}

#[derive(Clone, Copy, Debug)]
struct Interval {
    var: VReg,
    start: u32,
    end: u32,
}

/// Allocate every variable of `func` to one of `regs` or a spill slot.
pub fn allocate(func: &Function, live: &Liveness, regs: &[Reg]) -> Allocation {
    let mut intervals = live_intervals(func, live);
    intervals.sort_by_key(|iv| (iv.start, iv.var));
    let mut scan = Scan {
        hints: tied_operands(func, live),
        locs: vec![None; live.num_vars() as usize],
        free_regs: regs.to_vec(),
        active: Vec::new(),
        spill_slots: Vec::new(),
    };
    for iv in intervals {
        scan.expire(iv.start);
        scan.assign(iv);
    }
    Allocation {
        locs: scan.locs,
        spill_slots: scan.spill_slots.len() as u32,
    }
}

struct Scan {
    /// Per variable, the operand whose register it would like to reuse.
    hints: Vec<Option<VReg>>,
    locs: Vec<Option<Loc>>,
    /// Registers not held by an active interval (kept sorted: r6 first).
    free_regs: Vec<Reg>,
    /// Intervals currently in registers.
    active: Vec<Interval>,
    /// Per spill slot, the (start, end) of every interval living in it.
    spill_slots: Vec<Vec<(u32, u32)>>,
}

impl Scan {
    /// Release registers of intervals that ended before `pos`.
    fn expire(&mut self, pos: u32) {
        let locs = &self.locs;
        let free_regs = &mut self.free_regs;
        self.active.retain(|iv| {
            if iv.end < pos {
                if let Some(Loc::Reg(r)) = locs[iv.var as usize] {
                    free_regs.push(r);
                }
                false
            } else {
                true
            }
        });
        free_regs.sort_unstable();
    }

    fn assign(&mut self, iv: Interval) {
        if !self.free_regs.is_empty() {
            // Reusing the first operand's register turns `mov dst, a; op dst, b`
            // into `op dst, b`.
            let hinted = self.hints[iv.var as usize]
                .and_then(|h| self.locs[h as usize])
                .and_then(|loc| self.free_regs.iter().position(|&r| Loc::Reg(r) == loc));
            let r = self.free_regs.remove(hinted.unwrap_or(0));
            self.locs[iv.var as usize] = Some(Loc::Reg(r));
            self.active.push(iv);
            return;
        }
        let victim = self
            .active
            .iter()
            .enumerate()
            .max_by_key(|(_, a)| (a.end, a.var))
            .map(|(i, a)| (i, *a));
        match victim {
            Some((i, v)) if v.end > iv.end => {
                let reg = self.locs[v.var as usize];
                self.spill(v);
                self.active.remove(i);
                self.locs[iv.var as usize] = reg;
                self.active.push(iv);
            }
            _ => self.spill(iv),
        }
    }

    fn spill(&mut self, iv: Interval) {
        let disjoint = |occupants: &Vec<(u32, u32)>| {
            occupants
                .iter()
                .all(|&(start, end)| end < iv.start || iv.end < start)
        };
        let slot = match self.spill_slots.iter().position(disjoint) {
            Some(slot) => slot,
            None => {
                self.spill_slots.push(Vec::new());
                self.spill_slots.len() - 1
            }
        };
        self.spill_slots[slot].push((iv.start, iv.end));
        self.locs[iv.var as usize] = Some(Loc::Spill(slot as u32));
    }
}

/// For results computed in place from a first operand (`dst = a op b`, moves,
/// unary ops), that operand: sharing its register saves a move.
fn tied_operands(func: &Function, live: &Liveness) -> Vec<Option<VReg>> {
    let mut hints = vec![None; live.num_vars() as usize];
    for &b in &live.order {
        for inst in &func.blocks[b as usize].insts {
            let (dst, src) = match *inst {
                Inst::Bin { dst, a, .. } => (dst, a),
                Inst::Mov { dst, src }
                | Inst::Neg { dst, src }
                | Inst::Not { dst, src }
                | Inst::Ext { dst, src, .. } => (dst, src),
                Inst::CtxAddr { dst, .. } => (dst, live.ctx_var),
                _ => continue,
            };
            hints[dst as usize].get_or_insert(src);
        }
    }
    hints
}

/// Where instruction `k` defines its result. Normally 2k+1, just after its uses
/// at 2k, so a dying operand and the result may share a register. A `Cmp` result
/// is "early clobber" (2k): it is set to 1 before the compare-and-jump reads the
/// operands, so sharing would cost an extra move.
fn def_position(inst: &Inst, k: u32) -> u32 {
    match inst {
        Inst::Cmp { .. } => 2 * k,
        _ => 2 * k + 1,
    }
}

/// One interval per referenced variable (uses of instruction `k` are at 2k).
fn live_intervals(func: &Function, live: &Liveness) -> Vec<Interval> {
    let n = live.num_vars() as usize;
    let mut start = vec![u32::MAX; n];
    let mut end = vec![0u32; n];
    let mut touch = |v: VReg, pos: u32| {
        start[v as usize] = start[v as usize].min(pos);
        end[v as usize] = end[v as usize].max(pos);
    };
    let mut buf = Vec::new();
    for &b in &live.order {
        let first = live.first[b as usize].unwrap_or(0);
        let term = live.term_index(func, b);
        for v in live.live_in[b as usize].iter() {
            touch(v, 2 * first);
        }
        for v in live.live_out[b as usize].iter() {
            touch(v, 2 * term + 1);
        }
        let block = &func.blocks[b as usize];
        for (i, inst) in block.insts.iter().enumerate() {
            let k = first + i as u32;
            buf.clear();
            inst_uses(inst, live.ctx_var, &mut buf);
            for &u in &buf {
                touch(u, 2 * k);
            }
            if let Some(d) = inst.def() {
                touch(d, def_position(inst, k));
            }
        }
        if let Term::Branch { cond, .. } = block.term {
            touch(cond, 2 * term);
        }
    }
    (0..n)
        .filter(|&v| start[v] != u32::MAX)
        .map(|v| Interval {
            var: v as VReg,
            start: start[v],
            end: end[v],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::{R6, R7, R8, R9};
    use crate::bpf::liveness::analyse;
    use crate::ir::{BinOp, Inst, Operand};

    /// A deterministic pseudo-random straight-line function: each instruction
    /// defines a new vreg from one or two earlier ones, picked far apart so that
    /// many values stay live at once.
    fn random_function(seed: u64, len: u32) -> Function {
        let mut state = seed;
        let mut next = move |n: u32| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % u64::from(n)) as u32
        };
        let mut f = Function::new("rand", crate::ir::Context::Tracepoint);
        let first = f.new_vreg();
        f.blocks[0].insts.push(Inst::Const {
            dst: first,
            value: 1,
        });
        for _ in 0..len {
            let dst = f.new_vreg();
            let a = next(dst);
            let b = next(dst);
            f.blocks[0].insts.push(Inst::Bin {
                dst,
                op: BinOp::Add,
                a,
                b: Operand::Reg(b),
            });
        }
        f
    }

    #[test]
    fn overlapping_intervals_never_share_a_location() {
        for seed in 0..200 {
            let f = random_function(seed, 40);
            let live = analyse(&f).unwrap();
            let alloc = allocate(&f, &live, &[R6, R7, R8, R9]);
            let ivs = live_intervals(&f, &live);
            for (i, x) in ivs.iter().enumerate() {
                for y in &ivs[i + 1..] {
                    let overlap = x.start <= y.end && y.start <= x.end;
                    let (lx, ly) = (alloc.locs[x.var as usize], alloc.locs[y.var as usize]);
                    assert!(
                        !(overlap && lx == ly),
                        "seed {seed}: v{} {:?} and v{} {:?} overlap in {lx:?}",
                        x.var,
                        (x.start, x.end),
                        y.var,
                        (y.start, y.end)
                    );
                }
            }
        }
    }
}
