//! Checking calls: aggregations (`@m = hist(x)`), statement calls (printf, print,
//! clear, zero, delete, exit, time) and value calls (str, ksym, …).

use super::*;

impl Checker {
    /// `count()`, `hist(x)`, … when used as `@m = f(...)`.
    pub(super) fn aggregation(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<(AggFunc, Option<TExpr>)> {
        let entry = catalogue::lookup(name).filter(|e| e.kind == Kind::Aggregation)?;
        self.arity(entry, args, span);
        let value = args.first().map(|a| {
            let v = self.expr(cx, a);
            self.want_int(&v, &format!("the argument of {name}()"));
            v
        });
        let func = match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "stats" => AggFunc::Stats,
            "hist" => AggFunc::Hist,
            _ => {
                let c: Vec<i64> = args.iter().skip(1).map(|a| self.constant(cx, a)).collect();
                let (min, max, step) =
                    (c.first().copied()?, c.get(1).copied()?, c.get(2).copied()?);
                if step <= 0 || max <= min || min < 0 {
                    self.error(
                        Diagnostic::error(span, "lhist needs 0 <= min < max and step > 0")
                            .with_label("invalid lhist bounds"),
                    );
                    return Some((AggFunc::Count, value));
                }
                if (max - min) / step > 1000 {
                    self.error(Diagnostic::error(
                        span,
                        "lhist would have more than 1000 buckets",
                    ));
                }
                AggFunc::Lhist { min, max, step }
            }
        };
        Some((func, value))
    }

    pub(super) fn constant(&mut self, cx: &mut ProbeCx, e: &Expr) -> i64 {
        match self.expr(cx, e).kind {
            TExprKind::Int(v) => v,
            _ => {
                self.error(
                    Diagnostic::error(e.span, "expected a constant integer")
                        .with_label("not a constant"),
                );
                0
            }
        }
    }

    pub(super) fn arity(&mut self, entry: &catalogue::Entry, args: &[Expr], span: Span) {
        let n = args.len();
        if n < entry.min_args || n > entry.max_args {
            let expected = if entry.min_args == entry.max_args {
                format!("{}", entry.min_args)
            } else {
                format!("{} to {}", entry.min_args, entry.max_args)
            };
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "{}() takes {expected} argument(s) but {n} were given",
                        entry.name
                    ),
                )
                .with_label("wrong number of arguments"),
            );
        }
    }

    /// Calls that are statements: printf, print, clear, zero, delete, exit, time.
    pub(super) fn statement_call(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<TStmt> {
        let entry = catalogue::lookup(name)?;
        if let Some(stmt) = self.funcs_statement(cx, entry, args, span) {
            return Some(stmt);
        }
        if !matches!(
            name,
            "printf" | "print" | "clear" | "zero" | "delete" | "exit" | "time" | "join"
        ) {
            return None;
        }
        self.arity(entry, args, span);
        match name {
            // A bad format was reported; the placeholder is never lowered.
            "printf" => Some(
                self.printf(cx, args, span)
                    .unwrap_or_else(|| TStmt::Expr(poison(span))),
            ),
            "print" => self.print(cx, args, span),
            "join" => self.join_call(cx, args, span),
            "clear" | "zero" => {
                let map = self.map_arg(args.first()?)?;
                let event = if name == "clear" {
                    EventSpec::Clear { map }
                } else {
                    EventSpec::Zero { map }
                };
                Some(TStmt::Emit {
                    event: self.event(event),
                    args: vec![],
                })
            }
            "delete" => {
                let arg = args.first()?;
                let ExprKind::Map { name, keys } = &arg.kind else {
                    self.error(Diagnostic::error(
                        arg.span,
                        "delete() expects a map entry: delete(@m[key]) or delete(@m, key)",
                    ));
                    return None;
                };
                // Newer bpftrace spells it `delete(@m, key)`; the key may be a tuple.
                let keys = match args.get(1) {
                    Some(key) if keys.is_empty() => std::slice::from_ref(key),
                    Some(key) => {
                        self.error(
                            Diagnostic::error(key.span, "delete() got a key twice")
                                .with_label("write delete(@m[key]) or delete(@m, key)"),
                        );
                        return None;
                    }
                    None => keys.as_slice(),
                };
                let key = self.map_key(cx, name, keys, arg.span);
                let map = self.map_id(name, arg.span);
                Some(TStmt::Delete { map, key })
            }
            "exit" => {
                let code = match args.first() {
                    Some(a) => {
                        let c = self.expr(cx, a);
                        self.want_int(&c, "the exit code");
                        c
                    }
                    None => texpr(TExprKind::Int(0), Type::I64, span),
                };
                Some(TStmt::Exit {
                    event: self.event(EventSpec::Exit),
                    code,
                })
            }
            _ => {
                let format = match args.first() {
                    Some(a) => self.string_literal(a)?,
                    None => "%H:%M:%S\n".to_string(),
                };
                Some(TStmt::Emit {
                    event: self.event(EventSpec::Time { format }),
                    args: vec![],
                })
            }
        }
    }

    pub(super) fn string_literal(&mut self, e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => {
                self.error(
                    Diagnostic::error(e.span, "expected a string literal")
                        .with_label("not a string literal"),
                );
                None
            }
        }
    }

    pub(super) fn printf(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> Option<TStmt> {
        let format = self.string_literal(args.first()?)?;
        let values: Vec<TExpr> = args[1..].iter().map(|a| self.expr(cx, a)).collect();
        let parsed = rtrace_stdlib::printf::parse_format(&format);
        // Pointers and enums are checked and printed as the integers they are,
        // except that `%s` prints an enum by name.
        let named: Vec<bool> = match &parsed {
            Ok(f) => f
                .arg_roles()
                .into_iter()
                .map(|c| c.is_some_and(|c| c.kind == rtrace_stdlib::printf::ConvKind::Str))
                .collect(),
            Err(_) => Vec::new(),
        };
        let types: Vec<Type> = values
            .iter()
            .enumerate()
            .map(|(i, v)| match v.ty {
                Type::Enum(_) if named.get(i) == Some(&true) => v.ty.clone(),
                _ => int_view(v.clone()).ty,
            })
            .collect();
        let check_types: Vec<Type> = values.iter().map(|v| int_view(v.clone()).ty).collect();
        let checked = parsed.and_then(|f| f.check_args(&check_types));
        if let Err(msg) = checked {
            self.error(
                Diagnostic::error(span, format!("printf: {msg}")).with_label("in this printf"),
            );
        }
        for v in &values {
            self.store_check(v);
        }
        Some(TStmt::Emit {
            event: self.event(EventSpec::Printf {
                format,
                args: types,
            }),
            args: values,
        })
    }

    pub(super) fn print(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> Option<TStmt> {
        let first = args.first()?;
        if let ExprKind::Map { name, keys } = &first.kind {
            if keys.is_empty() {
                let map = self.map_id(name, first.span);
                let mut nums = args[1..].iter().map(|a| self.constant(cx, a));
                let top = nums.next().unwrap_or(0).max(0) as u64;
                let div = nums.next().unwrap_or(1).max(1) as u64;
                return Some(TStmt::Emit {
                    event: self.event(EventSpec::PrintMap { map, top, div }),
                    args: vec![],
                });
            }
        }
        if args.len() > 1 {
            self.error(Diagnostic::error(
                span,
                "print(value) takes one argument; top and div apply to maps",
            ));
        }
        let v = self.expr(cx, first);
        self.store_check(&v);
        self.record_copy_stays_local(&v, "printed");
        Some(TStmt::Emit {
            event: self.event(EventSpec::PrintValue { ty: v.ty.clone() }),
            args: vec![v],
        })
    }

    pub(super) fn map_arg(&mut self, e: &Expr) -> Option<MapId> {
        match &e.kind {
            ExprKind::Map { name, keys } if keys.is_empty() => Some(self.map_id(name, e.span)),
            _ => {
                self.error(
                    Diagnostic::error(e.span, "expected a map like `@name`")
                        .with_label("not a map"),
                );
                None
            }
        }
    }

    pub(super) fn event(&mut self, e: EventSpec) -> EventId {
        self.events.push(e);
        (self.events.len() - 1) as EventId
    }

    pub(super) fn call(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> TExpr {
        if matches!(name, "kptr" | "uptr") {
            return self.address_space_call(cx, name, args, span);
        }
        if matches!(name, "kstack" | "ustack") {
            return self.stack_builtin(cx, name, args, span);
        }
        if let Some(e) = self.symbol_call(cx, name, args, span) {
            return e;
        }
        let Some(entry) = catalogue::lookup(name) else {
            let hint = catalogue::suggest(name, Kind::Function)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "see `rtrace --help` for the list of functions".to_string());
            self.error(
                Diagnostic::error(span, format!("unknown function `{name}`"))
                    .with_label("unknown function")
                    .with_note(hint),
            );
            return poison(span);
        };
        if entry.kind == Kind::Variable {
            // `pid()` is the same as `pid`, as in current bpftrace.
            if args.is_empty() {
                return self.builtin_var(cx, name, span);
            }
        }
        match entry.kind {
            Kind::Aggregation => {
                self.error(
                    Diagnostic::error(
                        span,
                        format!("{name}() can only be assigned to a map, as in @x = {name}(...)"),
                    )
                    .with_label("aggregation used as a value"),
                );
                return poison(span);
            }
            Kind::Variable => {
                self.error(Diagnostic::error(
                    span,
                    format!("`{name}` takes no arguments"),
                ));
                return poison(span);
            }
            Kind::Function => {}
        }
        self.arity(entry, args, span);
        if let Some(value) = self.funcs_value_call(cx, name, args, span) {
            return value;
        }
        match name {
            "str" => self.str_call(cx, args, span),
            "has_key" => self.has_key_call(cx, args, span),
            "len" => self.len_call(cx, args, span),
            "strncmp" => self.strncmp_call(cx, args, span),
            "buf" => self.buf_call(cx, args, span),
            "strcontains" => self.strcontains_call(cx, args, span),
            "ksym" => {
                let Some(a) = args.first() else {
                    return poison(span);
                };
                let v = self.expr(cx, a);
                self.want_int(&v, "the argument of ksym()");
                texpr(TExprKind::Retype(Box::new(v)), Type::Ksym, span)
            }
            _ => {
                self.error(
                    Diagnostic::error(span, format!("{name}() is a statement and has no value"))
                        .with_label("used as a value"),
                );
                poison(span)
            }
        }
    }

    pub(super) fn str_call(&mut self, cx: &mut ProbeCx, args: &[Expr], span: Span) -> TExpr {
        let Some(a) = args.first() else {
            return poison(span);
        };
        let v = self.expr(cx, a);
        // Capacity including the NUL: `str(p, n)` keeps n characters, `str(p)` strlen - 1.
        let len = match args.get(1) {
            Some(n) => {
                let n = self.constant(cx, n);
                if n < 1 {
                    self.error(Diagnostic::error(
                        args[1].span,
                        "the length of str() must be at least 1",
                    ));
                } else if n > i64::from(self.opts.strlen) {
                    self.error(super::strings::too_long(args[1].span, n, self.opts.strlen));
                }
                (n.clamp(1, i64::from(self.opts.strlen)) as u32 + 1).min(self.opts.strlen)
            }
            None => self.opts.strlen,
        };
        if let Type::Str { len: have } = v.ty {
            // Already a string (str(comm), str($1), str(args->name)): cut it if asked.
            if args.len() < 2 || have <= len {
                return v;
            }
            return texpr(TExprKind::Retype(Box::new(v)), Type::Str { len }, span);
        }
        self.want_int(&v, "the argument of str()");
        // A pointer knows its address space; a plain integer takes the probe's.
        let user = match v.ty {
            Type::Ptr { user, .. } => user,
            _ => default_user(cx.target),
        };
        texpr(
            TExprKind::ReadStr {
                addr: Box::new(v),
                user,
            },
            Type::Str { len },
            span,
        )
    }
}
