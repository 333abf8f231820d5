//! rtrace compiler: script source → AST → checked, typed program → IR → eBPF / Cranelift.
//!
//! Stages, one module each:
//! - [`parse`]: pest grammar (`grammar/rtrace.pest`) → [`ast`] with spans
//! - [`probes`], [`tracefs`], [`userspace`]: attach points resolved against the running
//!   kernel and the binaries on disk
//! - [`check`]: names, types, aggregations, where each builtin is allowed
//! - [`lower`]: checked AST → [`ir`]
//! - [`bpf`]: IR → eBPF instructions → in-memory ELF
//! - [`jit`]: IR → native code with Cranelift for BEGIN/END/interval blocks
//! - [`diag`]: errors with source spans, rendered like rustc

pub mod ast;
pub mod bpf;
pub mod btf;
pub mod check;
pub mod diag;
pub mod ir;
pub mod jit;
pub mod kprobe_multi;
pub mod listing;
pub mod lower;
pub mod macros;
pub mod parse;
pub mod pipeline;
pub mod probe_context;
pub mod probes;
pub mod syscalls;
pub mod tracefs;
pub mod typed;
pub mod uprobe_multi;
pub mod user_probes;
pub mod userspace;
