//! Block order, instruction positions and live variables of an IR function.
//!
//! The probe context is modelled as one extra variable (`ctx_var`, numbered after
//! the function's vregs) that is live from entry to its last `CtxLoad`/`CtxAddr`, so
//! the register allocator keeps it only as long as it is needed.

use super::EmitError;
use crate::ir::{BlockId, Function, Inst, Term, VReg};

/// A fixed-size set of variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub fn new(len: usize) -> BitSet {
        BitSet {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub fn insert(&mut self, v: u32) {
        self.words[v as usize / 64] |= 1 << (v % 64);
    }

    pub fn remove(&mut self, v: u32) {
        self.words[v as usize / 64] &= !(1 << (v % 64));
    }

    pub fn contains(&self, v: u32) -> bool {
        self.words[v as usize / 64] & (1 << (v % 64)) != 0
    }

    /// self |= other; true if self changed.
    pub fn union_with(&mut self, other: &BitSet) -> bool {
        let mut changed = false;
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            let merged = *a | *b;
            changed |= merged != *a;
            *a = merged;
        }
        changed
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64)
                .filter(move |bit| w & (1u64 << bit) != 0)
                .map(move |bit| (i * 64 + bit) as u32)
        })
    }
}

/// Variables an instruction reads; here the probe context is a variable too
/// (`ctx`), so that it stays live while `CtxLoad`/`CtxAddr` still need it.
pub fn inst_uses(inst: &Inst, ctx: VReg, out: &mut Vec<VReg>) {
    inst.for_each_use(|v| out.push(v));
    if matches!(
        inst,
        Inst::CtxLoad { .. }
            | Inst::CtxAddr { .. }
            | Inst::StackId { .. }
            | Inst::Builtin {
                which: crate::ir::Builtin::AttachCookie | crate::ir::Builtin::FuncIp,
                ..
            }
    ) {
        out.push(ctx);
    }
}

pub fn successors(term: &Term) -> Vec<BlockId> {
    match term {
        Term::Jump(t) => vec![*t],
        Term::Branch { then, els, .. } => vec![*then, *els],
        Term::Return => Vec::new(),
    }
}

/// Liveness facts for one function.
pub struct Liveness {
    /// Reachable blocks in emission order (reverse post-order, entry first).
    pub order: Vec<BlockId>,
    /// Linear index of each block's first instruction (None if unreachable).
    /// Instruction `i` of block `b` has index `first[b] + i`; its terminator
    /// comes right after its last instruction.
    pub first: Vec<Option<u32>>,
    pub live_in: Vec<BitSet>,
    pub live_out: Vec<BitSet>,
    /// The probe context's variable number (= `num_vregs`).
    pub ctx_var: VReg,
}

impl Liveness {
    pub fn num_vars(&self) -> u32 {
        self.ctx_var + 1
    }

    /// Linear index of a block's terminator.
    pub fn term_index(&self, func: &Function, b: BlockId) -> u32 {
        self.first[b as usize].unwrap_or(0) + func.blocks[b as usize].insts.len() as u32
    }
}

pub fn analyse(func: &Function) -> Result<Liveness, EmitError> {
    validate_refs(func)?;
    let ctx_var = func.num_vregs;
    let vars = ctx_var as usize + 1;
    let order = reachable_order(func);
    let mut first = vec![None; func.blocks.len()];
    let mut next = 0u32;
    for &b in &order {
        first[b as usize] = Some(next);
        next += func.blocks[b as usize].insts.len() as u32 + 1;
    }

    let (uses, defs) = block_use_def(func, ctx_var, vars);
    let mut live_in = vec![BitSet::new(vars); func.blocks.len()];
    let mut live_out = vec![BitSet::new(vars); func.blocks.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for &b in order.iter().rev() {
            let b = b as usize;
            let mut out = BitSet::new(vars);
            for s in successors(&func.blocks[b].term) {
                out.union_with(&live_in[s as usize]);
            }
            // in = use ∪ (out − def)
            let mut inn = out.clone();
            for d in defs[b].iter() {
                inn.remove(d);
            }
            inn.union_with(&uses[b]);
            changed |= live_out[b].union_with(&out);
            changed |= live_in[b].union_with(&inn);
        }
    }
    Ok(Liveness {
        order,
        first,
        live_in,
        live_out,
        ctx_var,
    })
}

/// Per block: variables read before any write in the block, and variables written.
fn block_use_def(func: &Function, ctx: VReg, vars: usize) -> (Vec<BitSet>, Vec<BitSet>) {
    let mut uses = Vec::with_capacity(func.blocks.len());
    let mut defs = Vec::with_capacity(func.blocks.len());
    let mut buf = Vec::new();
    for block in &func.blocks {
        let mut used = BitSet::new(vars);
        let mut defined = BitSet::new(vars);
        for inst in &block.insts {
            buf.clear();
            inst_uses(inst, ctx, &mut buf);
            for &u in &buf {
                if !defined.contains(u) {
                    used.insert(u);
                }
            }
            if let Some(d) = inst.def() {
                defined.insert(d);
            }
        }
        if let Term::Branch { cond, .. } = block.term {
            if !defined.contains(cond) {
                used.insert(cond);
            }
        }
        uses.push(used);
        defs.push(defined);
    }
    (uses, defs)
}

/// Blocks reachable from the entry in reverse post-order (the verifier rejects
/// unreachable instructions, so unreachable blocks are never emitted). Visiting a
/// branch's `els` before its `then` places `then` right after the branch, so the
/// usual if-body falls through; forward edges stay forward, only loop back edges
/// jump backwards.
fn reachable_order(func: &Function) -> Vec<BlockId> {
    let mut seen = vec![false; func.blocks.len()];
    let mut post = Vec::with_capacity(func.blocks.len());
    // (block, successors still to visit)
    let mut stack: Vec<(BlockId, Vec<BlockId>)> = vec![(0, dfs_successors(func, 0))];
    seen[0] = true;
    while let Some(top) = stack.last_mut() {
        let b = top.0;
        match top.1.pop() {
            Some(s) if !seen[s as usize] => {
                seen[s as usize] = true;
                stack.push((s, dfs_successors(func, s)));
            }
            Some(_) => {}
            None => {
                post.push(b);
                stack.pop();
            }
        }
    }
    post.reverse();
    post
}

/// Successors as a stack popped from the end: `els` is visited first, then `then`.
fn dfs_successors(func: &Function, b: BlockId) -> Vec<BlockId> {
    successors(&func.blocks[b as usize].term)
}

/// Every block and vreg reference is in range.
fn validate_refs(func: &Function) -> Result<(), EmitError> {
    let bad = |what: String| Err(EmitError::InvalidIr { what });
    if func.blocks.is_empty() {
        return bad(format!("function {} has no blocks", func.name));
    }
    let nblocks = func.blocks.len() as BlockId;
    let mut buf = Vec::new();
    for (i, block) in func.blocks.iter().enumerate() {
        for s in successors(&block.term) {
            if s >= nblocks {
                return bad(format!("block b{i} jumps to missing block b{s}"));
            }
        }
        if let Term::Branch { cond, .. } = block.term {
            buf.push(cond);
        }
        for inst in &block.insts {
            inst_uses(inst, 0, &mut buf);
            buf.extend(inst.def());
        }
        if let Some(v) = buf.iter().find(|&&v| v >= func.num_vregs) {
            return bad(format!(
                "block b{i} uses vreg v{v} but the function has {} vregs",
                func.num_vregs
            ));
        }
        buf.clear();
    }
    Ok(())
}
