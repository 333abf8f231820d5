//! Small helpers over pest pairs shared by the AST builders.

use pest::iterators::{Pair, Pairs};
use rtrace_grammar::Rule;

use crate::ast::Span;
use crate::diag::Diagnostic;

pub type Result<T> = std::result::Result<T, Diagnostic>;

/// The byte span of a pair, without trailing whitespace or comments.
///
/// pest keeps the whitespace skipped before an optional part that then did not match (the
/// `;`-less end of `$x = 1 ;`), so the end is taken from the last token inside the pair.
pub fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), end_of(pair))
}

fn end_of(pair: &Pair<'_, Rule>) -> usize {
    let mut last = pair.clone();
    while let Some(inner) = last.clone().into_inner().next_back() {
        last = inner;
    }
    last.as_span().end()
}

/// Rules that only delimit (punctuation and keywords); builders skip them.
pub fn is_punctuation(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        lparen
            | rparen
            | lbrack
            | rbrack
            | lbrace
            | rbrace
            | langle
            | rangle
            | semi
            | comma
            | colon
            | question
            | slash
            | dot
            | dotdot
            | arrow
            | assign_eq
            | kw_if
            | kw_else
            | kw_while
            | kw_for
            | kw_unroll
            | kw_let
            | kw_config
            | kw_sizeof
            | kw_offsetof
            | kw_macro
    )
}

/// The meaningful children of a pair: everything but punctuation and keywords.
pub fn children<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| !is_punctuation(p.as_rule()))
}

/// The next child, or an internal error naming what the grammar promised.
pub fn next<'i>(
    it: &mut impl Iterator<Item = Pair<'i, Rule>>,
    span: Span,
    what: &str,
) -> Result<Pair<'i, Rule>> {
    it.next().ok_or_else(|| internal(span, what))
}

/// A grammar/builder mismatch: never expected, but reported instead of panicking.
pub fn internal(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(span, format!("internal parser error: expected {what}"))
        .with_label("the parser could not build this")
}

/// An error for a pair of a rule the builder did not expect here.
pub fn unexpected(pair: &Pair<'_, Rule>, what: &str) -> Diagnostic {
    internal(span_of(pair), &format!("{what}, got {:?}", pair.as_rule()))
}

/// The only child pair of a top-level parse result.
pub fn single<'i>(mut pairs: Pairs<'i, Rule>, span: Span) -> Result<Pair<'i, Rule>> {
    pairs.next().ok_or_else(|| internal(span, "a program"))
}
