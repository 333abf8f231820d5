//! Parser: pest pairs → AST (being written).
