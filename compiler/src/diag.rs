//! Diagnostics with source spans, rendered like rustc:
//!
//! ```text
//! error: expected `;` or `}`, found `@y`
//!  --> script.bt:2:16
//!   |
//! 2 |   @x = count() @y = 1
//!   |                ^^ expected `;` or `}` here
//! ```
//!
//! Every stage creates them the same way:
//! `Diagnostic::error(span, "message").with_label("here").with_note("why")`.

use std::fmt;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor, Chars, Config};

use crate::ast::Span;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

/// One problem in a script, pointing at a span of its source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostic {
    /// The headline: `error: <message>`.
    pub message: String,
    /// Where the problem is (underlined with `^`).
    pub span: Span,
    /// Text printed next to the underline; may be empty.
    pub label: String,
    /// `= note: ...` lines printed under the snippet.
    pub notes: Vec<String>,
    /// Related places, underlined with `-` (e.g. where an unclosed block was opened).
    pub secondary: Vec<(Span, String)>,
    pub severity: Severity,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            ..Diagnostic::default()
        }
    }

    /// The same diagnostic as a warning.
    pub fn into_warning(self) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..self
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// Sets the text shown next to the primary underline.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Adds a `= note:` line.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Adds a secondary underline with its own text.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The 1-based line and column (in characters) of the primary span's start.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start)
    }

    /// The diagnostic as text: header, ` --> file:line:col`, the source lines with underlines,
    /// labels and notes. `color` adds ANSI colours.
    pub fn render(&self, file_name: &str, source: &str, color: bool) -> String {
        let file = SimpleFile::new(file_name, source);
        let diagnostic = self.to_codespan(source);
        let config = render_config();
        if color {
            render_colored(&config, &file, &diagnostic)
        } else {
            let mut out = String::new();
            if term::emit_to_string(&mut out, &config, &file, &diagnostic).is_err() {
                return self.render_fallback(file_name, source);
            }
            align_locus(&out)
        }
    }

    /// Converts to codespan's form, with spans clamped onto the source so that rendering
    /// never fails on a stale or out-of-range span.
    fn to_codespan(&self, source: &str) -> CsDiagnostic<()> {
        let severity = match self.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut labels =
            vec![Label::primary((), clamp(self.span, source)).with_message(self.label.clone())];
        for (span, text) in &self.secondary {
            labels.push(Label::secondary((), clamp(*span, source)).with_message(text.clone()));
        }
        CsDiagnostic::new(severity)
            .with_message(self.message.clone())
            .with_labels(labels)
            .with_notes(self.notes.iter().map(|n| format!("note: {n}")).collect())
    }

    /// Plain one-line form used only if codespan refuses the input.
    fn render_fallback(&self, file_name: &str, source: &str) -> String {
        let (line, col) = self.line_col(source);
        format!(
            "{}: {}\n --> {file_name}:{line}:{col}\n",
            self.kind(),
            self.message
        )
    }

    fn kind(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `error: message` (no source snippet; use [`Diagnostic::render`] for that).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Several diagnostics, e.g. every error the checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Every diagnostic rendered in order, separated the way rustc separates them.
    pub fn render(&self, file_name: &str, source: &str, color: bool) -> String {
        self.0
            .iter()
            .map(|d| d.render(file_name, source, color))
            .collect::<Vec<_>>()
            .join("")
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics(vec![diagnostic])
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(list: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics(list)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// 1-based line and column (counted in characters) of byte offset `pos` in `source`.
pub fn line_col(source: &str, pos: usize) -> (usize, usize) {
    let pos = floor_char_boundary(source, pos.min(source.len()));
    let before = &source[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..pos].chars().count() + 1;
    (line, col)
}

/// codespan indents ` --> file:line:col` one column more than rustc; align it with rustc.
fn align_locus(rendered: &str) -> String {
    rendered
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix(' ') {
            Some(rest) if rest.trim_start().starts_with("--> ") && rest.starts_with(' ') => rest,
            _ => line,
        })
        .collect()
}

/// rustc's look: `-->` and `|` borders, carets.
fn render_config() -> Config {
    Config {
        chars: Chars::ascii(),
        ..Config::default()
    }
}

fn render_colored(config: &Config, file: &SimpleFile<&str, &str>, d: &CsDiagnostic<()>) -> String {
    let mut buffer = termcolor::Buffer::ansi();
    let styles = term::Styles::default();
    let mut writer = term::StylesWriter::new(&mut buffer, &styles);
    if term::emit_to_write_style(&mut writer, config, file, d).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

/// The span moved inside `source` and onto character boundaries.
fn clamp(span: Span, source: &str) -> std::ops::Range<usize> {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let end = ceil_char_boundary(source, span.end.clamp(start, source.len()));
    start..end
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}
