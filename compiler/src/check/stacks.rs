//! Checking `kstack` / `ustack`, with their optional mode and depth:
//! `kstack`, `kstack(5)`, `kstack(perf)`, `ustack(raw, 3)`.

use super::*;
use rtrace_stdlib::stacks::{StackMode, StackType, MAX_STACK_DEPTH};

impl Checker {
    /// `kstack` / `ustack` (`name`), as a variable (`args` empty) or a call.
    pub(super) fn stack_builtin(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> TExpr {
        let user = name == "ustack";
        if cx.user() {
            self.error(
                Diagnostic::error(span, format!("`{name}` is only available in kernel probes"))
                    .with_label("no stack to take here")
                    .with_note("BEGIN, END and interval blocks run in rtrace itself"),
            );
            return poison(span);
        }
        if args.len() > 2 {
            self.error(
                Diagnostic::error(
                    span,
                    format!("{name}() takes at most 2 arguments: {name}(mode, limit)"),
                )
                .with_label("too many arguments"),
            );
            return poison(span);
        }
        let mut mode = StackMode::Bpftrace;
        let mut limit = MAX_STACK_DEPTH;
        for (i, arg) in args.iter().enumerate() {
            match &arg.kind {
                ExprKind::Ident(m) if i == 0 => match StackMode::from_name(m) {
                    Some(found) => mode = found,
                    None => {
                        self.error(
                            Diagnostic::error(arg.span, format!("unknown stack mode `{m}`"))
                                .with_label("not a stack mode")
                                .with_note("the modes are bpftrace, perf and raw"),
                        );
                        return poison(span);
                    }
                },
                _ if i + 1 == args.len() => match self.stack_limit(cx, arg) {
                    Some(n) => limit = n,
                    None => return poison(span),
                },
                _ => {
                    self.error(
                        Diagnostic::error(arg.span, format!("the first argument of {name}() is a mode"))
                            .with_label("expected bpftrace, perf or raw"),
                    );
                    return poison(span);
                }
            }
        }
        if !self.stack_maps.contains(&(user, limit)) {
            self.stack_maps.push((user, limit));
        }
        let pid_event = user.then(|| self.user_stack_pid_event());
        let ty = Type::Stack(StackType { user, mode, limit });
        let kind = TExprKind::Stack {
            user,
            limit,
            pid_event,
        };
        texpr(kind, ty, span)
    }

    /// The depth argument: a constant from 1 to `MAX_STACK_DEPTH`.
    fn stack_limit(&mut self, cx: &mut ProbeCx, arg: &Expr) -> Option<u32> {
        let before = self.diags.len();
        let value = self.constant(cx, arg);
        if self.diags.len() > before {
            return None;
        }
        if !(1..=i64::from(MAX_STACK_DEPTH)).contains(&value) {
            self.error(
                Diagnostic::error(
                    arg.span,
                    format!("a stack limit must be between 1 and {MAX_STACK_DEPTH}, not {value}"),
                )
                .with_label("limit out of range")
                .with_note("the kernel records at most 127 frames (kernel.perf_event_max_stack)"),
            );
            return None;
        }
        Some(value as u32)
    }

    /// The one event that tells user space a process took a user stack.
    fn user_stack_pid_event(&mut self) -> EventId {
        match self.events.iter().position(|e| *e == EventSpec::UserStackPid) {
            Some(i) => i as EventId,
            None => self.event(EventSpec::UserStackPid),
        }
    }
}
