//! Type names in casts, `sizeof` and `offsetof`: `uint8`, `struct sock *`, `unsigned int`,
//! `uint8[4]`.

use pest::iterators::Pair;
use rtrace_grammar::Rule;

use super::literal::parse_int;
use super::pairs::{children, next, span_of, unexpected, Result};
use crate::ast::TypeName;
use crate::diag::Diagnostic;

/// Builds a [`TypeName`] from a `type_name` pair.
pub fn type_name(pair: Pair<'_, Rule>) -> Result<TypeName> {
    let span = span_of(&pair);
    let mut parts = children(pair);
    let base_pair = next(&mut parts, span, "a type name")?;
    let base = base_pair
        .as_str()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut pointer_depth = 0;
    let mut array_len = None;
    for part in parts {
        match part.as_rule() {
            Rule::pointer_star => pointer_depth += 1,
            Rule::array_suffix => array_len = Some(array_length(part)?),
            _ => return Err(unexpected(&part, "`*` or `[N]`")),
        }
    }
    Ok(TypeName {
        base,
        pointer_depth,
        array_len,
        span,
    })
}

/// The `N` of `[N]`, which must fit in 32 bits.
fn array_length(pair: Pair<'_, Rule>) -> Result<u32> {
    let span = span_of(&pair);
    let literal = next(&mut children(pair), span, "an array length")?;
    let literal_span = span_of(&literal);
    let value = parse_int(literal.as_str(), literal_span)?;
    u32::try_from(value).map_err(|_| {
        Diagnostic::error(literal_span, format!("array length {value} is too large"))
            .with_label(format!("at most {}", u32::MAX))
    })
}
