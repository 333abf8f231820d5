//! The atomic rules of `rtrace.pest` (no trivia inside), each a function from a start offset
//! to the end of the match. Each follows its rule's ordered choices exactly: PEG commits to
//! the first alternative that matches, even when what follows it then fails.

use crate::ast::BinOp;

/// The expression context, which decides whether `/` or a lone `>` is an operator.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// `expr`: every operator.
    Plain,
    /// `pred_expr`: a top-level `/` ends the predicate.
    Predicate,
    /// `angle_expr`: a top-level lone `>` ends the `< ... >` action.
    Angle,
}

/// `ident_start`
pub fn ident_start(b: Option<&u8>) -> bool {
    b.is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
}

/// `ident_char`
pub fn ident_char(b: Option<&u8>) -> bool {
    b.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `ident_start ~ ident_char*` (`name`, `plain_type`; `ident` adds the keyword check).
pub fn word(b: &[u8], at: usize) -> Option<usize> {
    if !ident_start(b.get(at)) {
        return None;
    }
    Some(run(b, at + 1, |c| c.is_ascii_alphanumeric() || c == b'_'))
}

/// The end of the run of bytes satisfying `pred` from `at`.
fn run(b: &[u8], at: usize, pred: impl Fn(u8) -> bool) -> usize {
    at + b[at.min(b.len())..]
        .iter()
        .take_while(|&&c| pred(c))
        .count()
}

/// `keyword`: the words `ident` refuses.
pub fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "if" | "else"
            | "while"
            | "for"
            | "unroll"
            | "return"
            | "break"
            | "continue"
            | "let"
            | "config"
            | "sizeof"
            | "offsetof"
    )
}

/// `literal ~ !ident_char` (the `kw_*` rules, `c_int_word`, ...).
pub fn keyword_at(b: &[u8], at: usize, literal: &str) -> Option<usize> {
    let end = at + literal.len();
    (b[at..].starts_with(literal.as_bytes()) && !ident_char(b.get(end))).then_some(end)
}

/// The first literal of `choices` found at `at` (an ordered choice of strings).
fn first_of(b: &[u8], at: usize, choices: &[&str]) -> Option<usize> {
    choices
        .iter()
        .find(|c| b[at..].starts_with(c.as_bytes()))
        .map(|c| at + c.len())
}

/// `int_lit`: a digit, then the whole alphanumeric run (so `12ab` is one bad literal).
pub fn int_lit(b: &[u8], at: usize) -> Option<usize> {
    b.get(at)?
        .is_ascii_digit()
        .then(|| run(b, at + 1, |c| c.is_ascii_alphanumeric() || c == b'_'))
}

/// `str_lit`: on one line, `\` escaping any character but a newline.
pub fn str_lit(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\n' => return None,
            b'\\' => match b.get(i + 1) {
                Some(b'\n') | None => return None,
                // A multi-byte character after `\` ends in bytes the loop passes over.
                Some(_) => i += 2,
            },
            _ => i += 1,
        }
    }
}

/// `positional_count | positional | var` at a `$`: the end and which one.
pub fn dollar(b: &[u8], at: usize) -> Option<(usize, Dollar)> {
    if b.get(at) != Some(&b'$') {
        return None;
    }
    match b.get(at + 1) {
        Some(b'#') => Some((at + 2, Dollar::Count)),
        Some(c) if c.is_ascii_digit() => {
            let end = run(b, at + 1, |c| c.is_ascii_digit());
            (!ident_char(b.get(end))).then_some((end, Dollar::Positional))
        }
        _ => Some((word(b, at + 1)?, Dollar::Var)),
    }
}

/// What a `$` token is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dollar {
    Count,
    Positional,
    Var,
}

/// `var`: `$name`.
pub fn var(b: &[u8], at: usize) -> Option<usize> {
    match dollar(b, at)? {
        (end, Dollar::Var) => Some(end),
        _ => None,
    }
}

/// `map_name`: `@` with an optional name.
pub fn map_name(b: &[u8], at: usize) -> Option<usize> {
    (b.get(at) == Some(&b'@')).then(|| word(b, at + 1).unwrap_or(at + 1))
}

/// `infix_op`, `pred_infix_op` or `angle_infix_op`: the operator and its length.
pub fn infix_op(b: &[u8], at: usize, context: Context) -> Option<(BinOp, usize)> {
    use BinOp::*;
    let next = b.get(at + 1).copied();
    let third = b.get(at + 2).copied();
    Some(match (*b.get(at)?, next) {
        (b'|', Some(b'|')) => (LogOr, 2),
        (b'&', Some(b'&')) => (LogAnd, 2),
        (b'=', Some(b'=')) => (Eq, 2),
        (b'!', Some(b'=')) => (Ne, 2),
        (b'<', Some(b'=')) => (Le, 2),
        (b'>', Some(b'=')) => (Ge, 2),
        (b'<', Some(b'<')) if third != Some(b'=') => (Shl, 2),
        (b'>', Some(b'>')) if third != Some(b'=') => (Shr, 2),
        (b'<', Some(b'<')) | (b'>', Some(b'>')) => return None,
        (b'<', _) => (Lt, 1),
        (b'>', _) if context != Context::Angle => (Gt, 1),
        (b'|' | b'^' | b'&' | b'+', Some(b'=')) => return None,
        (b'+', Some(b'+')) => return None,
        (b'|', _) => (BitOr, 1),
        (b'^', _) => (BitXor, 1),
        (b'&', _) => (BitAnd, 1),
        (b'+', _) => (Add, 1),
        (b'-', Some(b'-' | b'=' | b'>')) => return None,
        (b'-', _) => (Sub, 1),
        (b'*' | b'/' | b'%', Some(b'=')) => return None,
        (b'*', _) => (Mul, 1),
        (b'/', _) if context != Context::Predicate => (Div, 1),
        (b'%', _) => (Mod, 1),
        _ => return None,
    })
}

/// `assign_op`: its length.
pub fn assign_op(b: &[u8], at: usize) -> Option<usize> {
    if let Some(end) = first_of(b, at, &["<<=", ">>="]) {
        return Some(end);
    }
    match (*b.get(at)?, b.get(at + 1)) {
        (b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^', Some(b'=')) => Some(at + 2),
        (b'=', next) if next != Some(&b'=') => Some(at + 1),
        _ => None,
    }
}

/// `prefix_op`: its length.
pub fn prefix_op(b: &[u8], at: usize) -> Option<usize> {
    let next = b.get(at + 1);
    match *b.get(at)? {
        b'+' if next == Some(&b'+') => Some(at + 2),
        b'-' if next == Some(&b'-') => Some(at + 2),
        b'-' | b'~' | b'*' => Some(at + 1),
        b'!' if next != Some(&b'=') => Some(at + 1),
        b'&' if next != Some(&b'&') => Some(at + 1),
        _ => None,
    }
}

/// `type_base`: `tagged_type | c_int_type | known_type | pointee_type`.
pub fn type_base(b: &[u8], at: usize) -> Option<usize> {
    tagged_type(b, at)
        .or_else(|| c_int_type(b, at))
        .or_else(|| known_type(b, at))
        .or_else(|| pointee_type(b, at))
}

/// `tagged_type`: `struct`, `union` or `enum`, at least one space, a name.
fn tagged_type(b: &[u8], at: usize) -> Option<usize> {
    let tag_end = first_of(b, at, &["struct", "union", "enum"])?;
    let name = run(b, tag_end, |c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
    if name == tag_end {
        return None;
    }
    word(b, name)
}

/// `c_int_type`: C integer words separated by spaces or tabs.
fn c_int_type(b: &[u8], at: usize) -> Option<usize> {
    let mut end = c_int_word(b, at)?;
    loop {
        let gap = run(b, end, |c| c == b' ' || c == b'\t');
        match c_int_word(b, gap) {
            Some(next) if gap > end => end = next,
            _ => return Some(end),
        }
    }
}

fn c_int_word(b: &[u8], at: usize) -> Option<usize> {
    ["unsigned", "signed", "char", "short", "int", "long"]
        .iter()
        .find(|w| b[at.min(b.len())..].starts_with(w.as_bytes()))
        .and_then(|w| keyword_at(b, at, w))
}

/// `known_type`: fixed-width names, `bool`, `void`, `string`, or a name ending in `_t`.
fn known_type(b: &[u8], at: usize) -> Option<usize> {
    const WIDTHS: [&str; 4] = ["8", "16", "32", "64"];
    const WIDE: [&str; 3] = ["16", "32", "64"];
    let then = |end: Option<usize>, widths: &[&str]| end.and_then(|e| first_of(b, e, widths));
    let end = then(first_of(b, at, &["u", "__u", "__s", "s"]), &WIDTHS)
        .or_else(|| {
            let int = first_of(b, at, &["u"]).unwrap_or(at);
            then(first_of(b, int, &["int"]), &WIDTHS)
        })
        .or_else(|| then(first_of(b, at, &["__be"]), &WIDE))
        .or_else(|| then(first_of(b, at, &["__le"]), &WIDE))
        .or_else(|| first_of(b, at, &["bool", "void", "string"]))
        .or_else(|| name_ending_in_t(b, at))?;
    (!ident_char(b.get(end))).then_some(end)
}

/// `ident_start ~ (!("_t" ~ !ident_char) ~ ident_char)* ~ "_t"`.
fn name_ending_in_t(b: &[u8], at: usize) -> Option<usize> {
    if !ident_start(b.get(at)) {
        return None;
    }
    let mut i = at + 1;
    loop {
        let suffix = b[i..].starts_with(b"_t") && !ident_char(b.get(i + 2));
        if suffix {
            return Some(i + 2);
        }
        if !ident_char(b.get(i)) {
            return None;
        }
        i += 1;
    }
}

/// `pointee_type`: a name followed (spaces or tabs only) by `*`.
fn pointee_type(b: &[u8], at: usize) -> Option<usize> {
    let end = word(b, at)?;
    let star = run(b, end, |c| c == b' ' || c == b'\t');
    (b.get(star) == Some(&b'*')).then_some(end)
}

/// `attach_point`: plain or quoted parts separated by `:`.
pub fn attach_point(b: &[u8], at: usize) -> Option<usize> {
    let mut end = ap_plain(b, at)?;
    while b.get(end) == Some(&b':') {
        end += 1;
        end = ap_quoted(b, end)
            .or_else(|| ap_plain(b, end))
            .unwrap_or(end);
    }
    Some(end)
}

/// `ap_plain`: may hold `/` only when a `:` follows.
fn ap_plain(b: &[u8], at: usize) -> Option<usize> {
    let with_slash = run(b, at, |c| ap_char(c) || c == b'/');
    if with_slash > at && b.get(with_slash) == Some(&b':') {
        return Some(with_slash);
    }
    let plain = run(b, at, ap_char);
    (plain > at).then_some(plain)
}

fn ap_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_*?-.+@$".contains(&c)
}

fn ap_quoted(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let close = run(b, at + 1, |c| c != b'"' && c != b'\n');
    (b.get(close) == Some(&b'"')).then_some(close + 1)
}

/// `shebang`: `#!` to the end of the line.
pub fn shebang(b: &[u8], at: usize) -> Option<usize> {
    b[at..]
        .starts_with(b"#!")
        .then(|| run(b, at, |c| c != b'\n'))
}

/// `preprocessor`: `#` to the end of the line; a backslash before the newline continues it.
pub fn preprocessor(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'#') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match b.get(i) {
            None | Some(b'\n') => return Some(i),
            Some(b'\\') if b[i + 1..].starts_with(b"\r\n") => i += 3,
            Some(b'\\') if b.get(i + 1) == Some(&b'\n') => i += 2,
            Some(_) => i += 1,
        }
    }
}

/// `c_definition`: `struct`/`union`/`enum`/`typedef` text up to `;`, braces balanced, or up to
/// the closing brace when the `;` is left out.
pub fn c_definition(b: &[u8], at: usize) -> Option<usize> {
    let keyword = ["struct", "union", "enum", "typedef"]
        .iter()
        .find_map(|k| keyword_at(b, at, k))?;
    let text = c_text(b, keyword);
    let with_semi = {
        let after_braces = c_braces(b, text).map_or(text, |end| c_text(b, end));
        (b.get(after_braces) == Some(&b';')).then_some(after_braces + 1)
    };
    with_semi.or_else(|| c_braces(b, text))
}

/// `c_text`: anything up to `;`, `{` or `}`, comments included.
fn c_text(b: &[u8], at: usize) -> usize {
    let mut i = at;
    loop {
        if let Some(end) = c_comment(b, i) {
            i = end;
            continue;
        }
        match b.get(i) {
            None | Some(b';' | b'{' | b'}') => return i,
            Some(_) => i += 1,
        }
    }
}

/// `c_braces`: balanced braces, comments skipped.
fn c_braces(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'{') {
        return None;
    }
    let mut depth = 1usize;
    let mut i = at + 1;
    loop {
        if let Some(end) = c_comment(b, i) {
            i = end;
            continue;
        }
        match b.get(i)? {
            b'{' => depth += 1,
            b'}' if depth == 1 => return Some(i + 1),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
}

/// `c_comment`: a `//` comment (newline excluded) or a closed `/* */` one.
fn c_comment(b: &[u8], at: usize) -> Option<usize> {
    let rest = b.get(at..)?;
    if rest.starts_with(b"//") {
        return Some(run(b, at, |c| c != b'\n'));
    }
    if rest.starts_with(b"/*") {
        let close = rest[2..].windows(2).position(|w| w == b"*/")?;
        return Some(at + 2 + close + 2);
    }
    None
}
