//! What the rtrace language offers: its types, the catalogue of builtins, and the
//! user-space side of builtins (printf formatting, map printing, symbols).

pub mod types;
