//! C-like names for types (`struct sock *`, `unsigned int`, `char[16]`, `void (*)(int)`), for
//! listings and error messages. Built inside-out: each pointer, array or prototype wraps the
//! declarator text collected so far.

use super::types::Type;
use super::{Btf, TypeId, MAX_CHAIN};

impl Btf {
    /// The C spelling of type `id`, e.g. `struct task_struct *` or `const char *`.
    pub fn type_name(&self, id: TypeId) -> String {
        self.declare(id, String::new(), 0)
    }

    /// Renders `id` around `declarator` (what has been wrapped so far, e.g. `*` or `[4]`).
    fn declare(&self, id: TypeId, declarator: String, depth: usize) -> String {
        if depth > MAX_CHAIN {
            return join("?", &declarator);
        }
        let Some(ty) = self.get(id) else {
            return join("?", &declarator);
        };
        let depth = depth + 1;
        match ty {
            Type::Void => join("void", &declarator),
            Type::Ptr { to } => self.declare(to, format!("*{declarator}"), depth),
            Type::Const { to } => self.qualify("const", to, declarator, depth),
            Type::Volatile { to } => self.qualify("volatile", to, declarator, depth),
            Type::Restrict { to } => self.qualify("restrict", to, declarator, depth),
            Type::TypeTag { to, .. } | Type::Var { ty: to, .. } => {
                self.declare(to, declarator, depth)
            }
            Type::DeclTag { to, .. } => self.declare(to, declarator, depth),
            Type::Array { elem, len, .. } => {
                let inner = parenthesize(declarator);
                self.declare(elem, format!("{inner}[{len}]"), depth)
            }
            Type::FuncProto { ret, params } => {
                let mut list: Vec<String> = Vec::with_capacity(params.len());
                for param in params {
                    list.push(match param.ty {
                        0 => "...".to_string(),
                        ty => self.declare(ty, String::new(), depth),
                    });
                }
                let list = if list.is_empty() {
                    "void".to_string()
                } else {
                    list.join(", ")
                };
                let inner = parenthesize(declarator);
                self.declare(ret, format!("{inner}({list})"), depth)
            }
            Type::Func { name, proto, .. } => {
                self.declare(proto, format!("{name}{declarator}"), depth)
            }
            other => join(&base_name(&other), &declarator),
        }
    }

    /// A qualifier binds to what follows it: `const char` but `char *const`.
    fn qualify(&self, word: &str, to: TypeId, declarator: String, depth: usize) -> String {
        let points = matches!(
            self.skip_qualifiers(to).and_then(|id| self.get(id)),
            Some(Type::Ptr { .. })
        );
        if points {
            let sep = if declarator.is_empty() { "" } else { " " };
            self.declare(to, format!("{word}{sep}{declarator}"), depth)
        } else {
            format!("{word} {}", self.declare(to, declarator, depth))
        }
    }
}

/// The name of a type that has no inner type to wrap.
fn base_name(ty: &Type<'_>) -> String {
    let tagged = |tag: &str, name: &str| {
        if name.is_empty() {
            format!("{tag} (anonymous)")
        } else {
            format!("{tag} {name}")
        }
    };
    match ty {
        Type::Struct(c) => tagged("struct", c.name),
        Type::Union(c) => tagged("union", c.name),
        Type::Enum(e) | Type::Enum64(e) => tagged("enum", e.name),
        Type::Fwd { name, is_union } => tagged(if *is_union { "union" } else { "struct" }, name),
        Type::Datasec { name, .. } => tagged("section", name),
        other => other.name().to_string(),
    }
}

/// `char` + `[16]` → `char[16]`; `struct sock` + `*` → `struct sock *`.
fn join(base: &str, declarator: &str) -> String {
    if declarator.is_empty() || declarator.starts_with('[') {
        format!("{base}{declarator}")
    } else {
        format!("{base} {declarator}")
    }
}

/// Pointers bind looser than arrays and calls: `int (*)[4]`, `void (*)(int)`.
fn parenthesize(declarator: String) -> String {
    if declarator.starts_with('*') {
        format!("({declarator})")
    } else {
        declarator
    }
}
