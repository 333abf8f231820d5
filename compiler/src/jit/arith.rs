//! Scalar IR operations as trap-free Cranelift code with eBPF semantics.
//!
//! eBPF never traps: division by zero yields 0, remainder by zero yields the
//! dividend, and `i64::MIN / -1` wraps. Cranelift's `udiv`/`sdiv`/`urem`/`srem`
//! trap on these, so a divisor that may be 0 (or -1 for signed ops) is replaced
//! by 1 before dividing and the result is fixed up with `select`.

use crate::ir::{BinOp, Cond};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I16, I32, I64, I8};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

/// `a op b` on two registers.
pub(crate) fn binary(b: &mut FunctionBuilder, op: BinOp, x: Value, y: Value) -> Value {
    match op {
        BinOp::Add => b.ins().iadd(x, y),
        BinOp::Sub => b.ins().isub(x, y),
        BinOp::Mul => b.ins().imul(x, y),
        BinOp::And => b.ins().band(x, y),
        BinOp::Or => b.ins().bor(x, y),
        BinOp::Xor => b.ins().bxor(x, y),
        // Cranelift masks shift amounts to the operand width: modulo 64.
        BinOp::Shl => b.ins().ishl(x, y),
        BinOp::LShr => b.ins().ushr(x, y),
        BinOp::AShr => b.ins().sshr(x, y),
        BinOp::UDiv => udiv(b, x, y),
        BinOp::URem => urem(b, x, y),
        BinOp::SDiv => sdiv(b, x, y),
        BinOp::SRem => srem(b, x, y),
    }
}

/// `a op imm`: a known divisor needs no run-time guard.
pub(crate) fn binary_imm(b: &mut FunctionBuilder, op: BinOp, x: Value, imm: i64) -> Value {
    let is_division = matches!(op, BinOp::UDiv | BinOp::URem | BinOp::SDiv | BinOp::SRem);
    match (op, imm) {
        (BinOp::UDiv | BinOp::SDiv, 0) => b.ins().iconst(I64, 0),
        (BinOp::URem | BinOp::SRem, 0) => x,
        (BinOp::SDiv, -1) => b.ins().ineg(x),
        (BinOp::SRem, -1) => b.ins().iconst(I64, 0),
        _ => {
            let y = b.ins().iconst(I64, imm);
            if is_division {
                divide_unguarded(b, op, x, y)
            } else {
                binary(b, op, x, y)
            }
        }
    }
}

/// A division or remainder whose divisor is known not to trap.
fn divide_unguarded(b: &mut FunctionBuilder, op: BinOp, x: Value, y: Value) -> Value {
    match op {
        BinOp::UDiv => b.ins().udiv(x, y),
        BinOp::URem => b.ins().urem(x, y),
        BinOp::SDiv => b.ins().sdiv(x, y),
        _ => b.ins().srem(x, y),
    }
}

/// The divisor with 0 replaced by 1, and the "was zero" flag.
fn nonzero(b: &mut FunctionBuilder, y: Value) -> (Value, Value) {
    let is_zero = b.ins().icmp_imm_s(IntCC::Equal, y, 0);
    let one = b.ins().iconst(I64, 1);
    (b.ins().select(is_zero, one, y), is_zero)
}

fn udiv(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let (safe, is_zero) = nonzero(b, y);
    let q = b.ins().udiv(x, safe);
    let zero = b.ins().iconst(I64, 0);
    b.ins().select(is_zero, zero, q)
}

fn urem(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let (safe, is_zero) = nonzero(b, y);
    let r = b.ins().urem(x, safe);
    b.ins().select(is_zero, x, r)
}

/// The divisor with 0 and -1 replaced by 1, plus the two flags.
fn signed_divisor(b: &mut FunctionBuilder, y: Value) -> (Value, Value, Value) {
    let (safe, is_zero) = nonzero(b, y);
    let is_minus_one = b.ins().icmp_imm_s(IntCC::Equal, y, -1);
    let one = b.ins().iconst(I64, 1);
    (
        b.ins().select(is_minus_one, one, safe),
        is_zero,
        is_minus_one,
    )
}

fn sdiv(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let (safe, is_zero, is_minus_one) = signed_divisor(b, y);
    let q = b.ins().sdiv(x, safe);
    // x / -1 = -x with wrap-around (i64::MIN stays i64::MIN).
    let negated = b.ins().ineg(x);
    let q = b.ins().select(is_minus_one, negated, q);
    let zero = b.ins().iconst(I64, 0);
    b.ins().select(is_zero, zero, q)
}

fn srem(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    // With the divisor forced to 1 for -1, the remainder is already 0 there.
    let (safe, is_zero, _) = signed_divisor(b, y);
    let r = b.ins().srem(x, safe);
    b.ins().select(is_zero, x, r)
}

/// `(a cond b) ? 1 : 0` as a 64-bit value.
pub(crate) fn compare(b: &mut FunctionBuilder, cond: Cond, x: Value, y: Value) -> Value {
    let flag = b.ins().icmp(int_cc(cond), x, y);
    b.ins().uextend(I64, flag)
}

fn int_cc(cond: Cond) -> IntCC {
    match cond {
        Cond::Eq => IntCC::Equal,
        Cond::Ne => IntCC::NotEqual,
        Cond::ULt => IntCC::UnsignedLessThan,
        Cond::ULe => IntCC::UnsignedLessThanOrEqual,
        Cond::UGt => IntCC::UnsignedGreaterThan,
        Cond::UGe => IntCC::UnsignedGreaterThanOrEqual,
        Cond::SLt => IntCC::SignedLessThan,
        Cond::SLe => IntCC::SignedLessThanOrEqual,
        Cond::SGt => IntCC::SignedGreaterThan,
        Cond::SGe => IntCC::SignedGreaterThanOrEqual,
    }
}

/// Truncate to `bits` (8/16/32; 64 is the identity) and extend back to 64.
pub(crate) fn extend(b: &mut FunctionBuilder, v: Value, bits: u8, signed: bool) -> Value {
    let narrow = match bits {
        8 => I8,
        16 => I16,
        32 => I32,
        _ => return v,
    };
    let truncated = b.ins().ireduce(narrow, v);
    widen(b, truncated, signed)
}

/// The low `bits` (16, 32, 64) of `v` with their bytes reversed, zero-extended.
pub(crate) fn byte_swap(b: &mut FunctionBuilder, v: Value, bits: u8) -> Value {
    let narrow = match bits {
        16 => I16,
        32 => I32,
        _ => return b.ins().bswap(v),
    };
    let truncated = b.ins().ireduce(narrow, v);
    let swapped = b.ins().bswap(truncated);
    widen(b, swapped, false)
}

/// Sign- or zero-extend a narrow value to 64 bits.
pub(crate) fn widen(b: &mut FunctionBuilder, v: Value, signed: bool) -> Value {
    if b.func.dfg.value_type(v) == I64 {
        v
    } else if signed {
        b.ins().sextend(I64, v)
    } else {
        b.ins().uextend(I64, v)
    }
}
