//! What the rtrace language offers: its types, the catalogue of builtins, and the
//! user-space side of builtins (printf formatting, map printing, symbols).

pub mod buckets;
pub mod buf;
pub mod catalogue;
pub mod funcs;
pub mod merge;
pub mod output;
pub mod printf;
pub mod stacks;
pub mod strings;
pub mod symbols;
pub mod syscall_names;
pub mod time;
pub mod types;
pub mod value;
