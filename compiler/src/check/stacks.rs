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
                        Diagnostic::error(
                            arg.span,
                            format!("the first argument of {name}() is a mode"),
                        )
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
    pub(super) fn user_stack_pid_event(&mut self) -> EventId {
        match self
            .events
            .iter()
            .position(|e| *e == EventSpec::UserStackPid)
        {
            Some(i) => i as EventId,
            None => self.event(EventSpec::UserStackPid),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{check, Options};
    use crate::typed::{TExprKind, TStmt};
    use rtrace_stdlib::stacks::{StackMode, StackType};
    use rtrace_stdlib::types::Type;

    fn errors(src: &str) -> Vec<String> {
        let ast = crate::parse::parse(src).expect("parses");
        match check(&ast, &Options::default()) {
            Ok(_) => Vec::new(),
            Err(d) => d.into_iter().map(|d| d.message).collect(),
        }
    }

    #[test]
    fn modes_and_limits_make_the_type_and_one_map_per_depth() {
        let src = "profile:hz:99 { @a[kstack(perf, 3)] = count(); @b[ustack(raw)] = count(); \
                   @c[kstack(3)] = count(); @d[ustack] = count(); }";
        let ast = crate::parse::parse(src).unwrap();
        let p = check(&ast, &Options::default()).unwrap();
        let key = |i: usize| match &p.probes[0].body[i] {
            TStmt::Agg { key: Some(k), .. } => k.ty.clone(),
            other => panic!("{other:?}"),
        };
        let st = |user, mode, limit| Type::Stack(StackType { user, mode, limit });
        assert_eq!(key(0), st(false, StackMode::Perf, 3));
        assert_eq!(key(1), st(true, StackMode::Raw, 127));
        assert_eq!(key(2), st(false, StackMode::Bpftrace, 3));
        assert_eq!(p.stack_maps, vec![(false, 3), (true, 127)]);
        let TStmt::Agg { key: Some(k), .. } = &p.probes[0].body[3] else {
            panic!()
        };
        assert!(matches!(
            k.kind,
            TExprKind::Stack {
                user: true,
                pid_event: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn bad_modes_limits_and_places_are_errors() {
        let one = |src: &str| errors(src).join("\n");
        assert!(one("profile:hz:99 { @[kstack(fancy)] = count(); }")
            .contains("unknown stack mode `fancy`"));
        assert!(
            one("profile:hz:99 { @[kstack(0)] = count(); }").contains("between 1 and 127, not 0")
        );
        assert!(one("profile:hz:99 { @[ustack(perf, 128)] = count(); }").contains("not 128"));
        assert!(
            one("profile:hz:99 { @[kstack(3, perf)] = count(); }").contains("the first argument")
        );
        assert!(one("profile:hz:99 { @[kstack(perf, 1, 2)] = count(); }")
            .contains("at most 2 arguments"));
        assert!(one("BEGIN { print(ustack); }").contains("only available in kernel probes"));
        assert!(errors("profile:hz:99 { printf(\"%s\\n\", kstack(raw, 5)); }").is_empty());
    }
}
