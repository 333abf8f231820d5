//! Stack-slot memory: loads, stores, zeroing, copies and string compares.
//!
//! All accesses are little-endian (the layout `rtrace_stdlib::types` fixes for
//! keys, values and records) and stay inside their slot (checked beforehand by
//! `validate`). Short ranges are unrolled; long ones become a loop over 8-byte
//! words plus an unrolled tail, so code size stays linear in the IR size.

use super::arith::widen;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I16, I32, I64, I8};
use cranelift_codegen::ir::{
    BlockArg, Endianness, InstBuilder, MemFlagsData, StackSlot, Type, Value,
};
use cranelift_frontend::FunctionBuilder;

/// Ranges up to this many bytes are zeroed/copied without a loop.
const UNROLL_LIMIT: u32 = 128;

/// A resolved IR `Mem`: a Cranelift stack slot, a byte offset in it, and the
/// slot's address (shared by the accesses of a block; a load or store at
/// `base + off` still becomes a stack-slot access, with no register).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    pub slot: StackSlot,
    pub off: u32,
    pub base: Value,
}

impl Place {
    fn plus(self, by: u32) -> Place {
        Place {
            off: self.off + by,
            ..self
        }
    }

    /// The offset from `base`, as a memory-access immediate (slots are tiny).
    fn offset(self) -> i32 {
        self.off as i32
    }
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted().with_endianness(Endianness::Little)
}

fn int_type(size: u32) -> Type {
    match size {
        1 => I8,
        2 => I16,
        4 => I32,
        _ => I64,
    }
}

/// The address of `place` (slots are tiny, so the offset fits in an i32).
pub(crate) fn addr(b: &mut FunctionBuilder, ptr_ty: Type, place: Place) -> Value {
    b.ins().stack_addr(ptr_ty, place.slot, place.off as i32)
}

/// Load `size` bytes at `place`, extended to 64 bits.
pub(crate) fn load(b: &mut FunctionBuilder, place: Place, size: u8, signed: bool) -> Value {
    let v = b.ins().load(
        int_type(u32::from(size)),
        flags(),
        place.base,
        place.offset(),
    );
    widen(b, v, signed)
}

/// Store the low `size` bytes of the 64-bit `v` at `place`.
pub(crate) fn store(b: &mut FunctionBuilder, place: Place, v: Value, size: u8) {
    let ty = int_type(u32::from(size));
    let v = if ty == I64 { v } else { b.ins().ireduce(ty, v) };
    b.ins().store(flags(), v, place.base, place.offset());
}

/// (offset, access size) pairs covering `len` bytes with the widest accesses.
fn pieces(len: u32) -> impl Iterator<Item = (u32, u32)> {
    let mut off = 0;
    std::iter::from_fn(move || {
        let left = len - off;
        let size = [8, 4, 2, 1].into_iter().find(|s| *s <= left)?;
        off += size;
        Some((off - size, size))
    })
}

/// Bytes handled by the word loop when a range is too long to unroll.
fn looped_bytes(len: u32) -> u32 {
    if len <= UNROLL_LIMIT {
        0
    } else {
        len & !7
    }
}

/// Set `len` bytes at `place` to zero.
pub(crate) fn zero(b: &mut FunctionBuilder, ptr_ty: Type, place: Place, len: u32) {
    let looped = looped_bytes(len);
    if looped > 0 {
        let base = addr(b, ptr_ty, place);
        word_loop(b, looped, |b, i| {
            let at = b.ins().iadd(base, i);
            let zero = b.ins().iconst(I64, 0);
            b.ins().store(flags(), zero, at, 0);
        });
    }
    for (off, size) in pieces(len - looped) {
        let zero = b.ins().iconst(int_type(size), 0);
        let at = place.plus(looped + off);
        b.ins().store(flags(), zero, at.base, at.offset());
    }
}

/// Copy `len` bytes from `src` to `dst`.
pub(crate) fn copy(b: &mut FunctionBuilder, ptr_ty: Type, dst: Place, src: Place, len: u32) {
    let looped = looped_bytes(len);
    if looped > 0 {
        let from = addr(b, ptr_ty, src);
        let to = addr(b, ptr_ty, dst);
        word_loop(b, looped, |b, i| {
            let src_at = b.ins().iadd(from, i);
            let word = b.ins().load(I64, flags(), src_at, 0);
            let dst_at = b.ins().iadd(to, i);
            b.ins().store(flags(), word, dst_at, 0);
        });
    }
    for (off, size) in pieces(len - looped) {
        let (from, to) = (src.plus(looped + off), dst.plus(looped + off));
        let v = b
            .ins()
            .load(int_type(size), flags(), from.base, from.offset());
        b.ins().store(flags(), v, to.base, to.offset());
    }
}

/// Emit `for i in (0..n).step_by(8) { body(i) }` (n > 0, a multiple of 8) and
/// leave the builder after the loop.
fn word_loop(b: &mut FunctionBuilder, n: u32, body: impl Fn(&mut FunctionBuilder, Value)) {
    let head = b.create_block();
    let i = b.append_block_param(head, I64);
    let exit = b.create_block();
    let start = b.ins().iconst(I64, 0);
    b.ins().jump(head, &[BlockArg::Value(start)]);

    b.switch_to_block(head);
    body(b, i);
    let next = b.ins().iadd_imm_s(i, 8);
    let more = b
        .ins()
        .icmp_imm_u(IntCC::UnsignedLessThan, next, i64::from(n));
    b.ins()
        .brif(more, head, &[BlockArg::Value(next)], exit, &[]);

    b.switch_to_block(exit);
}

/// 1 if the strings at `x` and `y` are equal up to the first NUL or `len`
/// bytes, else 0. A byte loop: strings are short and usually differ early.
pub(crate) fn str_eq(b: &mut FunctionBuilder, ptr_ty: Type, x: Place, y: Place, len: u32) -> Value {
    let head = b.create_block();
    let i = b.append_block_param(head, I64);
    let body = b.create_block();
    let same_char = b.create_block();
    let done = b.create_block();
    let result = b.append_block_param(done, I64);

    let x_base = addr(b, ptr_ty, x);
    let y_base = addr(b, ptr_ty, y);
    let start = b.ins().iconst(I64, 0);
    b.ins().jump(head, &[BlockArg::Value(start)]);

    // head: all `len` bytes compared equal → 1.
    b.switch_to_block(head);
    let one = b.ins().iconst(I64, 1);
    let at_end = b.ins().icmp_imm_u(IntCC::Equal, i, i64::from(len));
    b.ins()
        .brif(at_end, done, &[BlockArg::Value(one)], body, &[]);

    // body: different bytes → 0.
    b.switch_to_block(body);
    let x_at = b.ins().iadd(x_base, i);
    let cx = b.ins().load(I8, flags(), x_at, 0);
    let y_at = b.ins().iadd(y_base, i);
    let cy = b.ins().load(I8, flags(), y_at, 0);
    let zero = b.ins().iconst(I64, 0);
    let differ = b.ins().icmp(IntCC::NotEqual, cx, cy);
    b.ins()
        .brif(differ, done, &[BlockArg::Value(zero)], same_char, &[]);

    // same_char: both strings end here → 1, else next byte.
    b.switch_to_block(same_char);
    let one = b.ins().iconst(I64, 1);
    let next = b.ins().iadd_imm_s(i, 1);
    b.ins().brif(
        cx,
        head,
        &[BlockArg::Value(next)],
        done,
        &[BlockArg::Value(one)],
    );

    b.switch_to_block(done);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_with_wide_accesses() {
        let got: Vec<_> = pieces(15).collect();
        assert_eq!(got, vec![(0, 8), (8, 4), (12, 2), (14, 1)]);
        assert_eq!(pieces(0).count(), 0);
    }

    #[test]
    fn long_ranges_loop_over_whole_words() {
        assert_eq!(looped_bytes(UNROLL_LIMIT), 0);
        assert_eq!(looped_bytes(1027), 1024);
    }
}
