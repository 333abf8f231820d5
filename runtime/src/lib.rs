//! rtrace runtime: load and attach compiled scripts, run the event loop, print.
pub mod attach;
pub mod buildid;
pub mod dropped;
pub mod events;
pub mod func_info;
pub mod funcs;
pub mod host;
pub mod iterate;
pub mod kprobe_multi;
pub mod loader;
pub mod maps;
pub mod multi_link;
pub mod ringbuf;
pub mod session;
pub mod signals;
pub mod sys;
pub mod usyms;
