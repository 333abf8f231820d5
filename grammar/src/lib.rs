//! The rtrace script grammar: a pest grammar for the bpftrace language (see `rtrace.pest`).
//!
//! The compiler's parser (`rtrace_compiler::parse`) turns the pairs produced here into the AST.

use pest_derive::Parser;

/// The pest parser for `rtrace.pest`; start with [`Rule::program`].
#[derive(Parser)]
#[grammar = "../rtrace.pest"]
pub struct ScriptParser;
