//! A light lexical pass run before pest: it matches `(` `[` `{` with their closers (skipping
//! strings, comments and preprocessor lines) and finds unterminated strings and comments.
//!
//! pest only knows the position where it gave up; this pass knows where a block was opened, so
//! "expected `}` to close the block opened here" can point at both places. It also bounds the
//! nesting depth, which keeps the recursive-descent parser far from the stack limit.

use crate::ast::Span;

/// Deepest bracket (plus ternary) nesting accepted; real scripts stay far below.
pub const MAX_NESTING: usize = 128;

/// The first lexical problem found, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// An opener that is still open at the end of the input.
    Unclosed { open: Span, opener: char },
    /// A closer that does not match the innermost open delimiter.
    Mismatched {
        open: Span,
        opener: char,
        close: Span,
        closer: char,
    },
    /// A closer with nothing open.
    Stray { close: Span, closer: char },
    /// `"` without its closing quote on the same line.
    UnterminatedString { open: Span },
    /// `/*` without `*/`.
    UnterminatedComment { open: Span },
    /// Brackets (or `?` ... `:`) nested deeper than [`MAX_NESTING`].
    TooDeep { at: Span },
}

impl Problem {
    /// The position this problem is reported at (its primary span start).
    pub fn position(&self, source_len: usize) -> usize {
        match self {
            Problem::Unclosed { .. } => source_len,
            Problem::Mismatched { close, .. } | Problem::Stray { close, .. } => close.start,
            Problem::UnterminatedString { open } | Problem::UnterminatedComment { open } => {
                open.start
            }
            Problem::TooDeep { at } => at.start,
        }
    }
}

/// The closer for an opener.
pub fn closer_of(opener: char) -> char {
    match opener {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// What the scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The first problem, or `None` if everything is balanced.
    pub problem: Option<Problem>,
    /// The deepest nesting met (up to the problem, if there is one).
    pub deepest: usize,
}

/// Scans `source` for the first problem and the nesting depth.
pub fn scan(source: &str) -> Scan {
    let mut scanner = Scanner::new(source);
    let problem = scanner.run();
    Scan {
        problem,
        deepest: scanner.deepest,
    }
}

/// Bytes the scan acts on; every other byte is skipped in a tight loop.
const INTERESTING: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    let bytes = b"/\"#([{)]}?:";
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
};

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Open brackets: (opener, position).
    stack: Vec<(u8, usize)>,
    /// Unmatched `?` of ternaries, which nest like brackets in the grammar.
    ternaries: usize,
    /// The deepest `stack.len() + ternaries` so far.
    deepest: usize,
}

impl<'a> Scanner<'a> {
    fn new(source: &'a str) -> Scanner<'a> {
        Scanner {
            bytes: source.as_bytes(),
            pos: 0,
            stack: Vec::new(),
            ternaries: 0,
            deepest: 0,
        }
    }

    fn run(&mut self) -> Option<Problem> {
        while self.pos < self.bytes.len() {
            if !INTERESTING[usize::from(self.bytes[self.pos])] {
                self.pos += 1;
                continue;
            }
            if let Some(problem) = self.step() {
                return Some(problem);
            }
        }
        // The innermost opener is the one most likely missing its closer.
        self.stack.last().map(|&(opener, at)| Problem::Unclosed {
            open: Span::new(at, at + 1),
            opener: opener as char,
        })
    }

    /// Consumes one token (or one byte) and reports a problem found in it.
    fn step(&mut self) -> Option<Problem> {
        let b = self.bytes[self.pos];
        let next = self.bytes.get(self.pos + 1).copied();
        match (b, next) {
            (b'/', Some(b'/')) => self.skip_line(),
            (b'/', Some(b'*')) => return self.skip_block_comment(),
            (b'"', _) => return self.skip_string(),
            (b'#', _) if self.at_line_start() => self.skip_preprocessor_line(),
            (b'(' | b'[' | b'{', _) => return self.open(b),
            (b')' | b']' | b'}', _) => return self.close(b),
            (b'?', _) => {
                self.ternaries += 1;
                self.pos += 1;
                return self.check_depth();
            }
            (b':', _) => {
                self.ternaries = self.ternaries.saturating_sub(1);
                self.pos += 1;
            }
            _ => self.pos += 1,
        }
        None
    }

    fn open(&mut self, opener: u8) -> Option<Problem> {
        self.stack.push((opener, self.pos));
        self.pos += 1;
        self.check_depth()
    }

    fn check_depth(&mut self) -> Option<Problem> {
        self.deepest = self.deepest.max(self.stack.len() + self.ternaries);
        if self.stack.len() + self.ternaries > MAX_NESTING {
            let at = self.pos - 1;
            return Some(Problem::TooDeep {
                at: Span::new(at, at + 1),
            });
        }
        None
    }

    fn close(&mut self, closer: u8) -> Option<Problem> {
        let close = Span::new(self.pos, self.pos + 1);
        self.pos += 1;
        match self.stack.pop() {
            None => Some(Problem::Stray {
                close,
                closer: closer as char,
            }),
            Some((opener, at)) if closer_of(opener as char) != closer as char => {
                Some(Problem::Mismatched {
                    open: Span::new(at, at + 1),
                    opener: opener as char,
                    close,
                    closer: closer as char,
                })
            }
            Some(_) => None,
        }
    }

    /// True when only spaces or tabs precede `pos` on its line (so `$#` is not a directive).
    fn at_line_start(&self) -> bool {
        self.bytes[..self.pos]
            .iter()
            .rev()
            .take_while(|&&c| c != b'\n')
            .all(|&c| c == b' ' || c == b'\t')
    }

    fn skip_line(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    /// A directive line, continued by a trailing backslash.
    fn skip_preprocessor_line(&mut self) {
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'\n' if self.pos > 0 && self.bytes[self.pos - 1] == b'\\' => self.pos += 1,
                b'\n' => return,
                _ => self.pos += 1,
            }
        }
    }

    fn skip_block_comment(&mut self) -> Option<Problem> {
        let start = self.pos;
        self.pos += 2;
        while self.pos + 1 < self.bytes.len() {
            if self.bytes[self.pos] == b'*' && self.bytes[self.pos + 1] == b'/' {
                self.pos += 2;
                return None;
            }
            self.pos += 1;
        }
        self.pos = self.bytes.len();
        Some(Problem::UnterminatedComment {
            open: Span::new(start, start + 2),
        })
    }

    fn skip_string(&mut self) -> Option<Problem> {
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return None;
                }
                b'\n' => break,
                b'\\' if self.bytes.get(self.pos + 1).is_some_and(|&c| c != b'\n') => self.pos += 2,
                _ => self.pos += 1,
            }
        }
        Some(Problem::UnterminatedString {
            open: Span::new(start, self.pos),
        })
    }
}
