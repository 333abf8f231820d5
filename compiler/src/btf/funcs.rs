//! Function signatures: kernel functions (fentry arguments) and raw tracepoints (the
//! `btf_trace_<name>` typedefs).

use super::types::{Kind, Param, Type};
use super::{Btf, TypeId};

/// A function prototype: return type and parameters (the `...` marker removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature<'a> {
    pub ret: TypeId,
    pub params: Vec<Param<'a>>,
    pub variadic: bool,
}

impl Btf {
    /// Return type and parameters of function prototype `proto` (typedefs and one pointer
    /// level resolved, so a function-pointer typedef works too).
    pub fn proto_signature(&self, proto: TypeId) -> Option<Signature<'_>> {
        let mut id = self.resolve(proto)?;
        if let Type::Ptr { to } = self.get(id)? {
            id = self.resolve(to)?;
        }
        let Type::FuncProto { ret, params } = self.get(id)? else {
            return None;
        };
        let mut params: Vec<Param<'_>> = params.collect();
        let variadic = params
            .last()
            .is_some_and(|p| p.ty == 0 && p.name.is_empty());
        if variadic {
            params.pop();
        }
        Some(Signature {
            ret,
            params,
            variadic,
        })
    }

    /// Signature of kernel function `name` (the first `BTF_KIND_FUNC` of that name; static
    /// functions of the same name in different files may have other prototypes).
    pub fn func_signature(&self, name: &str) -> Option<Signature<'_>> {
        let func = self.find_type_by_name(Kind::Func, name)?;
        let Type::Func { proto, .. } = self.get(func)? else {
            return None;
        };
        self.proto_signature(proto)
    }

    /// Parameters of kernel function `name`, e.g. for fentry `args`.
    pub fn func_params(&self, name: &str) -> Option<Vec<Param<'_>>> {
        Some(self.func_signature(name)?.params)
    }

    /// Arguments of raw tracepoint `name`, from the `btf_trace_<name>` typedef (a pointer to
    /// a prototype whose first parameter is the `void *` context, dropped here). That
    /// prototype has no parameter names; they are taken from `__traceiter_<name>` or
    /// `__bpf_trace_<name>` when those agree on the types, else left "".
    pub fn raw_tracepoint_args(&self, name: &str) -> Option<Vec<Param<'_>>> {
        let typedef = self.find_type_by_name(Kind::Typedef, &format!("btf_trace_{name}"))?;
        let mut params = self.proto_signature(typedef)?.params;
        if params.is_empty() {
            return None;
        }
        params.remove(0);
        if params.iter().any(|p| p.name.is_empty()) {
            self.name_tracepoint_params(name, &mut params);
        }
        Some(params)
    }

    fn name_tracepoint_params<'a>(&'a self, name: &str, params: &mut [Param<'a>]) {
        for prefix in ["__traceiter_", "__bpf_trace_"] {
            let Some(named) = self.func_signature(&format!("{prefix}{name}")) else {
                continue;
            };
            let same_types = named.params.len() == params.len() + 1
                && named.params[1..]
                    .iter()
                    .zip(params.iter())
                    .all(|(n, p)| n.ty == p.ty);
            if same_types {
                for (param, named) in params.iter_mut().zip(&named.params[1..]) {
                    param.name = named.name;
                }
                return;
            }
        }
    }
}
