//! Address spaces of integers computed from pointers: `(struct mount *)
//! ((uint64)$vfsmnt - offsetof(struct mount, mnt))` in a syscall tracepoint
//! points into the kernel because `$vfsmnt` does, although pointers made from
//! plain integers there default to user memory (opensnoop.bt).

use super::*;

/// `v` as an integer for a cast; a pointer is wrapped in a `Retype` (which
/// lowers to nothing) so the pointer type, and its address space, stay visible.
pub(super) fn int_keeping_pointer(v: TExpr) -> TExpr {
    match v.ty {
        Type::Ptr { .. } => {
            let span = v.span;
            texpr(TExprKind::Retype(Box::new(v)), Type::U64, span)
        }
        _ => kernel_access::int_view(v),
    }
}

impl ProbeCx<'_> {
    /// The address space (`true`: user) of the pointer an integer expression
    /// was computed from by casts and arithmetic; `None` for plain integers.
    pub(super) fn int_addr_space(&self, e: &TExpr) -> Option<bool> {
        if let Type::Ptr { user, .. } = e.ty {
            return Some(user);
        }
        match &e.kind {
            TExprKind::Retype(x) | TExprKind::Cast { expr: x, .. } => self.int_addr_space(x),
            TExprKind::Binary { op, lhs, rhs } if address_arithmetic(*op) => self
                .int_addr_space(lhs)
                .or_else(|| self.int_addr_space(rhs)),
            TExprKind::Var(id) => self
                .int_addr_spaces
                .iter()
                .find(|(v, _)| v == id)
                .map(|(_, user)| *user),
            _ => None,
        }
    }

    /// Remember (or forget) the address space of the value just assigned to `id`.
    pub(super) fn note_int_addr_space(&mut self, id: VarId, value: &TExpr) {
        let space = match value.ty {
            Type::Int { .. } => self.int_addr_space(value),
            _ => None,
        };
        self.int_addr_spaces.retain(|(v, _)| *v != id);
        if let Some(user) = space {
            self.int_addr_spaces.push((id, user));
        }
    }
}

/// Operations that move an address within its object (offsets, alignment).
fn address_arithmetic(op: ir::BinOp) -> bool {
    use ir::BinOp::*;
    matches!(op, Add | Sub | And | Or)
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::typed::TStmt;

    /// Address space of each pointer-typed variable assignment, in order.
    fn pointer_spaces(src: &str) -> Vec<bool> {
        let ast = crate::parse::parse(src).expect("parses");
        let p = check(&ast, &Options::default()).expect("checks");
        p.probes[0]
            .body
            .iter()
            .filter_map(|s| match s {
                TStmt::Assign { value, .. } => match value.ty {
                    Type::Ptr { user, .. } => Some(user),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pointers_from_integers_keep_the_address_space_they_were_computed_from() {
        let spaces = pointer_spaces(
            "tracepoint:syscalls:sys_enter_read {
               $k = curtask;
               $a = (struct task_struct *)(((uint64)$k) + 8);
               $n = (uint64)$k; $n2 = $n - 16;
               $b = (struct task_struct *)$n2;
               $u = (uint8 *)((uint64)args.buf + 1);
               $plain = (uint8 *)1234;
               $n2 = 5;
               $c = (uint8 *)$n2;
             }",
        );
        // $k, $a, $b: kernel; $u: user (from args.buf); $plain and the
        // reassigned $n2: the syscall tracepoint's default, user.
        assert_eq!(spaces, [false, false, false, true, true, true]);
    }

    #[test]
    fn outside_syscall_tracepoints_plain_integers_stay_kernel() {
        let spaces = pointer_spaces(
            "tracepoint:sched:sched_switch { $p = (uint8 *)1234; $q = (uint8 *)((uint64)$p + 1); }",
        );
        assert_eq!(spaces, [false, false]);
    }
}
