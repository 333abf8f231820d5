//! `printf()` formats: parsed once (errors go to the checker), rendered for each
//! event with C semantics on 64-bit values.
//!
//! Supported: `%d %i %u %x %X %o %c %s %p %%`, flags `- 0 + space #`, width,
//! precision (each also as `*`: taken from an integer argument before the value), and the length modifiers `hh h l ll j z t`. As in C (and bpftrace
//! 0.17), an integer conversion without `l` works on 32 bits: `printf("%u", -1)`
//! prints 4294967295 and `%llu` prints 18446744073709551615.
//!
//! Differences from 0.17 on purpose: an unknown conversion (`%q`) is an error
//! instead of literal text, and `%%` always prints `%` (0.17 left `%%` untouched
//! in the text after the last argument).

use crate::output::text::value_text;
use crate::symbols::Resolver;
use crate::types::Type;
use crate::value::{decode, Value};

/// A parsed format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal text (`%%` already turned into `%`).
    Text(String),
    Conv(Conversion),
}

/// One `%…` conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversion {
    pub flags: Flags,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    pub length: Length,
    pub kind: ConvKind,
    /// `*` width / `.*` precision: taken from the arguments, in that order,
    /// before the value (a negative width pads on the right, as in C).
    pub star_width: bool,
    pub star_precision: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-`: pad on the right.
    pub left: bool,
    /// `0`: pad numbers with zeros.
    pub zero: bool,
    /// `+`: always print a sign on signed conversions.
    pub plus: bool,
    /// ` `: a space where a `+` would go.
    pub space: bool,
    /// `#`: `0x` for hex, a leading `0` for octal.
    pub alt: bool,
}

/// The C length modifier, i.e. how many low bits of the value are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `hh`
    Char,
    /// `h`
    Short,
    /// none
    Int,
    /// `l`, `ll`, `j`, `z`, `t`
    Long,
}

impl Length {
    pub fn bits(self) -> u32 {
        match self {
            Length::Char => 8,
            Length::Short => 16,
            Length::Int => 32,
            Length::Long => 64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// `%d`, `%i`
    Signed,
    /// `%u`
    Unsigned,
    /// `%o`
    Octal,
    /// `%x`
    Hex,
    /// `%X`
    HexUpper,
    /// `%c`: the low byte.
    Char,
    /// `%s`: strings, and any other printable value in its text form.
    Str,
    /// `%p`: `0x` + hex, `(nil)` for 0.
    Pointer,
    /// `%r`: a `buf()` value, non-printable bytes as `\xNN`.
    Buffer,
}

impl Conversion {
    /// Whether an argument of type `ty` may be printed by this conversion.
    pub fn accepts(&self, ty: &Type) -> bool {
        let address = matches!(
            ty,
            Type::Int { .. } | Type::Ksym | Type::Usym | Type::KsymOff
        );
        match self.kind {
            ConvKind::Str => {
                address
                    || matches!(
                        ty,
                        Type::Str { .. }
                            | Type::Probe
                            | Type::Tuple(_)
                            | Type::Inet
                            | Type::MacAddr
                            | Type::Timestamp(_)
                            | Type::Bytes { .. }
                            | Type::Stack(_)
                            | Type::SyscallName
                    )
            }
            ConvKind::Buffer => matches!(ty, Type::Buf { .. }),
            _ => address,
        }
    }

    /// What the conversion expects, for error messages.
    pub fn expected(&self) -> &'static str {
        match self.kind {
            ConvKind::Str => "string",
            ConvKind::Buffer => "buffer",
            _ => "integer",
        }
    }
}

impl Format {
    /// The conversions, one per argument, in order.
    pub fn conversions(&self) -> impl Iterator<Item = &Conversion> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Conv(c) => Some(c),
            Piece::Text(_) => None,
        })
    }

    /// How many arguments the format consumes (`*` widths included).
    pub fn arg_count(&self) -> usize {
        self.arg_roles().len()
    }

    /// What each argument is for, in order: `None` for a `*` width or
    /// precision (an integer), else the conversion that prints it.
    pub fn arg_roles(&self) -> Vec<Option<&Conversion>> {
        let mut roles = Vec::new();
        for c in self.conversions() {
            roles.extend((0..c.star_count()).map(|_| None));
            roles.push(Some(c));
        }
        roles
    }

    /// Checks the argument count and each argument's type, with bpftrace's wording
    /// (the caller prefixes the function name: `printf: …`).
    pub fn check_args(&self, args: &[Type]) -> Result<(), String> {
        let expected = self.arg_count();
        if args.len() > expected {
            return Err(format!(
                "Too many arguments for format string ({} supplied, {expected} expected)",
                args.len()
            ));
        }
        if args.len() < expected {
            return Err(format!(
                "Not enough arguments for format string ({} supplied, {expected} expected)",
                args.len()
            ));
        }
        for (role, ty) in self.arg_roles().into_iter().zip(args) {
            let Some(conv) = role else {
                if !matches!(ty, Type::Int { .. }) {
                    return Err(format!(
                        "a `*` width or precision expects a value of type integer ({} supplied)",
                        type_noun(ty)
                    ));
                }
                continue;
            };
            if !conv.accepts(ty) {
                return Err(format!(
                    "%{} specifier expects a value of type {} ({} supplied)",
                    conv.kind.letter(),
                    conv.expected(),
                    type_noun(ty)
                ));
            }
        }
        Ok(())
    }

    /// Renders the format with already decoded arguments. Missing arguments
    /// print nothing.
    pub fn render(&self, args: &[Value], resolver: &dyn Resolver) -> String {
        let mut out = Vec::new();
        let mut args = args.iter();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Conv(conv) => {
                    let conv = conv.with_stars(&mut args);
                    if let Some(arg) = args.next() {
                        render_conv(&mut out, &conv, arg, resolver);
                    }
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Renders from an event record's argument bytes, laid out as a tuple of
    /// `arg_types` (the bytes after the event id).
    pub fn render_record(
        &self,
        arg_types: &[Type],
        bytes: &[u8],
        resolver: &dyn Resolver,
    ) -> String {
        match decode(&Type::Tuple(arg_types.to_vec()), bytes) {
            Value::Tuple(args) => self.render(&args, resolver),
            _ => self.render(&[], resolver),
        }
    }
}

impl ConvKind {
    /// The conversion letter, for messages.
    pub fn letter(self) -> char {
        match self {
            ConvKind::Signed => 'd',
            ConvKind::Unsigned => 'u',
            ConvKind::Octal => 'o',
            ConvKind::Hex => 'x',
            ConvKind::HexUpper => 'X',
            ConvKind::Char => 'c',
            ConvKind::Str => 's',
            ConvKind::Pointer => 'p',
            ConvKind::Buffer => 'r',
        }
    }
}

/// How bpftrace names a supplied type in messages.
fn type_noun(ty: &Type) -> String {
    match ty {
        Type::Int { .. } => "integer".to_string(),
        Type::Str { .. } => "string".to_string(),
        Type::Tuple(_) => "tuple".to_string(),
        Type::Buf { .. } => "buffer".to_string(),
        other => other.to_string(),
    }
}

/// Parses a format string whose escapes the parser already decoded.
pub fn parse_format(format: &str) -> Result<Format, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = format.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        if chars.next_if(|&(_, c)| c == '%').is_some() {
            text.push('%');
            continue;
        }
        let conv = parse_conversion(&mut chars).map_err(|bad| {
            let end = bad.map_or(format.len(), |(i, c)| i + c.len_utf8());
            match bad {
                Some(_) => format!(
                    "unknown conversion '{}' in format string",
                    &format[start..end]
                ),
                None => format!(
                    "incomplete conversion '{}' at the end of the format string",
                    &format[start..]
                ),
            }
        })?;
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Conv(conv));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(Format { pieces })
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// Parses what follows a `%`. On error returns the offending character, or
/// `None` if the string ended.
fn parse_conversion(chars: &mut Chars<'_>) -> Result<Conversion, Option<(usize, char)>> {
    let mut flags = Flags::default();
    while let Some((_, c)) = chars.next_if(|&(_, c)| "-0+ #".contains(c)) {
        match c {
            '-' => flags.left = true,
            '0' => flags.zero = true,
            '+' => flags.plus = true,
            ' ' => flags.space = true,
            _ => flags.alt = true,
        }
    }
    let star_width = chars.next_if(|&(_, c)| c == '*').is_some();
    let width = if star_width {
        None
    } else {
        parse_number(chars)
    };
    let mut star_precision = false;
    let precision = chars.next_if(|&(_, c)| c == '.').map(|_| {
        star_precision = chars.next_if(|&(_, c)| c == '*').is_some();
        parse_number(chars).unwrap_or(0)
    });
    let length = parse_length(chars);
    let (i, c) = chars.next().ok_or(None)?;
    let kind = match c {
        'd' | 'i' => ConvKind::Signed,
        'u' => ConvKind::Unsigned,
        'o' => ConvKind::Octal,
        'x' => ConvKind::Hex,
        'X' => ConvKind::HexUpper,
        'c' => ConvKind::Char,
        's' => ConvKind::Str,
        'p' => ConvKind::Pointer,
        'r' => ConvKind::Buffer,
        _ => return Err(Some((i, c))),
    };
    Ok(Conversion {
        flags,
        width,
        precision,
        length,
        kind,
        star_width,
        star_precision,
    })
}

impl Conversion {
    /// Arguments taken by `*`s before the value.
    pub fn star_count(&self) -> usize {
        usize::from(self.star_width) + usize::from(self.star_precision)
    }

    /// This conversion with its `*` width and precision taken from `args`.
    fn with_stars<'v>(&self, args: &mut impl Iterator<Item = &'v Value>) -> Conversion {
        let mut c = *self;
        let star = |args: &mut dyn Iterator<Item = &'v Value>| {
            args.next()
                .and_then(int_bits)
                .map(|raw| i64::from(raw as u32 as i32))
        };
        if self.star_width {
            if let Some(w) = star(args) {
                // C: a negative `*` width means `-` with its magnitude.
                c.flags.left |= w < 0;
                c.width = Some(w.unsigned_abs() as usize);
            }
        }
        if self.star_precision {
            // C: a negative `*` precision is as if none was given.
            c.precision = star(args).and_then(|p| usize::try_from(p).ok());
        }
        c
    }
}

fn parse_number(chars: &mut Chars<'_>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some((_, c)) = chars.next_if(|&(_, c)| c.is_ascii_digit()) {
        let digit = c.to_digit(10).unwrap_or(0) as usize;
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(digit));
    }
    n
}

fn parse_length(chars: &mut Chars<'_>) -> Length {
    match chars.next_if(|&(_, c)| "hljzt".contains(c)) {
        Some((_, 'h')) => match chars.next_if(|&(_, c)| c == 'h') {
            Some(_) => Length::Char,
            None => Length::Short,
        },
        Some((_, 'l')) => {
            chars.next_if(|&(_, c)| c == 'l');
            Length::Long
        }
        Some(_) => Length::Long,
        None => Length::Int,
    }
}

fn render_conv(out: &mut Vec<u8>, conv: &Conversion, arg: &Value, resolver: &dyn Resolver) {
    match (conv.kind, int_bits(arg)) {
        (ConvKind::Str | ConvKind::Buffer, _) | (_, None) => render_text(out, conv, arg, resolver),
        (_, Some(raw)) => render_int(out, conv, raw),
    }
}

/// `%s`, or a string given to an integer conversion: the value's text, cut to
/// the precision.
fn render_text(out: &mut Vec<u8>, conv: &Conversion, arg: &Value, resolver: &dyn Resolver) {
    let text = value_text(arg, resolver);
    let text = text.as_bytes();
    let shown = conv.precision.map_or(text, |p| &text[..p.min(text.len())]);
    pad(out, conv, shown)
}

/// Integer conversions on the low `length` bits of `raw`.
fn render_int(out: &mut Vec<u8>, conv: &Conversion, raw: u64) {
    let bits = conv.length.bits();
    let unsigned = truncate(raw, bits);
    let body = match conv.kind {
        ConvKind::Signed => {
            let signed = sign_extend(unsigned, bits);
            number(conv, signed < 0, signed.unsigned_abs(), 10, true)
        }
        ConvKind::Unsigned => number(conv, false, unsigned, 10, false),
        ConvKind::Octal => number(conv, false, unsigned, 8, false),
        ConvKind::Hex | ConvKind::HexUpper => number(conv, false, unsigned, 16, false),
        ConvKind::Char => return pad(out, conv, &[raw as u8]),
        ConvKind::Pointer if raw == 0 => return pad(out, conv, b"(nil)"),
        // (`%s` and `%r` are rendered as text and never get here.)
        ConvKind::Pointer | ConvKind::Str | ConvKind::Buffer => Number {
            prefix: "0x".to_string(),
            digits: format!("{raw:x}"),
        },
    };
    pad_number(out, conv, &body)
}

/// The 64 bits an integer conversion works on; `None` for strings and tuples.
fn int_bits(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => Some(*i as u64),
        Value::UInt(u)
        | Value::Ksym(u)
        | Value::Usym(u, _)
        | Value::Probe(u)
        | Value::Count(u)
        | Value::KsymOff(u) => Some(*u),
        Value::Str(_) | Value::Tuple(_) | Value::None | Value::Stack(_) => None,
        Value::Sum { total, .. } => Some(*total as u64),
        Value::Min { value, .. } | Value::Max { value, .. } => Some(*value as u64),
        Value::Avg { total, count } => Some(Value::average(*total, *count) as u64),
        Value::Stats { total, .. } => Some(*total as u64),
    }
}

fn truncate(raw: u64, bits: u32) -> u64 {
    if bits >= 64 {
        raw
    } else {
        raw & ((1u64 << bits) - 1)
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// A formatted number before width padding: sign or `0x` prefix, then digits.
struct Number {
    prefix: String,
    digits: String,
}

/// C's rules for sign, `#`, and precision (minimum digits; `.0` prints 0 as nothing).
fn number(conv: &Conversion, negative: bool, magnitude: u64, base: u32, signed: bool) -> Number {
    let mut digits = match base {
        8 => format!("{magnitude:o}"),
        16 if conv.kind == ConvKind::HexUpper => format!("{magnitude:X}"),
        16 => format!("{magnitude:x}"),
        _ => magnitude.to_string(),
    };
    if conv.precision == Some(0) && magnitude == 0 {
        digits.clear();
    }
    if let Some(p) = conv.precision {
        if digits.len() < p {
            digits.insert_str(0, &"0".repeat(p - digits.len()));
        }
    }
    let mut prefix = String::new();
    if negative {
        prefix.push('-');
    } else if signed && conv.flags.plus {
        prefix.push('+');
    } else if signed && conv.flags.space {
        prefix.push(' ');
    }
    if conv.flags.alt {
        match conv.kind {
            ConvKind::Octal if !digits.starts_with('0') => digits.insert(0, '0'),
            ConvKind::Hex if magnitude != 0 => prefix.push_str("0x"),
            ConvKind::HexUpper if magnitude != 0 => prefix.push_str("0X"),
            _ => {}
        }
    }
    Number { prefix, digits }
}

/// Width padding of a number: zeros go between the prefix and the digits.
fn pad_number(out: &mut Vec<u8>, conv: &Conversion, n: &Number) {
    let len = n.prefix.len() + n.digits.len();
    let fill = conv.width.unwrap_or(0).saturating_sub(len);
    if conv.flags.zero && !conv.flags.left && conv.precision.is_none() {
        out.extend_from_slice(n.prefix.as_bytes());
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(n.digits.as_bytes());
    } else {
        let body = format!("{}{}", n.prefix, n.digits);
        pad(out, conv, body.as_bytes());
    }
}

/// Width padding with spaces, on the left unless `-`.
fn pad(out: &mut Vec<u8>, conv: &Conversion, body: &[u8]) {
    let fill = conv.width.unwrap_or(0).saturating_sub(body.len());
    if !conv.flags.left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
    out.extend_from_slice(body);
    if conv.flags.left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_conversions() {
        let f = parse_format("a%%b %-08.3lx!").unwrap();
        assert_eq!(f.pieces.len(), 3);
        assert_eq!(f.pieces[0], Piece::Text("a%b ".into()));
        let Piece::Conv(c) = f.pieces[1] else {
            panic!("not a conversion")
        };
        assert!(c.flags.left && c.flags.zero);
        assert_eq!(
            (c.width, c.precision, c.length),
            (Some(8), Some(3), Length::Long)
        );
        assert_eq!(c.kind, ConvKind::Hex);
    }

    #[test]
    fn rejects_unknown_and_incomplete_conversions() {
        assert_eq!(
            parse_format("x %5q y"),
            Err("unknown conversion '%5q' in format string".to_string())
        );
        assert!(parse_format("abc %-5").is_err());
    }

    #[test]
    fn checks_counts_and_types() {
        let f = parse_format("%d %s\n").unwrap();
        assert!(f.check_args(&[Type::U64, Type::Str { len: 8 }]).is_ok());
        assert_eq!(
            f.check_args(&[Type::U64]).unwrap_err(),
            "Not enough arguments for format string (1 supplied, 2 expected)"
        );
        assert_eq!(
            f.check_args(&[Type::Str { len: 4 }, Type::U64])
                .unwrap_err(),
            "%d specifier expects a value of type integer (string supplied)"
        );
    }
}
