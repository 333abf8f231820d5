//! The rtrace grammar (being written).
