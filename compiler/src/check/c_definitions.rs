//! C type definitions written in a script (`struct cfs_rq { struct load_weight load; … };`).
//!
//! bpftrace hands them to clang; rtrace reads the subset scripts use — structs, unions,
//! enums and typedefs whose members are integers, pointers, arrays, bitfields and other
//! named types (the script's own or the kernel's from BTF) — lays them out by the C rules
//! of x86-64 and writes them as split BTF on top of vmlinux. A script's definition shadows
//! the kernel type of the same name, as it does in bpftrace.

use crate::ast::{CDefinition, Span};
use crate::btf::writer::{BtfWriter, MemberSpec};
use crate::btf::{Btf, Kind, Type, TypeId};
use crate::diag::Diagnostic;
use std::collections::HashMap;
use std::sync::Arc;

/// Reads the script's C definitions into split BTF over `base`. `Ok(None)` when the
/// script defines no types.
pub fn compile(defs: &[CDefinition], base: &Arc<Btf>) -> Result<Option<Btf>, Diagnostic> {
    let mut cx = Builder {
        base,
        out: BtfWriter::split_on(base),
        layout: HashMap::new(),
        records: HashMap::new(),
        typedefs: HashMap::new(),
        ints: HashMap::new(),
        incomplete: HashMap::new(),
        defined: 0,
    };
    for def in defs
        .iter()
        .filter(|d| !d.text.trim_start().starts_with('#'))
    {
        let tokens = tokenize(&def.text, def.span.start)?;
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
            end: def.span.end,
        };
        while p.peek().is_some() {
            cx.top_level(&mut p)?;
        }
    }
    if cx.defined == 0 {
        return Ok(None);
    }
    let bytes = cx.out.finish();
    Btf::parse_split(&bytes, base.clone())
        .map(Some)
        .map_err(|e| {
            Diagnostic::error(
                defs[0].span,
                format!("internal error encoding C definitions: {e}"),
            )
        })
}

// ---- tokens ----

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(i64),
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    span: Span,
}

fn tokenize(text: &str, base: usize) -> Result<Vec<Token>, Diagnostic> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(token(
                Tok::Ident(text[start..i].to_string()),
                base,
                start,
                i,
            ));
        } else if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let Some(n) = parse_number(&text[start..i]) else {
                return Err(Diagnostic::error(
                    Span::new(base + start, base + i),
                    "bad number in C definition",
                ));
            };
            out.push(token(Tok::Num(n), base, start, i));
        } else if "{}[]();,*:=-".contains(c as char) {
            i += 1;
            out.push(token(Tok::Punct(c as char), base, start, i));
        } else {
            return Err(Diagnostic::error(
                Span::new(base + start, base + start + 1),
                format!("rtrace cannot read `{}` in a C definition", c as char),
            ));
        }
    }
    Ok(out)
}

fn token(tok: Tok, base: usize, start: usize, end: usize) -> Token {
    Token {
        tok,
        span: Span::new(base + start, base + end),
    }
}

fn parse_number(s: &str) -> Option<i64> {
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    /// End of the definition, for errors at its end.
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.tok)
    }
    fn span(&self) -> Span {
        self.tokens
            .get(self.at)
            .map_or(Span::new(self.end, self.end), |t| t.span)
    }
    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(&Tok::Punct(c));
        self.at += usize::from(hit);
        hit
    }
    fn eat_word(&mut self, w: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Ident(s)) if s == w);
        self.at += usize::from(hit);
        hit
    }
    fn expect(&mut self, c: char) -> Result<(), Diagnostic> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("`{c}`")))
        }
    }
    fn ident(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.at += 1;
                Some(s)
            }
            _ => None,
        }
    }
    fn number(&mut self) -> Result<i64, Diagnostic> {
        let neg = self.eat('-');
        match self.peek() {
            Some(&Tok::Num(n)) => {
                self.at += 1;
                Ok(if neg { -n } else { n })
            }
            _ => Err(self.error("a number")),
        }
    }
    fn error(&self, expected: &str) -> Diagnostic {
        Diagnostic::error(
            self.span(),
            format!("unexpected token in C definition: expected {expected}"),
        )
        .with_label(format!("expected {expected}"))
    }
}

// ---- layout and encoding ----

/// A declarator applied to a base type: `*name[4]`, `(*fn)(…)`, `x : 3`.
struct Declarator {
    name: String,
    ty: TypeId,
    bits: Option<u8>,
}

struct Builder<'b> {
    base: &'b Arc<Btf>,
    out: BtfWriter,
    /// (size, alignment) of the types written here.
    layout: HashMap<TypeId, (u32, u32)>,
    /// `struct x` / `union x` / `enum x` defined by the script.
    records: HashMap<String, TypeId>,
    typedefs: HashMap<String, TypeId>,
    ints: HashMap<(u32, bool, bool), TypeId>,
    /// Records named but defined nowhere: allowed behind a pointer, as in C.
    incomplete: HashMap<TypeId, String>,
    defined: usize,
}

const INT_WORDS: &[&str] = &["unsigned", "signed", "char", "short", "int", "long"];
const QUALIFIERS: &[&str] = &[
    "const", "volatile", "static", "extern", "register", "restrict",
];

impl Builder<'_> {
    fn top_level(&mut self, p: &mut Parser) -> Result<(), Diagnostic> {
        if p.eat_word("typedef") {
            let base = self.type_spec(p)?;
            loop {
                let d = self.declarator(p, base)?;
                self.typedefs
                    .insert(d.name.clone(), self.out.typedef(&d.name, d.ty));
                self.defined += 1;
                if !p.eat(',') {
                    break;
                }
            }
        } else {
            let base = self.type_spec(p)?;
            // `struct x { … } var;` declares a variable as well: nothing to keep.
            while !matches!(p.peek(), Some(Tok::Punct(';')) | None) {
                self.declarator(p, base)?;
                if !p.eat(',') {
                    break;
                }
            }
        }
        // Old scripts leave out the `;` after a definition's closing brace.
        if p.peek().is_some() {
            p.expect(';')?;
        }
        Ok(())
    }

    /// A type specifier: integer words, `struct/union/enum [name] [{…}]`, a typedef name.
    fn type_spec(&mut self, p: &mut Parser) -> Result<TypeId, Diagnostic> {
        while QUALIFIERS.iter().any(|q| p.eat_word(q)) {}
        let span = p.span();
        let word = match p.peek() {
            Some(Tok::Ident(w)) => w.clone(),
            _ => return Err(p.error("a type")),
        };
        let ty = match word.as_str() {
            "struct" | "union" => {
                p.at += 1;
                self.record(p, word == "union")?
            }
            "enum" => {
                p.at += 1;
                self.enumeration(p, span)?
            }
            "void" => {
                p.at += 1;
                0
            }
            w if INT_WORDS.contains(&w) => self.int_words(p),
            _ => {
                p.at += 1;
                self.named(&word).ok_or_else(|| {
                    Diagnostic::error(span, format!("unknown type `{word}` in C definition"))
                        .with_label("not defined in the script nor in the kernel's BTF")
                })?
            }
        };
        while QUALIFIERS.iter().any(|q| p.eat_word(q)) {}
        Ok(ty)
    }

    fn int_words(&mut self, p: &mut Parser) -> TypeId {
        let (mut unsigned, mut longs, mut short, mut char) = (false, 0, false, false);
        while let Some(Tok::Ident(w)) = p.peek() {
            match w.as_str() {
                "unsigned" => unsigned = true,
                "signed" | "int" => {}
                "long" => longs += 1,
                "short" => short = true,
                "char" => char = true,
                _ => break,
            }
            p.at += 1;
        }
        let size = if char {
            1
        } else if short {
            2
        } else if longs > 0 {
            8
        } else {
            4
        };
        self.int(size, !unsigned, char)
    }

    fn int(&mut self, size: u32, signed: bool, is_char: bool) -> TypeId {
        if let Some(&id) = self.ints.get(&(size, signed, is_char)) {
            return id;
        }
        let name = match (size, signed, is_char) {
            (1, _, true) => "char",
            (1, true, _) => "signed char",
            (1, false, _) => "unsigned char",
            (2, true, _) => "short",
            (2, false, _) => "unsigned short",
            (4, true, _) => "int",
            (4, false, _) => "unsigned int",
            (_, true, _) => "long",
            (_, false, _) => "unsigned long",
        };
        let id = self.out.int(name, size, signed, is_char);
        self.layout.insert(id, (size, size));
        self.ints.insert((size, signed, is_char), id);
        id
    }

    /// A typedef or base type name: the script's first, then the kernel's.
    fn named(&self, name: &str) -> Option<TypeId> {
        if let Some(&id) = self.typedefs.get(name) {
            return Some(id);
        }
        [Kind::Typedef, Kind::Int, Kind::Float]
            .iter()
            .find_map(|&k| self.base.find_type_by_name(k, name))
    }

    fn record(&mut self, p: &mut Parser, union: bool) -> Result<TypeId, Diagnostic> {
        let tag = if union { "union" } else { "struct" };
        let name = p.ident().unwrap_or_default();
        if !p.eat('{') {
            let key = format!("{tag} {name}");
            if let Some(&id) = self.records.get(&key) {
                return Ok(id);
            }
            let found = if union {
                self.base.find_union(&name)
            } else {
                self.base.find_struct(&name)
            };
            if let Some(id) = found {
                return Ok(id);
            }
            // Neither here nor in BTF: an incomplete type, fine behind a pointer.
            let id = self.out.forward(&name, union);
            self.records.insert(key.clone(), id);
            self.incomplete.insert(id, key);
            return Ok(id);
        }
        let mut members = Vec::new();
        while !p.eat('}') {
            if p.peek().is_none() {
                return Err(p.error("`}`"));
            }
            let type_span = p.span();
            let base = self.type_spec(p)?;
            if p.eat(';') {
                // An anonymous struct/union member: its fields are reached directly.
                members.push(Declarator {
                    name: String::new(),
                    ty: base,
                    bits: None,
                });
                continue;
            }
            loop {
                let member = self.declarator(p, base)?;
                self.require_complete(member.ty, type_span)?;
                members.push(member);
                if !p.eat(',') {
                    break;
                }
            }
            p.expect(';')?;
        }
        let (size, align, specs) = self.lay_out(&members, union);
        let id = self.out.record_type(&name, union, size, &specs);
        self.layout.insert(id, (size, align));
        if !name.is_empty() {
            self.records.insert(format!("{tag} {name}"), id);
        }
        self.defined += 1;
        Ok(id)
    }

    fn enumeration(&mut self, p: &mut Parser, span: Span) -> Result<TypeId, Diagnostic> {
        let name = p.ident().unwrap_or_default();
        if !p.eat('{') {
            let key = format!("enum {name}");
            if let Some(&id) = self.records.get(&key) {
                return Ok(id);
            }
            return self.base.find_enum(&name).ok_or_else(|| {
                Diagnostic::error(span, format!("unknown type `{key}` in C definition"))
            });
        }
        let mut values = Vec::new();
        let mut next = 0i64;
        while !p.eat('}') {
            let n = p.ident().ok_or_else(|| p.error("an enumerator name"))?;
            if p.eat('=') {
                next = p.number()?;
            }
            values.push((n, next));
            next += 1;
            if !p.eat(',') {
                p.expect('}')?;
                break;
            }
        }
        let id = self.out.enumeration(&name, &values);
        self.layout.insert(id, (4, 4));
        if !name.is_empty() {
            self.records.insert(format!("enum {name}"), id);
        }
        self.defined += 1;
        Ok(id)
    }

    /// `*`… then a name (or `(*name)(params)`), `[N]`…, and `: bits`.
    fn declarator(&mut self, p: &mut Parser, base: TypeId) -> Result<Declarator, Diagnostic> {
        let mut ty = base;
        while p.eat('*') {
            while QUALIFIERS.iter().any(|q| p.eat_word(q)) {}
            ty = self.pointer(ty);
        }
        let name = if p.eat('(') {
            // A function pointer: only its size matters.
            p.expect('*')?;
            let name = p.ident().ok_or_else(|| p.error("a name"))?;
            p.expect(')')?;
            skip_parens(p)?;
            ty = self.pointer(0);
            name
        } else {
            p.ident().ok_or_else(|| p.error("a member name"))?
        };

        let mut dims = Vec::new();
        while p.eat('[') {
            let n = if p.eat(']') {
                0
            } else {
                let n = p.number()?;
                p.expect(']')?;
                n.max(0) as u32
            };
            dims.push(n);
        }
        for &n in dims.iter().rev() {
            let index = self.int(4, false, false);
            let (size, align) = self.size_align(ty);
            ty = self.out.array(ty, index, n);
            self.layout.insert(ty, (size * n, align));
        }
        let bits = if p.eat(':') {
            Some(p.number()?.clamp(0, 64) as u8)
        } else {
            None
        };
        Ok(Declarator { name, ty, bits })
    }

    /// A member's type must be complete unless it is behind a pointer.
    fn require_complete(&self, ty: TypeId, span: Span) -> Result<(), Diagnostic> {
        match self.incomplete.get(&ty) {
            None => Ok(()),
            Some(what) => Err(Diagnostic::error(
                span,
                format!("unknown type `{what}` in C definition"),
            )
            .with_label("not defined in the script nor in the kernel's BTF")
            .with_note("an undefined struct can only be used through a pointer")),
        }
    }

    fn pointer(&mut self, to: TypeId) -> TypeId {
        let id = self.out.pointer(to);
        self.layout.insert(id, (8, 8));
        id
    }

    /// Member offsets by the x86-64 C rules (bitfields packed into units of their type).
    fn lay_out(&self, members: &[Declarator], union: bool) -> (u32, u32, Vec<MemberSpec>) {
        let (mut bit, mut size_bits, mut max_align) = (0u64, 0u64, 1u32);
        let mut specs = Vec::new();
        for m in members {
            let (size, align) = self.size_align(m.ty);
            max_align = max_align.max(align);
            let unit = u64::from(size) * 8;
            let start = match m.bits {
                Some(0) => {
                    // `: 0` closes the current unit.
                    bit = bit.next_multiple_of(unit.max(8));
                    continue;
                }
                Some(w) if !union => {
                    let w = u64::from(w);
                    // Stay in the current unit of the member's type if the field fits.
                    if unit > 0 && bit / unit != (bit + w - 1) / unit {
                        bit = bit.next_multiple_of(unit);
                    }
                    bit
                }
                _ if union => 0,
                _ => bit.next_multiple_of(u64::from(align) * 8),
            };
            let width = m.bits.map_or(unit, u64::from);
            specs.push(MemberSpec {
                name: m.name.clone(),
                ty: m.ty,
                bit_offset: start as u32,
                bitfield_size: m.bits,
            });
            size_bits = size_bits.max(start + width);
            if !union {
                bit = start + width;
            }
        }
        let size = size_bits.div_ceil(8).next_multiple_of(u64::from(max_align));
        (size as u32, max_align, specs)
    }

    /// Size and alignment of a script or kernel type.
    fn size_align(&self, id: TypeId) -> (u32, u32) {
        if let Some(&l) = self.layout.get(&id) {
            return l;
        }
        let size = self.base.size_of(id).unwrap_or(0) as u32;
        (size, kernel_align(self.base, id, 0))
    }
}

/// Alignment of a kernel type: its scalars' sizes, the largest member's for records.
fn kernel_align(btf: &Btf, id: TypeId, depth: u32) -> u32 {
    let Some(id) = btf.resolve(id) else {
        return 1;
    };
    match btf.get(id) {
        _ if depth > 16 => 8,
        Some(Type::Int { size, .. } | Type::Float { size, .. }) => size.clamp(1, 8),
        Some(Type::Enum(e) | Type::Enum64(e)) => e.size.clamp(1, 8),
        Some(Type::Ptr { .. }) => 8,
        Some(Type::Array { elem, .. }) => kernel_align(btf, elem, depth + 1),
        Some(Type::Struct(c) | Type::Union(c)) => c
            .members
            .map(|m| kernel_align(btf, m.ty, depth + 1))
            .max()
            .unwrap_or(1),
        _ => 1,
    }
}

fn skip_parens(p: &mut Parser) -> Result<(), Diagnostic> {
    p.expect('(')?;
    let mut depth = 1;
    while depth > 0 {
        match p.peek() {
            None => return Err(p.error("`)`")),
            Some(Tok::Punct('(')) => depth += 1,
            Some(Tok::Punct(')')) => depth -= 1,
            _ => {}
        }
        p.at += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::MemberInfo;

    fn vmlinux() -> Arc<Btf> {
        Arc::new(Btf::load_vmlinux().expect("kernel BTF"))
    }

    fn defs(src: &str) -> Vec<CDefinition> {
        vec![CDefinition {
            text: src.to_string(),
            span: Span::new(0, src.len()),
        }]
    }

    fn member(btf: &Btf, record: &str, path: &str) -> MemberInfo {
        let id = btf.find_struct(record).expect("struct defined");
        btf.member(id, path).expect("member")
    }

    #[test]
    fn script_struct_shadows_the_kernel_one_with_c_layout() {
        let base = vmlinux();
        let src = "struct cfs_rq {\n struct load_weight load;\n unsigned long runnable_weight;\n unsigned int nr_running;\n unsigned int h_nr_running;\n};";
        let btf = compile(&defs(src), &base).unwrap().unwrap();
        let id = btf.find_struct("cfs_rq").unwrap();
        assert!(id >= base.end_id(), "the script's definition wins");
        assert_eq!(btf.size_of(id), Some(32));
        assert_eq!(member(&btf, "cfs_rq", "runnable_weight").bit_offset, 128);
        assert_eq!(member(&btf, "cfs_rq", "nr_running").bit_offset, 192);
        assert_eq!(member(&btf, "cfs_rq", "h_nr_running").bit_offset, 224);
    }

    #[test]
    fn alignment_arrays_pointers_bitfields_and_anonymous_members() {
        let base = vmlinux();
        let src = "struct t { char c; u64 x; char name[5]; int *p; unsigned a:3, b:7; union { int i; long l; }; void (*fn)(int, char *); };";
        let btf = compile(&defs(src), &base).unwrap().unwrap();
        assert_eq!(member(&btf, "t", "x").bit_offset, 64);
        assert_eq!(member(&btf, "t", "name").bit_offset, 128);
        assert_eq!(member(&btf, "t", "p").bit_offset, 192);
        let a = member(&btf, "t", "a");
        let b = member(&btf, "t", "b");
        assert_eq!((a.bit_offset, a.bitfield_size), (256, 3));
        assert_eq!((b.bit_offset, b.bitfield_size), (259, 7));
        assert_eq!(member(&btf, "t", "l").bit_offset, 320);
        assert_eq!(member(&btf, "t", "fn").bit_offset, 384);
        assert_eq!(btf.size_of(btf.find_struct("t").unwrap()), Some(56));
    }

    #[test]
    fn nested_kernel_types_and_typedefs() {
        let base = vmlinux();
        let src = "typedef unsigned int myint; struct nameidata { struct path path; struct qstr last; myint depth; };";
        let btf = compile(&defs(src), &base).unwrap().unwrap();
        let path = base.size_of(base.find_struct("path").unwrap()).unwrap() as u32;
        assert_eq!(member(&btf, "nameidata", "last").bit_offset, path * 8);
        assert!(member(&btf, "nameidata", "last.name").bit_offset > path * 8);
    }

    #[test]
    fn enums_and_errors_point_at_the_text() {
        let base = vmlinux();
        let btf = compile(&defs("enum color { RED, GREEN = 5, BLUE };"), &base)
            .unwrap()
            .unwrap();
        let id = btf.find_enum("color").unwrap();
        let Some(Type::Enum(e)) = btf.get(id) else {
            panic!("enum")
        };
        let values: Vec<_> = e.values.map(|v| (v.name.to_string(), v.value)).collect();
        assert_eq!(
            values,
            [("RED".into(), 0), ("GREEN".into(), 5), ("BLUE".into(), 6)]
        );

        let err = compile(&defs("struct x { struct nosuchthing y; };"), &base).unwrap_err();
        assert!(err.message.contains("struct nosuchthing"), "{err:?}");
        assert_eq!(err.span, Span::new(11, 17));
        // Behind a pointer an undefined struct is fine, as in C.
        let btf = compile(&defs("struct x { struct nosuchthing *y; int z; };"), &base)
            .unwrap()
            .unwrap();
        assert_eq!(member(&btf, "x", "z").bit_offset, 64);
        let err = compile(&defs("struct x { int a b; };"), &base).unwrap_err();
        assert!(err.message.contains("expected `;`"), "{err:?}");
        assert!(compile(&defs("#include <linux/sched.h>"), &base)
            .unwrap()
            .is_none());
    }
}
