//! What the rtrace language offers: its types, the catalogue of builtins, and the
//! user-space side of builtins (printf formatting, map printing, symbols).

pub mod catalogue;
pub mod types;
pub mod buckets;
pub mod merge;
pub mod value;
pub mod symbols;
pub mod output;
pub mod printf;
pub mod time;
