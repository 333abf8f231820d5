//! Printing maps and values exactly like bpftrace 0.17, as text or JSON.

pub mod json;
pub mod prepare;
pub mod text;

use crate::symbols::Resolver;
use crate::types::Type;

pub use json::{print_map_json, print_value_json, printf_json, time_json, value_event_json};
pub use text::{print_map_text, print_value_text};

/// A map as read from the kernel, before merging and sorting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMap {
    /// The user's name, `@` included (`@bytes`, `@`).
    pub name: String,
    /// `Type::None` for keyless maps, a `Tuple` for multi-key maps.
    pub key_type: Type,
    pub value_type: Type,
    pub entries: Vec<RawEntry>,
}

/// One kernel map entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// The key bytes; for `Hist`/`Lhist` maps the user key followed by the
    /// bucket index (u64, little endian).
    pub key: Vec<u8>,
    /// One element per CPU for per-CPU value types, else exactly one.
    pub values: Vec<Vec<u8>>,
}

/// `-f text` or `-f json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

impl OutputFormat {
    /// A map (`print(@m, top, div)` and the dump at exit).
    pub fn map(self, map: &RawMap, top: u64, div: u64, resolver: &dyn Resolver) -> String {
        match self {
            OutputFormat::Text => print_map_text(map, top, div, resolver),
            OutputFormat::Json => print_map_json(map, top, div, resolver),
        }
    }

    /// `print(expr)`, newline included.
    pub fn value(self, ty: &Type, bytes: &[u8], resolver: &dyn Resolver) -> String {
        match self {
            OutputFormat::Text => format!("{}\n", print_value_text(ty, bytes, resolver)),
            OutputFormat::Json => value_event_json(ty, bytes, resolver),
        }
    }

    /// Rendered `printf()` text.
    pub fn printf(self, text: &str) -> String {
        match self {
            OutputFormat::Text => text.to_string(),
            OutputFormat::Json => printf_json(text),
        }
    }

    /// Rendered `time()` text.
    pub fn time(self, text: &str) -> String {
        match self {
            OutputFormat::Text => text.to_string(),
            OutputFormat::Json => time_json(text),
        }
    }

    /// The line printed once the probes are attached.
    pub fn attached_probes(self, count: usize) -> String {
        match self {
            OutputFormat::Text if count == 1 => "Attaching 1 probe...\n".to_string(),
            OutputFormat::Text => format!("Attaching {count} probes...\n"),
            OutputFormat::Json => {
                json::event_json("attached_probes", &format!("{{\"probes\": {count}}}"))
            }
        }
    }
}
