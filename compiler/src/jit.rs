//! Cranelift JIT back end (being written).
