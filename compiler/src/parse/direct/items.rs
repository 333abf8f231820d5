//! Program structure, probes, blocks and statements, as in the `Program`, `Probes` and
//! `Statements` sections of `rtrace.pest`.

use super::lexemes::{self as lex, Context};
use super::Parser;
use crate::ast::{
    AttachPoint, Block, CDefinition, ConfigItem, Expr, ForIter, MacroDef, Probe, Program, Stmt,
    StmtKind,
};
use crate::parse::attach::check_attach_point;
use crate::parse::shape::{bin_op, if_chain, macro_param};

/// How an action block ends: `}` or the `>` of `< ... >`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closer {
    Brace,
    Angle,
}

impl Closer {
    fn context(self) -> Context {
        match self {
            Closer::Brace => Context::Plain,
            Closer::Angle => Context::Angle,
        }
    }
}

impl Parser<'_> {
    /// `shebang? c_item* config_block? c_item* (preprocessor | probe)* EOI`
    pub fn program(&mut self) -> Option<Program> {
        let mut program = Program {
            config: Vec::new(),
            c_definitions: Vec::new(),
            probes: Vec::new(),
            macros: Vec::new(),
        };
        let at = self.c.start();
        if let Some(end) = lex::shebang(self.c.bytes(), at) {
            self.c.take(end - at);
        }
        self.c_items(&mut program.c_definitions);
        let mark = self.c.mark();
        match self.config_block() {
            Some(items) => program.config = items,
            None => self.c.reset(mark),
        }
        self.c_items(&mut program.c_definitions);
        while !self.c.at_end() {
            let at = self.c.start();
            match lex::preprocessor(self.c.bytes(), at) {
                Some(end) => program.c_definitions.push(self.c_definition(end - at)),
                None => {
                    let mark = self.c.mark();
                    match self.macro_def() {
                        Some(def) => program.macros.push(def),
                        None => {
                            self.c.reset(mark);
                            program.probes.push(self.probe()?);
                        }
                    }
                }
            }
        }
        Some(program)
    }

    /// `(preprocessor | c_definition)*`
    fn c_items(&mut self, items: &mut Vec<CDefinition>) {
        loop {
            let at = self.c.start();
            let b = self.c.bytes();
            match lex::preprocessor(b, at).or_else(|| lex::c_definition(b, at)) {
                Some(end) => items.push(self.c_definition(end - at)),
                None => return,
            }
        }
    }

    /// The next `len` bytes as a C item.
    fn c_definition(&mut self, len: usize) -> CDefinition {
        let (span, text) = self.c.take(len);
        CDefinition {
            text: text.to_string(),
            span,
        }
    }

    /// `config = { config_item? (; config_item?)* }`
    fn config_block(&mut self) -> Option<Vec<ConfigItem>> {
        self.keyword("config")?;
        self.assign_eq()?;
        self.punct("{")?;
        let mut items = Vec::new();
        loop {
            let mark = self.c.mark();
            match self.config_item() {
                Some(item) => items.push(item),
                None => self.c.reset(mark),
            }
            if !self.c.eat(";") {
                break;
            }
        }
        self.punct("}")?;
        Some(items)
    }

    /// `name = expr`
    fn config_item(&mut self) -> Option<ConfigItem> {
        let at = self.c.start();
        let end = lex::word(self.c.bytes(), at)?;
        let key = self.c.take(end - at).1.to_string();
        self.assign_eq()?;
        let value = self.expr(Context::Plain)?;
        Some(ConfigItem {
            key,
            value: self.complete(value)?,
            span: self.c.span_from(at),
        })
    }

    /// `macro name ( (macro_param (, macro_param)*)? ) block`
    fn macro_def(&mut self) -> Option<MacroDef> {
        let at = self.c.start();
        self.keyword("macro")?;
        let name_at = self.c.start();
        let end = lex::word(self.c.bytes(), name_at)?;
        let name = self.c.take(end - name_at).1.to_string();
        self.punct("(")?;
        let mut params = Vec::new();
        if !self.c.at(")") {
            params.push(self.macro_param()?);
            while self.c.eat(",") {
                params.push(self.macro_param()?);
            }
        }
        self.punct(")")?;
        let body = self.block()?;
        Some(MacroDef {
            name,
            params,
            body,
            span: self.c.span_from(at),
        })
    }

    /// `map_name | var | name`
    fn macro_param(&mut self) -> Option<crate::ast::MacroParam> {
        let at = self.c.start();
        let b = self.c.bytes();
        let end = match b.get(at) {
            Some(b'@') => lex::map_name(b, at)?,
            Some(b'$') => lex::var(b, at)?,
            _ => lex::word(b, at)?,
        };
        let (span, text) = self.c.take(end - at);
        Some(macro_param(text, span))
    }

    /// `attach_point (, attach_point)* predicate? (block | angle_block)`
    fn probe(&mut self) -> Option<Probe> {
        let at = self.c.start();
        let mut attach_points = vec![self.attach_point()?];
        while self.c.eat(",") {
            attach_points.push(self.attach_point()?);
        }
        let mark = self.c.mark();
        let predicate = match self.predicate() {
            Some(predicate) => Some(self.complete(predicate)?),
            None => {
                self.c.reset(mark);
                None
            }
        };
        let body = match self.c.peek() {
            Some(b'{') => self.block()?,
            Some(b'<') => self.angle_block()?,
            _ => return None,
        };
        Some(Probe {
            attach_points,
            predicate,
            body,
            span: self.c.span_from(at),
        })
    }

    fn attach_point(&mut self) -> Option<AttachPoint> {
        let at = self.c.start();
        let end = lex::attach_point(self.c.bytes(), at)?;
        let (span, text) = self.c.take(end - at);
        if check_attach_point(text, span).is_err() {
            return self.fall_back();
        }
        Some(AttachPoint {
            text: text.to_string(),
            span,
        })
    }

    /// `/ pred_expr /`
    fn predicate(&mut self) -> Option<Expr> {
        self.slash()?;
        let predicate = self.expr(Context::Predicate)?;
        self.slash()?;
        Some(predicate)
    }

    /// `slash`: a `/` that does not start a comment.
    fn slash(&mut self) -> Option<()> {
        let at_slash = self.c.at("/") && !matches!(self.c.byte_at(1), Some(b'/' | b'*'));
        at_slash.then(|| {
            self.c.take(1);
        })
    }

    /// `{ stmt_list }`
    fn block(&mut self) -> Option<Block> {
        let at = self.c.start();
        self.punct("{")?;
        let stmts = self.stmt_list(Closer::Brace)?;
        self.punct("}")?;
        Some(Block {
            stmts,
            span: self.c.span_from(at),
        })
    }

    /// `< angle_stmt_list >`, followed by what may follow a probe.
    fn angle_block(&mut self) -> Option<Block> {
        let at = self.c.start();
        self.punct("<")?;
        let stmts = self.stmt_list(Closer::Angle)?;
        self.rangle()?;
        let span = self.c.span_from(at);
        let next = self.c.start();
        let follows = match self.c.bytes().get(next) {
            None => true,
            Some(&c) => c.is_ascii_alphabetic() || c == b'_' || c == b'#',
        };
        follows.then_some(Block { stmts, span })
    }

    /// `rangle`: a `>` that is not `>>` or `>=`.
    fn rangle(&mut self) -> Option<()> {
        let at_rangle = self.c.at(">") && !matches!(self.c.byte_at(1), Some(b'>' | b'='));
        at_rangle.then(|| {
            self.c.take(1);
        })
    }

    /// `;* (compound_stmt ;* | simple_stmt (;+ | &closer))*`
    fn stmt_list(&mut self, closer: Closer) -> Option<Vec<Stmt>> {
        let mut stmts = Vec::new();
        while self.c.eat(";") {}
        loop {
            let mark = self.c.mark();
            if let Some(stmt) = self.compound_stmt() {
                stmts.push(stmt);
                while self.c.eat(";") {}
                continue;
            }
            self.c.reset(mark);
            let Some(stmt) = self.simple_stmt(closer.context()) else {
                self.c.reset(mark);
                break;
            };
            let ended = if self.c.eat(";") {
                while self.c.eat(";") {}
                true
            } else {
                match closer {
                    Closer::Brace => self.c.at("}"),
                    Closer::Angle => {
                        let after = self.c.mark();
                        let found = self.rangle().is_some();
                        self.c.reset(after);
                        found
                    }
                }
            };
            if !ended {
                self.c.reset(mark);
                break;
            }
            stmts.push(stmt);
        }
        Some(stmts)
    }

    /// `if_stmt | unroll_stmt | while_stmt | for_stmt | block_stmt`
    fn compound_stmt(&mut self) -> Option<Stmt> {
        let at = self.c.start();
        let b = self.c.bytes();
        if b.get(at) == Some(&b'{') {
            let block = self.block()?;
            let span = block.span;
            return Some(Stmt {
                kind: StmtKind::Block(block),
                span,
            });
        }
        let keyword = lex::word(b, at).map(|end| &self.c.src[at..end])?;
        let kind = match keyword {
            "if" => return self.if_stmt(at),
            "unroll" | "while" => {
                self.keyword(keyword)?;
                let head = self.expr(Context::Plain)?;
                let head = self.complete(head)?;
                let body = self.block()?;
                if keyword == "while" {
                    StmtKind::While { cond: head, body }
                } else {
                    StmtKind::Unroll { count: head, body }
                }
            }
            "for" => self.for_stmt()?,
            _ => return None,
        };
        Some(Stmt {
            kind,
            span: self.c.span_from(at),
        })
    }

    /// `if expr block (else if expr block)* (else block)?`
    fn if_stmt(&mut self, at: usize) -> Option<Stmt> {
        self.keyword("if")?;
        let cond = self.expr(Context::Plain)?;
        let cond = self.complete(cond)?;
        let then = self.block()?;
        let mut else_ifs = Vec::new();
        loop {
            let mark = self.c.mark();
            let start = self.c.start();
            match self.else_if() {
                Some((cond, then)) => else_ifs.push((self.complete(cond)?, then, start)),
                None => {
                    self.c.reset(mark);
                    break;
                }
            }
        }
        let mark = self.c.mark();
        let els = match self.keyword("else").and_then(|()| self.block()) {
            Some(block) => Some(block),
            None => {
                self.c.reset(mark);
                None
            }
        };
        Some(if_chain(cond, then, else_ifs, els, self.c.span_from(at)))
    }

    /// `else if expr block`
    fn else_if(&mut self) -> Option<(Expr, Block)> {
        self.keyword("else")?;
        self.keyword("if")?;
        let cond = self.expr(Context::Plain)?;
        Some((cond, self.block()?))
    }

    /// `for (( for_head ) | for_head) block`, `for_head` being `var : (expr .. expr | expr)`.
    fn for_stmt(&mut self) -> Option<StmtKind> {
        self.keyword("for")?;
        let mark = self.c.mark();
        let parenthesised = self.punct("(").and_then(|()| {
            let head = self.for_head()?;
            self.punct(")")?;
            Some(head)
        });
        let (var, iter) = match parenthesised {
            Some(head) => head,
            None => {
                self.c.reset(mark);
                self.for_head()?
            }
        };
        let iter = match iter {
            ForIter::Range(from, to) => ForIter::Range(self.complete(from)?, self.complete(to)?),
            ForIter::Map(map) => ForIter::Map(self.complete(map)?),
        };
        let body = self.block()?;
        Some(StmtKind::For { var, iter, body })
    }

    fn for_head(&mut self) -> Option<(String, ForIter)> {
        let at = self.c.start();
        let end = lex::var(self.c.bytes(), at)?;
        let var = self.c.take(end - at).1[1..].to_string();
        self.punct(":")?;
        let mark = self.c.mark();
        let range = self.expr(Context::Plain).and_then(|from| {
            self.punct("..")?;
            Some(ForIter::Range(from, self.expr(Context::Plain)?))
        });
        let iter = match range {
            Some(range) => range,
            None => {
                self.c.reset(mark);
                ForIter::Map(self.expr(Context::Plain)?)
            }
        };
        Some((var, iter))
    }

    /// `jump_stmt | let_stmt | assign_stmt | expr_stmt` (their angle variants in `< >`).
    fn simple_stmt(&mut self, context: Context) -> Option<Stmt> {
        let at = self.c.start();
        let b = self.c.bytes();
        let word = lex::word(b, at).map(|end| &self.c.src[at..end]);
        let kind = match word {
            Some(jump @ ("break" | "continue" | "return")) => {
                self.keyword(jump)?;
                match jump {
                    "break" => StmtKind::Break,
                    "continue" => StmtKind::Continue,
                    _ => StmtKind::Return,
                }
            }
            Some("let") => self.let_stmt(context)?,
            _ => self.assign_or_expr(context)?,
        };
        Some(Stmt {
            kind,
            span: self.c.span_from(at),
        })
    }

    /// `let var (= expr)?`
    fn let_stmt(&mut self, context: Context) -> Option<StmtKind> {
        self.keyword("let")?;
        let at = self.c.start();
        let end = lex::var(self.c.bytes(), at)?;
        let name = self.c.take(end - at).1[1..].to_string();
        let mark = self.c.mark();
        let value = match self.assign_eq().and_then(|()| self.expr(context)) {
            Some(value) => Some(self.complete(value)?),
            None => {
                self.c.reset(mark);
                None
            }
        };
        Some(StmtKind::Let { name, value })
    }

    /// `unary assign_op expr`, else `expr`.
    fn assign_or_expr(&mut self, context: Context) -> Option<StmtKind> {
        let mark = self.c.mark();
        let target = self.unary()?;
        let at = self.c.start();
        let Some(end) = lex::assign_op(self.c.bytes(), at) else {
            let value = self.expr_from(target, context)?;
            return Some(StmtKind::Expr(self.complete(value)?));
        };
        let op_text = self.c.take(end - at).1;
        let op = match op_text.strip_suffix('=') {
            Some("") => None,
            Some(op) => Some(bin_op(op).expect("compound assignments name binary operators")),
            None => unreachable!("every assignment operator ends in `=`"),
        };
        match self.expr(context) {
            Some(value) => Some(StmtKind::Assign {
                target,
                op,
                value: self.complete(value)?,
            }),
            None => {
                self.c.reset(mark);
                let value = self.expr(context)?;
                Some(StmtKind::Expr(self.complete(value)?))
            }
        }
    }

    /// `assign_eq`: `=` but not `==`.
    fn assign_eq(&mut self) -> Option<()> {
        (self.c.at("=") && self.c.byte_at(1) != Some(b'=')).then(|| {
            self.c.take(1);
        })
    }
}
