//! Parser: script text → [`ast::Program`](crate::ast::Program) with a byte span on every node.
//!
//! The grammar is `grammar/rtrace.pest` (pest). Steps:
//! 1. `scan`: a quick lexical pass that matches brackets and finds unterminated strings and
//!    comments; it also bounds the nesting depth so parsing stays far from the stack limit.
//! 2. pest parses the text; on failure `errors` turns what pest tried into words
//!    ("expected `;` or `}`, found `@y`", see `expect`, `token`, `hints`), using the scan
//!    to point at unclosed blocks.
//! 3. `build` and `expr` turn the pairs into the AST: C operator precedence, literal
//!    decoding (`literal`), attach point shape checks (`attach`).
//!
//! Two delimiter rules (see `rtrace.pest`): in a predicate `/ e /` a top-level `/` ends the
//! predicate, so division goes in parentheses; in an angle action `< stmts >` a top-level lone `>`
//! ends the action (`>=`, `>>`, `->` still work), so comparisons go in parentheses: `(a > b)`.

mod attach;
mod build;
mod errors;
mod expect;
mod expr;
mod hints;
mod literal;
mod pairs;
mod scan;
mod token;
mod types;

use pest::Parser;
use rtrace_grammar::{Rule, ScriptParser};

use crate::ast::{Program, Span};
use crate::diag::Diagnostic;

pub use expr::MAX_EXPR_DEPTH;
pub use scan::MAX_NESTING;

/// Stack for the parsing thread. pest's recursive descent uses tens of KiB per nesting level
/// in debug builds; [`MAX_NESTING`] levels fit easily, whatever the caller's stack is.
const PARSER_STACK: usize = 64 << 20;

/// Parses a whole script.
///
/// The work runs on a helper thread with a large stack (only the pages used are committed),
/// so deep but legal nesting cannot overflow a small caller stack such as a test thread's.
pub fn parse(source: &str) -> Result<Program, Diagnostic> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("rtrace-parse".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || parse_here(source));
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|_| Err(crashed())),
            // No thread available: parse on this one.
            Err(_) => parse_here(source),
        }
    })
}

/// A parser panic, which would be a bug, reported as an error instead of propagated.
fn crashed() -> Diagnostic {
    Diagnostic::error(Span::default(), "internal parser error: the parser crashed")
}

/// Parses on the current thread.
fn parse_here(source: &str) -> Result<Program, Diagnostic> {
    let problem = scan::scan(source);
    if let Some(too_deep @ scan::Problem::TooDeep { .. }) = &problem {
        return Err(errors::from_problem(too_deep, source));
    }
    match ScriptParser::parse(Rule::program, source) {
        Ok(pairs) => {
            let whole = Span::new(0, source.len());
            build::program(pairs::single(pairs, whole)?)
        }
        Err(error) => Err(errors::from_pest(&error, source, problem.as_ref())),
    }
}
