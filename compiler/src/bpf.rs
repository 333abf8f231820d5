//! eBPF back end (being written).
