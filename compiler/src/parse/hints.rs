//! Special parse errors for the places where a generic "expected ..." would mislead: the
//! `/` and `>` that double as delimiters, characters an attach point cannot hold, and a
//! `config` block after the probes.

use rtrace_grammar::Rule;

use crate::ast::Span;
use crate::diag::Diagnostic;

/// Extra advice for the two places where `/` and `>` double as delimiters.
pub fn note_for(positives: &[Rule], source: &str, pos: usize) -> Option<String> {
    let at = |c: char| source[pos.min(source.len())..].starts_with(c);
    let probe_continues = positives.contains(&Rule::block) || positives.contains(&Rule::lbrace);
    if probe_continues
        && !positives.contains(&Rule::comma)
        && previous_char(source, pos) == Some('/')
    {
        return Some(
            "a top-level `/` ends the predicate; write a division in parentheses: `(a / b)`".into(),
        );
    }
    if at('>') && (positives.contains(&Rule::angle_infix_op) || positives.contains(&Rule::comma)) {
        return Some(
            "a top-level `>` ends a `< ... >` action; write a comparison in parentheses: `(a > b)`"
                .into(),
        );
    }
    None
}

/// A top-level `>` inside `< ... >` closed the action too early (`< @x = $a > 1 >`).
pub fn angle_close_error(positives: &[Rule], source: &str, pos: usize) -> Option<Diagnostic> {
    let at_gt = source.get(pos..)?.starts_with('>');
    if !(at_gt && positives.contains(&Rule::angle_infix_op)) {
        return None;
    }
    Some(
        Diagnostic::error(
            Span::new(pos, pos + 1),
            "ambiguous `>` in a `< ... >` action",
        )
        .with_label("this `>` ends the action, but what follows is not a probe")
        .with_note(
            "a top-level `>` ends a `< ... >` action; write a comparison in parentheses: `(a > b)`",
        ),
    )
}

/// `config = { ... }` after a probe (or a second one) was read as an attach point `config`.
pub fn misplaced_config_error(positives: &[Rule], source: &str, pos: usize) -> Option<Diagnostic> {
    let before = source.get(..pos)?.trim_end();
    let word_start = before.len().checked_sub("config".len())?;
    let is_config = before.ends_with("config")
        && !before[..word_start].ends_with(|c: char| c.is_ascii_alphanumeric() || "_:".contains(c));
    if !(is_config && source.get(pos..)?.starts_with('=') && positives.contains(&Rule::comma)) {
        return None;
    }
    Some(
        Diagnostic::error(
            Span::new(word_start, before.len()),
            "misplaced `config` block",
        )
        .with_label("a `config = { ... }` block must come before every probe")
        .with_note("only one `config` block is allowed, at the top of the script"),
    )
}

/// The last non-whitespace character before `pos`.
fn previous_char(source: &str, pos: usize) -> Option<char> {
    source[..pos.min(source.len())]
        .trim_end()
        .chars()
        .next_back()
}

/// "invalid character `%` in attach point" when the failure sits right after attach point text.
pub fn attach_point_char_error(positives: &[Rule], source: &str, pos: usize) -> Option<Diagnostic> {
    let glued = source[..pos.min(source.len())]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric() || "_*?-.+@$:\"".contains(c));
    let after_attach_point = positives.contains(&Rule::comma)
        && (positives.contains(&Rule::block) || positives.contains(&Rule::lbrace));
    if !(glued && after_attach_point) {
        return None;
    }
    let first = source.get(pos..)?.chars().next()?;
    let span = Span::new(pos, pos + first.len_utf8());
    Some(
        Diagnostic::error(span, format!("invalid character `{first}` in attach point"))
            .with_label("not allowed in an attach point")
            .with_note("attach points may contain letters, digits and `_ * ? - . + @ $ /`; quote other paths: `uprobe:\"/a b\":f`"),
    )
}
