//! Object-like `#define NAME value` lines written in a script (`#define FMODE_CREATED
//! 0x100000`). bpftrace runs the script through clang's preprocessor; rtrace has none,
//! so it reads the defines whose value is an integer constant — optionally negated,
//! parenthesised, with C suffixes, or naming an earlier such define — and the checker
//! resolves a bare identifier to them before the kernel macros it knows. Function-like
//! macros and other values are left alone: using one stays an unknown identifier.

use crate::ast::CDefinition;
use std::collections::HashMap;

/// The integer defines of the script's preamble, by name; a later define wins.
pub fn collect(defs: &[CDefinition]) -> HashMap<String, i64> {
    let mut found = HashMap::new();
    for def in defs {
        if let Some((name, value)) = parse_define(&def.text, &found) {
            found.insert(name, value);
        }
    }
    found
}

/// `#define NAME value` → (NAME, value) when value is an integer constant.
fn parse_define(text: &str, known: &HashMap<String, i64>) -> Option<(String, i64)> {
    let rest = text.trim_start().strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("define")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (name, value) = rest.split_at(name_len);
    // `NAME(` with no space is a function-like macro.
    if name.is_empty() || value.starts_with('(') {
        return None;
    }
    let value = strip_comment(value).trim();
    Some((name.to_string(), constant(value, known)?))
}

fn strip_comment(s: &str) -> &str {
    let cut = [s.find("//"), s.find("/*")].into_iter().flatten().min();
    cut.map_or(s, |at| &s[..at])
}

/// An integer constant: `0x10`, `010`, `16UL`, `-(4)`, `OTHER_DEFINE`.
fn constant(s: &str, known: &HashMap<String, i64>) -> Option<i64> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        return constant(inner, known);
    }
    if let Some(neg) = s.strip_prefix('-') {
        return constant(neg, known).map(i64::wrapping_neg);
    }
    if let Some(&v) = known.get(s) {
        return Some(v);
    }
    let digits = s.trim_end_matches(['u', 'U', 'l', 'L']);
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    u64::from_str_radix(body, radix).ok().map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Span;

    fn defs(lines: &[&str]) -> Vec<CDefinition> {
        lines
            .iter()
            .map(|l| CDefinition {
                text: l.to_string(),
                span: Span { start: 0, end: 0 },
            })
            .collect()
    }

    #[test]
    fn integer_defines_are_read() {
        let d = collect(&defs(&[
            "#define FMODE_CREATED 0x100000",
            "#  define OCT 010 // octal",
            "#define NEG (-4)",
            "#define BIG 16UL",
            "#define ALIAS OCT",
            "#define FLAG 0b101 /* bits */",
        ]));
        assert_eq!(d["FMODE_CREATED"], 0x100000);
        assert_eq!(d["OCT"], 8);
        assert_eq!(d["NEG"], -4);
        assert_eq!(d["BIG"], 16);
        assert_eq!(d["ALIAS"], 8);
        assert_eq!(d["FLAG"], 5);
    }

    #[test]
    fn other_lines_are_left_alone() {
        let d = collect(&defs(&[
            "#include <linux/fs.h>",
            "#define MAX(a, b) ((a) > (b) ? (a) : (b))",
            "#define NAME \"text\"",
            "#define EMPTY",
            "#defineX 1",
            "struct x { int a; };",
        ]));
        assert!(d.is_empty(), "{d:?}");
    }
}
