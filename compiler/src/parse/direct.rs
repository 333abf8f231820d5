//! The direct parser: a hand-written recursive-descent transliteration of `rtrace.pest` that
//! builds the AST straight from the bytes.
//!
//! pest pays for every rule, choice and implicit whitespace skip it tries, and the pairs it
//! returns are walked again by the builder; on a 10,000-statement script that is over 100 ms.
//! This parser takes the same decisions as the grammar — ordered choices, greedy repetitions,
//! lookaheads, the same token rules (`lexemes`) — with a one-byte look at what comes next, and
//! shapes nodes with the builder's helpers (`shape`), so its tree, spans included, is the
//! pest builder's tree.
//!
//! It only ever accepts: on any input it does not parse, or that the pest builder would
//! reject (a bad literal, a bad attach point, an expression nested too deeply, an unclosed
//! `/*`), it returns `None` and the caller runs pest, which also words the error.

mod cursor;
mod exprs;
mod items;
mod lexemes;

use cursor::Cursor;

use crate::ast::{Expr, Program};
use crate::parse::shape::{within_depth, BinaryChain, MAX_EXPR_DEPTH};

/// Parses `source`, or `None` when pest must do it (see the module documentation).
pub fn parse(source: &str) -> Option<Program> {
    let mut parser = Parser {
        c: Cursor::new(source),
        must_fall_back: false,
        unchecked_nodes: 0,
        chains: Vec::new(),
    };
    let program = parser.program()?;
    let clean = !parser.must_fall_back && !parser.c.unterminated_comment;
    clean.then_some(program)
}

/// Expression nodes the parser builds before the depth check of [`Parser::complete`]. Trees
/// the parser abandons are dropped recursively, so this bounds the stack that takes; larger
/// expressions (deeper than [`MAX_EXPR_DEPTH`] or unusually big) are left to pest.
const NODE_BUDGET: usize = 4 * MAX_EXPR_DEPTH;

struct Parser<'a> {
    c: Cursor<'a>,
    /// Set when the pest builder would report an error the direct parser does not word.
    must_fall_back: bool,
    /// Nodes built since the last [`Parser::complete`].
    unchecked_nodes: usize,
    /// Emptied operator chains, kept to reuse their buffers.
    chains: Vec<BinaryChain>,
}

impl Parser<'_> {
    /// Leaves this input to pest.
    fn fall_back<T>(&mut self) -> Option<T> {
        self.must_fall_back = true;
        None
    }

    /// A punctuation token without lookahead (`(`, `;`, `..`, ...).
    fn punct(&mut self, text: &str) -> Option<()> {
        self.c.eat(text).then_some(())
    }

    /// A keyword: the word, not followed by a name character.
    fn keyword(&mut self, word: &str) -> Option<()> {
        let at = self.c.start();
        let end = lexemes::keyword_at(self.c.bytes(), at, word)?;
        self.c.take(end - at);
        Some(())
    }

    /// Counts `nodes` new expression nodes against [`NODE_BUDGET`].
    fn grew(&mut self, nodes: usize) -> Option<()> {
        self.unchecked_nodes += nodes;
        if self.unchecked_nodes > NODE_BUDGET {
            return self.fall_back();
        }
        Some(())
    }

    /// A complete expression (value, condition, predicate), within the depth limit.
    fn complete(&mut self, expr: Expr) -> Option<Expr> {
        self.unchecked_nodes = 0;
        match within_depth(expr) {
            Ok(expr) => Some(expr),
            Err(_) => self.fall_back(),
        }
    }
}

#[cfg(test)]
mod tests;
