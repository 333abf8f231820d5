//! Checking storage: scratch variables and maps — their keys, value types and
//! how reads of aggregations are typed.

use super::*;

impl Checker {
    pub(super) fn find_var(&self, cx: &ProbeCx, name: &str) -> Option<VarId> {
        cx.vars
            .iter()
            .rposition(|(n, _)| n == name)
            .map(|i| i as VarId)
    }

    /// Define or re-assign `$name` with a value of type `ty`.
    pub(super) fn define_var(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        ty: &Type,
        span: Span,
    ) -> VarId {
        let key = (cx.block, cx.target_index, name.to_string());
        let id = match self.find_var(cx, name) {
            Some(id) => id,
            None => {
                let start = self
                    .remembered_vars
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| ty.clone());
                cx.vars.push((name.to_string(), start));
                (cx.vars.len() - 1) as VarId
            }
        };
        let current = cx.vars[id as usize].1.clone();
        match unify(&current, ty) {
            Some(t) => cx.vars[id as usize].1 = t,
            None => {
                let (current, ty) = (self.type_text(&current), self.type_text(ty));
                self.error(
                    Diagnostic::error(
                        span,
                        format!("type mismatch: ${name} holds {current} but is assigned {ty}"),
                    )
                    .with_label(format!("this is {ty}")),
                )
            }
        }
        self.remembered_vars
            .insert(key, cx.vars[id as usize].1.clone());
        id
    }

    pub(super) fn map_id(&mut self, name: &str, span: Span) -> MapId {
        let full = format!("@{name}");
        if let Some(&id) = self.map_ids.get(&full) {
            return id;
        }
        self.maps.push(MapDecl {
            name: full.clone(),
            key: Type::None,
            value: Type::None,
            span,
        });
        let id = (self.maps.len() - 1) as MapId;
        self.map_ids.insert(full, id);
        id
    }

    pub(super) fn set_map_value(&mut self, map: MapId, ty: Type, span: Span) {
        let decl = &self.maps[map as usize];
        let current = decl.value.clone();
        let merged = if current == Type::None {
            Some(ty.clone())
        } else if current.is_aggregation() || ty.is_aggregation() {
            (current == ty).then_some(ty.clone())
        } else {
            unify(&current, &ty)
        };
        match merged {
            Some(t) => self.maps[map as usize].value = t,
            None => {
                let name = decl.name.clone();
                let (current, ty) = (self.type_text(&current), self.type_text(&ty));
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "type mismatch for {name}: it holds {current} but is assigned {ty}"
                        ),
                    )
                    .with_label(format!("this is {ty}")),
                );
            }
        }
    }

    /// Type the key expressions of `@name[keys]` and unify them with the map's key type.
    pub(super) fn map_key(
        &mut self,
        cx: &mut ProbeCx,
        name: &str,
        keys: &[Expr],
        span: Span,
    ) -> Option<TExpr> {
        let map = self.map_id(name, span);
        let key = match keys.len() {
            0 => None,
            1 => Some(self.expr(cx, &keys[0])),
            _ => {
                let elems: Vec<TExpr> = keys.iter().map(|k| self.expr(cx, k)).collect();
                let ty = Type::Tuple(elems.iter().map(|e| e.ty.clone()).collect());
                let span = keys[0].span.to(keys[keys.len() - 1].span);
                Some(texpr(TExprKind::Tuple(elems), ty, span))
            }
        };
        let key_ty = key.as_ref().map(|k| k.ty.clone()).unwrap_or(Type::None);
        if let Some(k) = &key {
            self.store_check(k);
            self.record_copy_stays_local(k, "a map key");
        }
        let decl = &self.maps[map as usize];
        let current = decl.key.clone();
        let first_use = current == Type::None && decl.value == Type::None;
        let merged = if first_use {
            Some(key_ty.clone())
        } else {
            unify(&current, &key_ty)
        };
        match merged {
            Some(t) => self.maps[map as usize].key = t,
            None => {
                let name = decl.name.clone();
                let describe = |t: &Type| {
                    if *t == Type::None {
                        "no key".to_string()
                    } else {
                        format!("key {t}")
                    }
                };
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "{name} is used with {} here but with {} elsewhere",
                            describe(&key_ty),
                            describe(&current)
                        ),
                    )
                    .with_label("inconsistent key"),
                );
            }
        }
        key
    }

    pub(super) fn map_value_expr(
        &mut self,
        _cx: &ProbeCx,
        map: MapId,
        key: Option<TExpr>,
        span: Span,
    ) -> TExpr {
        let value = self.maps[map as usize].value.clone();
        let ty = match &value {
            Type::Count => Type::U64,
            Type::Sum | Type::Min | Type::Max | Type::Avg => Type::I64,
            Type::Stats | Type::Hist | Type::Lhist { .. } => {
                let name = self.maps[map as usize].name.clone();
                self.error(
                    Diagnostic::error(
                        span,
                        format!("{name} holds {value} and cannot be used as a value"),
                    )
                    .with_label("use print() to show it"),
                );
                Type::I64
            }
            Type::None => Type::I64,
            t => t.clone(),
        };
        // count/sum/avg/min/max are summed over the CPUs in kernel probes too
        // (see `lower::flow`).
        texpr(
            TExprKind::MapValue {
                map,
                key: key.map(Box::new),
            },
            ty,
            span,
        )
    }
}
