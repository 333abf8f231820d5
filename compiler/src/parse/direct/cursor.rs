//! The direct parser's position in the source: trivia skipping (`WHITESPACE` and `COMMENT` in
//! `rtrace.pest`), token taking, and marks to backtrack to.

use crate::ast::Span;

pub struct Cursor<'a> {
    pub src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// End of the last token taken. A node's span ends here, never on trailing trivia, just as
    /// the pest builder ends spans at the last token inside a pair.
    last_end: usize,
    /// A `/*` without `*/` was met: pest stops skipping there and reads `/` as a token; the
    /// direct parser does not follow it and leaves such input to pest.
    pub unterminated_comment: bool,
}

/// A position to backtrack to when an alternative of an ordered choice fails.
#[derive(Clone, Copy)]
pub struct Mark {
    pos: usize,
    last_end: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str) -> Cursor<'a> {
        Cursor {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            last_end: 0,
            unterminated_comment: false,
        }
    }

    pub fn mark(&self) -> Mark {
        Mark {
            pos: self.pos,
            last_end: self.last_end,
        }
    }

    pub fn reset(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.last_end = mark.last_end;
    }

    /// The source bytes, for the lexical rules.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Skips whitespace and comments; returns where the next token starts.
    pub fn skip(&mut self) -> usize {
        loop {
            match self.bytes.get(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0C) => self.pos += 1,
                Some(b'/') => match self.bytes.get(self.pos + 1) {
                    Some(b'/') => self.pos = self.line_end(self.pos + 2),
                    Some(b'*') => match self.find(self.pos + 2, b"*/") {
                        Some(close) => self.pos = close + 2,
                        None => {
                            self.unterminated_comment = true;
                            return self.pos;
                        }
                    },
                    _ => return self.pos,
                },
                _ => return self.pos,
            }
        }
    }

    /// The byte after trivia, if any.
    pub fn peek(&mut self) -> Option<u8> {
        let at = self.skip();
        self.bytes.get(at).copied()
    }

    /// The byte `ahead` positions after the current one (call after [`Cursor::skip`]).
    pub fn byte_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// Does the text after trivia start with `text`?
    pub fn at(&mut self, text: &str) -> bool {
        let at = self.skip();
        self.bytes[at..].starts_with(text.as_bytes())
    }

    /// Takes the next `len` bytes (after trivia) as one token: its span and text.
    pub fn take(&mut self, len: usize) -> (Span, &'a str) {
        let start = self.skip();
        self.pos = start + len;
        self.last_end = self.pos;
        (Span::new(start, self.pos), &self.src[start..self.pos])
    }

    /// Takes `text` if it comes next.
    pub fn eat(&mut self, text: &str) -> bool {
        let found = self.at(text);
        if found {
            self.take(text.len());
        }
        found
    }

    /// Where the next token starts.
    pub fn start(&mut self) -> usize {
        self.skip()
    }

    /// The span from `start` to the end of the last token taken.
    pub fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.last_end)
    }

    pub fn at_end(&mut self) -> bool {
        self.skip() >= self.bytes.len()
    }

    /// The position of the `\n` ending the line that contains `from`, or the end of input.
    fn line_end(&self, from: usize) -> usize {
        self.bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |i| from + i)
    }

    fn find(&self, from: usize, needle: &[u8]) -> Option<usize> {
        self.bytes
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| from + i)
    }
}
