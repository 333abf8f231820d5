//! Decoding of integer and string literals.

use crate::ast::Span;
use crate::diag::Diagnostic;

/// Decodes an integer literal token: decimal (`1_000`), hex (`0x1F`), octal (`010`), decimal
/// exponent (`1e3`), with an optional C suffix (`u`, `l`, `ul`, `ull`, `lu`, `llu`, any case)
/// that is accepted and ignored. Values above `u64::MAX` are errors.
pub fn parse_int(text: &str, span: Span) -> Result<u64, Diagnostic> {
    let body = strip_suffix(text);
    let bad = |why: &str| {
        Diagnostic::error(span, format!("invalid integer literal `{text}`")).with_label(why)
    };
    let overflow = || {
        Diagnostic::error(span, format!("integer literal `{text}` is too large"))
            .with_label("does not fit in 64 bits")
            .with_note(format!("the largest integer is {}", u64::MAX))
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return digits_value(hex, 16).map_err(|e| e.into_diag(bad, overflow));
    }
    if let Some((mantissa, exponent)) = body.split_once(['e', 'E']) {
        return exponent_value(mantissa, exponent).map_err(|e| e.into_diag(bad, overflow));
    }
    if body.len() > 1 && body.starts_with('0') {
        return digits_value(&body[1..], 8).map_err(|e| e.into_diag(bad, overflow));
    }
    digits_value(body, 10).map_err(|e| e.into_diag(bad, overflow))
}

/// Why a run of digits could not be decoded.
enum IntError {
    Invalid(String),
    Overflow,
}

impl IntError {
    fn into_diag(
        self,
        bad: impl Fn(&str) -> Diagnostic,
        overflow: impl Fn() -> Diagnostic,
    ) -> Diagnostic {
        match self {
            IntError::Invalid(why) => bad(&why),
            IntError::Overflow => overflow(),
        }
    }
}

fn strip_suffix(text: &str) -> &str {
    const SUFFIXES: [&str; 7] = ["ull", "llu", "ul", "lu", "ll", "u", "l"];
    let is_hex = text.starts_with("0x") || text.starts_with("0X");
    for suffix in SUFFIXES {
        let n = suffix.len();
        if text.len() > n && text.is_char_boundary(text.len() - n) {
            let (head, tail) = text.split_at(text.len() - n);
            // In hex, `u`/`l` are not digits, so the suffix is unambiguous there too.
            if tail.eq_ignore_ascii_case(suffix) && (is_hex || !head.is_empty()) {
                return head;
            }
        }
    }
    text
}

/// The value of `digits` (underscores allowed between digits) in `radix`.
fn digits_value(digits: &str, radix: u32) -> Result<u64, IntError> {
    if digits.is_empty() || digits.starts_with('_') {
        return Err(IntError::Invalid("expected digits".into()));
    }
    let mut value: u64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let Some(d) = c.to_digit(radix) else {
            let what = match radix {
                8 => format!("`{c}` is not an octal digit (a leading `0` means octal)"),
                16 => format!("`{c}` is not a hexadecimal digit"),
                _ => format!("`{c}` is not a digit"),
            };
            return Err(IntError::Invalid(what));
        };
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(IntError::Overflow)?;
    }
    Ok(value)
}

/// `1e3` = 1000: a decimal mantissa times a power of ten.
fn exponent_value(mantissa: &str, exponent: &str) -> Result<u64, IntError> {
    let base = digits_value(mantissa, 10)?;
    let power = digits_value(exponent, 10)?;
    let scale = u32::try_from(power)
        .ok()
        .and_then(|p| 10u64.checked_pow(p))
        .ok_or(IntError::Overflow);
    match scale {
        // `0e9999` is still zero.
        Err(_) if base == 0 => Ok(0),
        Err(e) => Err(e),
        Ok(scale) => base.checked_mul(scale).ok_or(IntError::Overflow),
    }
}

/// Decodes a string literal token including its quotes. Escapes: `\n \t \r \" \\ \' \0`,
/// octal `\NNN` (one to three digits), hex `\xNN` (one or two digits).
pub fn parse_string(token: &str, span: Span) -> Result<Vec<u8>, Diagnostic> {
    let inner = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(token);
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        // Offset of the backslash in the whole token (after the opening quote).
        let at = span.start + 1 + i;
        let (byte, used) = decode_escape(&bytes[i + 1..]).ok_or_else(|| {
            let shown = inner[i..].chars().take(2).collect::<String>();
            Diagnostic::error(
                Span::new(at, at + shown.len()),
                format!("unknown escape sequence `{shown}` in string"),
            )
            .with_label("unknown escape")
            .with_note("known escapes: \\n \\t \\r \\\" \\\\ \\NNN (octal) \\xNN (hex)")
        })?;
        out.push(byte);
        i += 1 + used;
    }
    Ok(out)
}

/// The byte an escape (the text after `\`) stands for and how many bytes it used.
fn decode_escape(rest: &[u8]) -> Option<(u8, usize)> {
    let first = *rest.first()?;
    let simple = match first {
        b'n' => Some(b'\n'),
        b't' => Some(b'\t'),
        b'r' => Some(b'\r'),
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        b'\'' => Some(b'\''),
        _ => None,
    };
    if let Some(b) = simple {
        return Some((b, 1));
    }
    if first.is_ascii_digit() && first < b'8' {
        return radix_escape(rest, 8, 3, 0);
    }
    if first == b'x' {
        return radix_escape(rest, 16, 2, 1);
    }
    None
}

/// Up to `max` digits of `radix` starting at `rest[skip..]`; the value must fit in a byte.
fn radix_escape(rest: &[u8], radix: u32, max: usize, skip: usize) -> Option<(u8, usize)> {
    let digits: Vec<u32> = rest[skip..]
        .iter()
        .take(max)
        .map_while(|&c| (c as char).to_digit(radix))
        .collect();
    if digits.is_empty() {
        return None;
    }
    let value = digits.iter().fold(0u32, |acc, &d| acc * radix + d);
    let byte = u8::try_from(value).ok()?;
    Some((byte, skip + digits.len()))
}
