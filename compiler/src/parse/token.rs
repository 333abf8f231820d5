//! Naming the token found where parsing failed ("found `@y`").

use crate::ast::Span;

/// Multi-character operators, longest first, for naming the token at an error.
const OPERATORS: [&str; 23] = [
    "<<=", ">>=", "->", "++", "--", "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "+=", "-=",
    "*=", "/=", "%=", "&=", "|=", "^=", "..", "$#",
];

/// The span of the token starting at `pos` and how to name it ("`@y`", "end of input").
pub fn token_at(source: &str, pos: usize) -> (Span, String) {
    let pos = pos.min(source.len());
    let rest = &source[pos..];
    let Some(first) = rest.chars().next() else {
        return (Span::new(pos, pos), "end of input".into());
    };
    let word = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let len = match first {
        c if c.is_ascii_alphanumeric() || c == '_' => word(rest),
        '@' | '$' => 1 + word(&rest[1..]),
        '"' => string_len(rest),
        _ => OPERATORS
            .iter()
            .find(|op| rest.starts_with(*op))
            .map_or(first.len_utf8(), |op| op.len()),
    };
    let text = &rest[..len];
    let shown = if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text.to_string()
    };
    (Span::new(pos, pos + len), format!("`{shown}`"))
}

/// Length of a string token at the start of `rest` (up to the closing quote or the line end).
fn string_len(rest: &str) -> usize {
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            '\n' => return i,
            '"' if !escaped => return i + 1,
            '\\' => {
                escaped = !escaped;
                continue;
            }
            _ => {}
        }
        escaped = false;
    }
    rest.len()
}
