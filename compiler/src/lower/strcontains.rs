//! Lowering `strcontains(haystack, needle)` to straight-line compares.
//!
//! The IR has no indexed loads, so every (position, needle byte) pair is one
//! unrolled compare: a mismatch jumps to the next position, the end of the
//! needle jumps to "found", and a NUL at a haystack position ends the search.
//! The checker bounds the number of pairs (see [`compare_pairs`]).

use super::FnLower;
use crate::ir::{Cond, Inst, Mem, Operand, Term, VReg};
use crate::typed::{TExpr, TExprKind};

/// Most (position, byte) compares one `strcontains()` may unroll to.
pub const MAX_COMPARE_PAIRS: u64 = 2048;

/// Compares needed for a haystack of capacity `hay` (NUL included) and a
/// needle of `literal` characters or of capacity `cap`.
pub fn compare_pairs(hay: u32, needle: Needle<'_>) -> u64 {
    let chars = u64::from(hay.saturating_sub(1));
    match needle {
        Needle::Literal(b) => {
            let m = b.len() as u64;
            chars.saturating_sub(m).saturating_add(1) * m
        }
        Needle::Value(cap) => chars * u64::from(cap),
    }
}

/// What the needle is known to be at compile time.
#[derive(Clone, Copy)]
pub enum Needle<'a> {
    /// A string literal (its bytes, without the NUL): compared as immediates.
    Literal(&'a [u8]),
    /// A string value of this capacity, compared byte by byte up to its NUL.
    Value(u32),
}

impl<'a> Needle<'a> {
    pub fn of(e: &'a TExpr) -> Needle<'a> {
        match &e.kind {
            // A C string ends at its first NUL.
            TExprKind::Str(bytes) => {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Needle::Literal(&bytes[..end])
            }
            _ => Needle::Value(e.ty.size()),
        }
    }
}

impl FnLower<'_> {
    /// 1 if `needle` occurs in `hay`, else 0.
    pub(super) fn str_contains(&mut self, hay: &TExpr, needle: &TExpr) -> VReg {
        let hay_len = hay.ty.size();
        let hay = self.mem_value(hay);
        let kind = Needle::of(needle);
        let needle_mem = match kind {
            Needle::Literal(_) => None,
            Needle::Value(_) => Some(self.mem_value(needle)),
        };
        let result = self.temp(8);
        self.emit(Inst::Store {
            mem: result,
            src: Operand::Imm(0),
            size: 8,
        });
        let (found, done) = (self.f.new_block(), self.f.new_block());
        match (kind, needle_mem) {
            (Needle::Literal(bytes), _) => self.search_literal(hay, hay_len, bytes, found, done),
            (Needle::Value(cap), Some(n)) => self.search_value(hay, hay_len, n, cap, found, done),
            (Needle::Value(_), None) => self.terminate(Term::Jump(done)),
        }
        self.cur = found;
        self.emit(Inst::Store {
            mem: result,
            src: Operand::Imm(1),
            size: 8,
        });
        self.terminate(Term::Jump(done));
        self.cur = done;
        self.load64(result)
    }

    fn mem_value(&mut self, e: &TExpr) -> Mem {
        match self.value(e) {
            super::Val::Mem(m) => m,
            super::Val::Scalar(_) => unreachable!("strings are in memory"),
        }
    }

    fn load_byte(&mut self, mem: Mem) -> VReg {
        let dst = self.vreg();
        self.emit(Inst::Load {
            dst,
            mem,
            size: 1,
            signed: false,
        });
        dst
    }

    /// Continue in `then` if `a cond b`, else in a new block (made current).
    fn branch_if(&mut self, cond: Cond, a: VReg, b: Operand, then: crate::ir::BlockId) {
        let c = self.cmp(cond, a, b);
        let els = self.f.new_block();
        self.terminate(Term::Branch { cond: c, then, els });
        self.cur = els;
    }

    /// Continue in a new block (made current) if `a cond b`, else go to
    /// `miss`. The miss is the fall-through, so that the kernel verifier, which
    /// follows the fall-through first and queues the jump, walks the mismatch
    /// chain first and queues only the short "still matching" paths; the other
    /// way round it queues one state per compare and gives up on long strings.
    fn continue_if(&mut self, cond: Cond, a: VReg, b: Operand, miss: crate::ir::BlockId) {
        let c = self.cmp(cond, a, b);
        let (miss_block, cont) = (self.f.new_block(), self.f.new_block());
        self.terminate(Term::Branch {
            cond: c,
            then: cont,
            els: miss_block,
        });
        self.cur = miss_block;
        self.terminate(Term::Jump(miss));
        self.cur = cont;
    }

    fn search_literal(
        &mut self,
        hay: Mem,
        hay_len: u32,
        bytes: &[u8],
        found: crate::ir::BlockId,
        done: crate::ir::BlockId,
    ) {
        if bytes.is_empty() {
            return self.terminate(Term::Jump(found));
        }
        let chars = hay_len.saturating_sub(1);
        let m = bytes.len() as u32;
        for i in 0..=chars.saturating_sub(m) {
            if i + m > chars {
                break;
            }
            let next = self.f.new_block();
            for (j, &b) in bytes.iter().enumerate() {
                let h = self.load_byte(hay.offset(i + j as u32));
                if j == 0 {
                    // The haystack ended before this position.
                    self.branch_if(Cond::Eq, h, Operand::Imm(0), done);
                }
                self.continue_if(Cond::Eq, h, Operand::Imm(i64::from(b)), next);
            }
            self.terminate(Term::Jump(found));
            self.cur = next;
        }
        self.terminate(Term::Jump(done));
    }

    fn search_value(
        &mut self,
        hay: Mem,
        hay_len: u32,
        needle: Mem,
        cap: u32,
        found: crate::ir::BlockId,
        done: crate::ir::BlockId,
    ) {
        // The empty needle is found everywhere, even in an empty haystack.
        let n0 = self.load_byte(needle);
        self.branch_if(Cond::Eq, n0, Operand::Imm(0), found);
        let chars = hay_len.saturating_sub(1);
        for i in 0..chars {
            let next = self.f.new_block();
            let h0 = self.load_byte(hay.offset(i));
            self.branch_if(Cond::Eq, h0, Operand::Imm(0), done);
            for j in 0..cap {
                let n = self.load_byte(needle.offset(j));
                self.branch_if(Cond::Eq, n, Operand::Imm(0), found);
                if i + j >= chars {
                    // Needle left, haystack over.
                    break;
                }
                let h = self.load_byte(hay.offset(i + j));
                self.continue_if(Cond::Eq, h, Operand::Reg(n), next);
            }
            // Either the needle filled its capacity without a NUL (all of it
            // matched) or the haystack ran out first (no match).
            let whole = cap <= chars - i;
            self.terminate(Term::Jump(if whole { found } else { next }));
            self.cur = next;
        }
        self.terminate(Term::Jump(done));
    }
}
