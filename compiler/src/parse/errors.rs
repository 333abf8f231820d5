//! Parse errors in words: pest's "positives" (rules it tried at the failing position) become
//! "expected `;` or `}`, found `@y`"; problems found by the delimiter scan (unclosed blocks,
//! stray closers, unterminated strings) are reported with both ends when they explain the
//! failure better.

use pest::error::{Error as PestError, ErrorVariant, InputLocation};
use rtrace_grammar::Rule;

use super::expect::{expectations, join_or};
use super::hints::{angle_close_error, attach_point_char_error, misplaced_config_error, note_for};
use super::scan::{closer_of, Problem, MAX_NESTING};
use super::token::token_at;
use crate::ast::Span;
use crate::diag::Diagnostic;

/// Turns a pest failure into a diagnostic, preferring the scan's problem when it lies at or
/// before the failing position.
pub fn from_pest(error: &PestError<Rule>, source: &str, problem: Option<&Problem>) -> Diagnostic {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    if let Some(problem) = problem {
        if explains_failure(problem, pos, source) {
            return from_problem(problem, source);
        }
    }
    let diagnostic = match &error.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => expected_diagnostic(positives, negatives, pos, source),
        ErrorVariant::CustomError { message } => {
            Diagnostic::error(token_at(source, pos).0, message.clone())
        }
    };
    with_unclosed_hint(diagnostic, problem, pos)
}

/// Does the scan's problem explain a parse failure at `pos`?
fn explains_failure(problem: &Problem, pos: usize, source: &str) -> bool {
    match problem {
        // An unclosed opener explains a failure only at the end of the input.
        Problem::Unclosed { .. } => source[pos.min(source.len())..].trim().is_empty(),
        other => other.position(source.len()) <= pos,
    }
}

/// A diagnostic for a problem found by the delimiter scan.
pub fn from_problem(problem: &Problem, source: &str) -> Diagnostic {
    let end = Span::new(source.len(), source.len());
    match *problem {
        Problem::Unclosed { open, opener } => {
            let closer = closer_of(opener);
            let what = if opener == '{' {
                "block".to_string()
            } else {
                format!("`{opener}`")
            };
            Diagnostic::error(end, format!("unclosed {what}: expected `{closer}`"))
                .with_label(format!(
                    "expected `{closer}` to close the {what} opened here"
                ))
                .with_secondary(open, format!("this `{opener}` is never closed"))
        }
        Problem::Mismatched {
            open,
            opener,
            close,
            closer,
        } => Diagnostic::error(close, format!("unexpected `{closer}`"))
            .with_label(format!("expected `{}` here", closer_of(opener)))
            .with_secondary(open, format!("this `{opener}` is not closed")),
        Problem::Stray { close, closer } => {
            Diagnostic::error(close, format!("unexpected `{closer}`"))
                .with_label(format!("this `{closer}` has no matching opening bracket"))
        }
        Problem::UnterminatedString { open } => {
            Diagnostic::error(open, "unterminated string literal")
                .with_label("this string has no closing `\"`")
                .with_note("a string must end on the line where it starts")
        }
        Problem::UnterminatedComment { open } => {
            Diagnostic::error(open, "unterminated block comment")
                .with_label("this `/*` has no matching `*/`")
        }
        Problem::TooDeep { at } => Diagnostic::error(at, "nesting is too deep")
            .with_label(format!("more than {MAX_NESTING} levels of nesting here")),
    }
}

/// When a pest error is reported while some earlier opener is never closed, point at it too:
/// a missing `}` often shows up as a strange error further down.
fn with_unclosed_hint(diagnostic: Diagnostic, problem: Option<&Problem>, pos: usize) -> Diagnostic {
    match problem {
        Some(&Problem::Unclosed { open, opener }) if open.start < pos => {
            diagnostic.with_secondary(open, format!("this `{opener}` is never closed"))
        }
        Some(&Problem::Mismatched { open, opener, .. }) if open.start < pos => {
            diagnostic.with_secondary(open, format!("this `{opener}` is not closed"))
        }
        _ => diagnostic,
    }
}

/// "expected A, B or C, found `x`" from the rules pest tried at `pos`.
fn expected_diagnostic(
    positives: &[Rule],
    negatives: &[Rule],
    pos: usize,
    source: &str,
) -> Diagnostic {
    if let Some(diagnostic) = attach_point_char_error(positives, source, pos) {
        return diagnostic;
    }
    if let Some(diagnostic) = angle_close_error(positives, source, pos) {
        return diagnostic;
    }
    if let Some(diagnostic) = misplaced_config_error(positives, source, pos) {
        return diagnostic;
    }
    let (span, found) = token_at(source, pos);
    let expected = expectations(positives);
    if expected.is_empty() {
        let message = match negatives.first() {
            Some(rule) if *rule == Rule::ident => format!("unexpected keyword {found}"),
            _ => format!("unexpected {found}"),
        };
        return Diagnostic::error(span, message).with_label("not expected here");
    }
    let list = join_or(&expected);
    let mut diagnostic = Diagnostic::error(span, format!("expected {list}, found {found}"))
        .with_label(format!("expected {list} here"));
    if let Some(note) = note_for(positives, source, pos) {
        diagnostic = diagnostic.with_note(note);
    }
    diagnostic
}
