//! Parser: script text → [`ast::Program`](crate::ast::Program) with a byte span on every node.
//!
//! The grammar is `grammar/rtrace.pest` (pest). Steps:
//! 1. `scan`: a quick lexical pass that matches brackets and finds unterminated strings and
//!    comments; it also bounds the nesting depth so parsing stays far from the stack limit.
//! 2. `direct`: a hand-written transliteration of the grammar builds the AST straight from the
//!    bytes, about ten times faster than pest and its pairs. It accepts only what pest
//!    accepts, building the same tree; anything else it leaves to step 3.
//! 3. pest parses the text; on failure `errors` turns what pest tried into words
//!    ("expected `;` or `}`, found `@y`", see `expect`, `token`, `hints`), using the scan
//!    to point at unclosed blocks. On success `build` and `expr` turn the pairs into the AST:
//!    C operator precedence, literal decoding (`literal`), attach point shape checks
//!    (`attach`). Both front ends shape nodes with `shape`.
//!
//! Two delimiter rules (see `rtrace.pest`): in a predicate `/ e /` a top-level `/` ends the
//! predicate, so division goes in parentheses; in an angle action `< stmts >` a top-level lone `>`
//! ends the action (`>=`, `>>`, `->` still work), so comparisons go in parentheses: `(a > b)`.

mod attach;
mod build;
mod direct;
mod errors;
mod expect;
mod expr;
mod hints;
mod literal;
mod pairs;
mod scan;
mod shape;
mod token;
mod types;

use pest::Parser;
use rtrace_grammar::{Rule, ScriptParser};

use crate::ast::{Program, Span};
use crate::diag::Diagnostic;

pub use scan::MAX_NESTING;
pub use shape::MAX_EXPR_DEPTH;

/// Stack for the parsing thread. pest's recursive descent uses tens of KiB per nesting level
/// in debug builds; [`MAX_NESTING`] levels fit easily, whatever the caller's stack is.
const PARSER_STACK: usize = 64 << 20;

/// Nesting up to which the direct parser runs on the caller's thread. It uses at most ~9 KiB
/// of stack per level in debug builds (~3 KiB optimised), so under 300 KiB here.
const CALLER_STACK_NESTING: usize = 32;

/// Parses a whole script.
///
/// Shallow scripts (nearly all) are parsed by the direct parser on the caller's thread. Deeper
/// ones, and whatever the direct parser leaves to pest, are parsed on a helper thread with a
/// large stack (only the pages used are committed), so deep but legal nesting cannot overflow
/// a small caller stack such as a test thread's. Avoiding the thread matters for speed: its
/// allocations would come from a separate malloc arena, and once a second thread has existed
/// every allocation of the process takes a lock.
pub fn parse(source: &str) -> Result<Program, Diagnostic> {
    let scanned = scan::scan(source);
    if let Some(too_deep @ scan::Problem::TooDeep { .. }) = &scanned.problem {
        return Err(errors::from_problem(too_deep, source));
    }
    let shallow = scanned.problem.is_none() && scanned.deepest <= CALLER_STACK_NESTING;
    if shallow {
        match std::panic::catch_unwind(|| direct::parse(source)) {
            Ok(Some(program)) => return Ok(program),
            Ok(None) => {}
            Err(_) => return Err(crashed()),
        }
    }
    on_large_stack(|| parse_here(source, &scanned, !shallow))
}

/// Runs `work` on a helper thread with a [`PARSER_STACK`] stack (on this one if no thread can
/// be started).
fn on_large_stack<T: Send>(
    work: impl Fn() -> Result<T, Diagnostic> + Sync,
) -> Result<T, Diagnostic> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("rtrace-parse".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, &work);
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|_| Err(crashed())),
            // No thread available: parse on this one.
            Err(_) => work(),
        }
    })
}

/// A parser panic, which would be a bug, reported as an error instead of propagated.
fn crashed() -> Diagnostic {
    Diagnostic::error(Span::default(), "internal parser error: the parser crashed")
}

/// Parses on the current thread: directly if `try_direct`, else (or if that declines) with
/// pest.
fn parse_here(source: &str, scanned: &scan::Scan, try_direct: bool) -> Result<Program, Diagnostic> {
    if try_direct {
        if let Some(program) = direct::parse(source) {
            return Ok(program);
        }
    }
    with_pest(source, scanned)
}

/// Parses with pest and builds the AST from its pairs; on failure, words the error.
fn with_pest(source: &str, scanned: &scan::Scan) -> Result<Program, Diagnostic> {
    match ScriptParser::parse(Rule::program, source) {
        Ok(pairs) => {
            let whole = Span::new(0, source.len());
            build::program(pairs::single(pairs, whole)?)
        }
        Err(error) => Err(errors::from_pest(&error, source, scanned.problem.as_ref())),
    }
}
