//! Expressions, unary chains, primaries and type names, as in the `Expressions` and `Type
//! names` sections of `rtrace.pest`.

use super::lexemes::{self as lex, Context, Dollar};
use super::Parser;
use crate::ast::{Expr, ExprKind, SizeofArg, Span, TypeName};
use crate::parse::literal::{parse_int, parse_string};
use crate::parse::shape::{apply_prefixes, fold_ternary, prefix_op, BinaryChain, Prefix};

impl Parser<'_> {
    /// `expr`, `pred_expr` or `angle_expr`: a binary chain followed by ternary tails.
    pub fn expr(&mut self, context: Context) -> Option<Expr> {
        let first = self.unary()?;
        self.expr_from(first, context)
    }

    /// An expression whose first operand is already parsed (an expression statement that
    /// turned out not to be an assignment).
    pub fn expr_from(&mut self, first: Expr, context: Context) -> Option<Expr> {
        let first = self.binary_from(first, context)?;
        let mut tails = Vec::new();
        loop {
            let mark = self.c.mark();
            match self.ternary_tail(context) {
                Some(tail) => tails.push(tail),
                None => {
                    self.c.reset(mark);
                    break;
                }
            }
            self.grew(1)?;
        }
        Some(if tails.is_empty() {
            first
        } else {
            fold_ternary(first, tails)
        })
    }

    /// `? expr : binary`
    fn ternary_tail(&mut self, context: Context) -> Option<(Expr, Expr)> {
        self.punct("?")?;
        let then = self.expr(Context::Plain)?;
        self.punct(":")?;
        let first = self.unary()?;
        Some((then, self.binary_from(first, context)?))
    }

    /// `unary (infix_op unary)*` after the first operand.
    fn binary_from(&mut self, first: Expr, context: Context) -> Option<Expr> {
        let mut chain: Option<BinaryChain> = None;
        let mut pending = Some(first);
        loop {
            let mark = self.c.mark();
            let at = self.c.start();
            let Some((op, len)) = lex::infix_op(self.c.bytes(), at, context) else {
                break;
            };
            self.c.take(len);
            let Some(rhs) = self.unary() else {
                self.c.reset(mark);
                break;
            };
            self.grew(1)?;
            let chain = chain.get_or_insert_with(|| self.chains.pop().unwrap_or_default());
            if let Some(lhs) = pending.take() {
                chain.operand(lhs);
            }
            chain.operator(op);
            chain.operand(rhs);
        }
        match (pending, chain) {
            (Some(alone), _) => Some(alone),
            (None, Some(mut chain)) => {
                let folded = chain.finish();
                self.chains.push(chain);
                folded
            }
            (None, None) => None,
        }
    }

    /// `(prefix_op | cast_prefix)* primary postfix*`.
    pub fn unary(&mut self) -> Option<Expr> {
        let mut prefixes: Vec<(Prefix, usize)> = Vec::new();
        loop {
            let at = self.c.start();
            if let Some(end) = lex::prefix_op(self.c.bytes(), at) {
                let (_, text) = self.c.take(end - at);
                prefixes.push((prefix_op(text).expect("a prefix operator"), at));
            } else {
                let mark = self.c.mark();
                match self.cast_prefix() {
                    Some(ty) => prefixes.push((Prefix::Cast(ty), at)),
                    None => {
                        self.c.reset(mark);
                        break;
                    }
                }
            }
            self.grew(1)?;
        }
        let mut operand = self.primary()?;
        self.grew(1)?;
        loop {
            let mark = self.c.mark();
            match self.postfix(operand) {
                Ok(extended) => operand = extended,
                Err(base) => {
                    self.c.reset(mark);
                    operand = base;
                    break;
                }
            }
            self.grew(1)?;
        }
        Some(if prefixes.is_empty() {
            operand
        } else {
            apply_prefixes(prefixes, operand)
        })
    }

    /// `( type_name )`
    fn cast_prefix(&mut self) -> Option<TypeName> {
        self.punct("(")?;
        let ty = self.type_name()?;
        self.punct(")")?;
        Some(ty)
    }

    /// One postfix applied to `base`, or `base` back when none follows.
    fn postfix(&mut self, base: Expr) -> Result<Expr, Expr> {
        let at = self.c.start();
        let b = self.c.bytes();
        let kind = match (b.get(at), b.get(at + 1)) {
            (Some(b'.'), next) if next != Some(&b'.') => {
                self.c.take(1);
                self.field_or_tuple_index()
            }
            (Some(b'-'), Some(b'>')) => {
                self.c.take(2);
                self.field_name().map(|field| Postfix::Field(field, true))
            }
            (Some(b'['), _) => {
                self.c.take(1);
                self.index_rest()
            }
            (Some(b'+'), Some(b'+')) | (Some(b'-'), Some(b'-')) => {
                let (_, text) = self.c.take(2);
                Some(Postfix::IncDec(text == "++"))
            }
            _ => None,
        };
        let Some(kind) = kind else {
            return Err(base);
        };
        let span = Span::new(base.span.start, self.c.span_from(at).end);
        let expr = Box::new(base);
        let kind = match kind {
            Postfix::Field(field, arrow) => ExprKind::Field { expr, field, arrow },
            Postfix::TupleIndex(index) => ExprKind::TupleIndex { expr, index },
            Postfix::Index(index) => ExprKind::Index {
                expr,
                index: Box::new(index),
            },
            Postfix::IncDec(increment) => ExprKind::IncDec {
                target: expr,
                increment,
                prefix: false,
            },
        };
        Ok(Expr { kind, span })
    }

    /// After `[`: `expr ]`.
    fn index_rest(&mut self) -> Option<Postfix> {
        let index = self.expr(Context::Plain)?;
        self.punct("]")?;
        Some(Postfix::Index(index))
    }

    /// After `.`: `name` (`field_access`) or digits (`tuple_index`).
    fn field_or_tuple_index(&mut self) -> Option<Postfix> {
        if let Some(field) = self.field_name() {
            return Some(Postfix::Field(field, false));
        }
        let at = self.c.start();
        let b = self.c.bytes();
        let digits = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let text = self.c.take(digits).1;
        Some(Postfix::TupleIndex(self.small_number(text)))
    }

    fn field_name(&mut self) -> Option<String> {
        let at = self.c.start();
        let end = lex::word(self.c.bytes(), at)?;
        Some(self.c.take(end - at).1.to_string())
    }

    /// `int_lit | str_lit | sizeof_expr | offsetof_expr | call | map_expr | positional_count
    /// | positional | var | ident | paren`, chosen by the first byte.
    fn primary(&mut self) -> Option<Expr> {
        let at = self.c.start();
        let b = self.c.bytes();
        let kind = match *b.get(at)? {
            c if c.is_ascii_digit() => {
                let end = lex::int_lit(b, at)?;
                let (span, text) = self.c.take(end - at);
                match parse_int(text, span) {
                    Ok(value) => ExprKind::Int(value),
                    Err(_) => return self.fall_back(),
                }
            }
            b'"' => {
                let end = lex::str_lit(b, at)?;
                let (span, text) = self.c.take(end - at);
                match parse_string(text, span) {
                    Ok(bytes) => ExprKind::Str(bytes),
                    Err(_) => return self.fall_back(),
                }
            }
            b'$' => self.dollar(at)?,
            b'@' => self.map_expr(at)?,
            b'(' => return self.paren(at),
            _ => return self.word_primary(at),
        };
        Some(Expr {
            kind,
            span: self.c.span_from(at),
        })
    }

    fn dollar(&mut self, at: usize) -> Option<ExprKind> {
        let (end, which) = lex::dollar(self.c.bytes(), at)?;
        let text = self.c.take(end - at).1;
        Some(match which {
            Dollar::Count => ExprKind::PositionalCount,
            Dollar::Positional => ExprKind::Positional(self.small_number(&text[1..])),
            Dollar::Var => ExprKind::Var(text[1..].to_string()),
        })
    }

    /// `map_name map_keys?`
    fn map_expr(&mut self, at: usize) -> Option<ExprKind> {
        let end = lex::map_name(self.c.bytes(), at)?;
        let name = self.c.take(end - at).1[1..].to_string();
        let mark = self.c.mark();
        let keys = match self.list("[", "]") {
            Some(keys) => keys,
            None => {
                self.c.reset(mark);
                Vec::new()
            }
        };
        Some(ExprKind::Map { name, keys })
    }

    /// `open expr (, expr)* close`
    fn list(&mut self, open: &str, close: &str) -> Option<Vec<Expr>> {
        self.punct(open)?;
        let mut items = vec![self.expr(Context::Plain)?];
        while self.c.eat(",") {
            items.push(self.expr(Context::Plain)?);
        }
        self.punct(close)?;
        Some(items)
    }

    /// `paren`: `(e)` is `e` widened to the parentheses; `(a, b, ...)` is a tuple.
    fn paren(&mut self, at: usize) -> Option<Expr> {
        self.punct("(")?;
        let first = self.expr(Context::Plain)?;
        if self.c.eat(")") {
            return Some(Expr {
                span: self.c.span_from(at),
                ..first
            });
        }
        let mut items = vec![first];
        while self.c.eat(",") {
            items.push(self.expr(Context::Plain)?);
        }
        self.punct(")")?;
        Some(Expr {
            kind: ExprKind::Tuple(items),
            span: self.c.span_from(at),
        })
    }

    /// Primaries starting with a name: `sizeof(..)`, `offsetof(..)`, `f(..)`, `ident`.
    fn word_primary(&mut self, at: usize) -> Option<Expr> {
        let end = lex::word(self.c.bytes(), at)?;
        let word = &self.c.src[at..end];
        let kind = match word {
            "sizeof" => self.sizeof()?,
            "offsetof" => self.offsetof()?,
            _ if lex::is_keyword(word) => return None,
            _ => {
                let name = self.c.take(end - at).1.to_string();
                let mark = self.c.mark();
                let args = match self.c.peek() {
                    Some(b'(') => self.call_args(),
                    _ => None,
                };
                match args {
                    Some(args) => ExprKind::Call { name, args },
                    None => {
                        self.c.reset(mark);
                        ExprKind::Ident(name)
                    }
                }
            }
        };
        Some(Expr {
            kind,
            span: self.c.span_from(at),
        })
    }

    /// `( (expr (, expr)*)? )`
    fn call_args(&mut self) -> Option<Vec<Expr>> {
        self.punct("(")?;
        if self.c.eat(")") {
            return Some(Vec::new());
        }
        let mut args = vec![self.expr(Context::Plain)?];
        while self.c.eat(",") {
            args.push(self.expr(Context::Plain)?);
        }
        self.punct(")")?;
        Some(args)
    }

    /// `sizeof ( type_name &) | expr )`
    fn sizeof(&mut self) -> Option<ExprKind> {
        self.keyword("sizeof")?;
        self.punct("(")?;
        let mark = self.c.mark();
        let arg = match self.type_name() {
            Some(ty) if self.c.at(")") => SizeofArg::Type(ty),
            _ => {
                self.c.reset(mark);
                SizeofArg::Expr(Box::new(self.expr(Context::Plain)?))
            }
        };
        self.punct(")")?;
        Some(ExprKind::Sizeof(arg))
    }

    /// `offsetof ( (type_name | plain_type) , name (. name)* )`
    fn offsetof(&mut self) -> Option<ExprKind> {
        self.keyword("offsetof")?;
        self.punct("(")?;
        let mark = self.c.mark();
        let ty = match self.type_name() {
            Some(ty) => ty,
            None => {
                self.c.reset(mark);
                let at = self.c.start();
                let end = lex::word(self.c.bytes(), at)?;
                let (span, text) = self.c.take(end - at);
                TypeName {
                    base: text.to_string(),
                    pointer_depth: 0,
                    array_len: None,
                    span,
                }
            }
        };
        self.punct(",")?;
        let mut field = vec![self.field_name()?];
        loop {
            let mark = self.c.mark();
            let next = self.dot().and_then(|()| self.field_name());
            match next {
                Some(name) => field.push(name),
                None => {
                    self.c.reset(mark);
                    break;
                }
            }
        }
        self.punct(")")?;
        Some(ExprKind::Offsetof { ty, field })
    }

    /// `dot`: a `.` that does not start `..`.
    fn dot(&mut self) -> Option<()> {
        (self.c.at(".") && self.c.byte_at(1) != Some(b'.')).then(|| {
            self.c.take(1);
        })
    }

    /// `type_base pointer_star* array_suffix?`
    fn type_name(&mut self) -> Option<TypeName> {
        let at = self.c.start();
        let end = lex::type_base(self.c.bytes(), at)?;
        let base = self.c.take(end - at).1;
        let base = if base.contains(|c: char| c.is_ascii_whitespace()) {
            base.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            base.to_string()
        };
        let mut pointer_depth = 0;
        while self.c.eat("*") {
            pointer_depth += 1;
        }
        let mark = self.c.mark();
        let array_len = match self.array_suffix() {
            Some(len) => Some(len),
            None => {
                self.c.reset(mark);
                None
            }
        };
        Some(TypeName {
            base,
            pointer_depth,
            array_len,
            span: self.c.span_from(at),
        })
    }

    /// `[ int_lit ]`, the length fitting in 32 bits.
    fn array_suffix(&mut self) -> Option<u32> {
        self.punct("[")?;
        let at = self.c.start();
        let end = lex::int_lit(self.c.bytes(), at)?;
        let (span, text) = self.c.take(end - at);
        self.punct("]")?;
        let value = parse_int(text, span)
            .ok()
            .and_then(|v| u32::try_from(v).ok());
        match value {
            Some(len) => Some(len),
            None => self.fall_back(),
        }
    }

    /// A decimal token that must fit in 32 bits; pest's builder reports one that does not.
    fn small_number(&mut self, digits: &str) -> u32 {
        digits.parse::<u32>().unwrap_or_else(|_| {
            self.fall_back::<()>();
            0
        })
    }
}

/// What a postfix adds.
enum Postfix {
    Field(String, bool),
    TupleIndex(u32),
    Index(Expr),
    IncDec(bool),
}
