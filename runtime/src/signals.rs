//! SIGINT and SIGTERM end tracing the way bpftrace users expect: the event loop
//! stops, END runs and the maps are printed. The handler only sets a flag and
//! signals the event loop's eventfd, both async-signal-safe.

use crate::ringbuf::Waker;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

static STOP: AtomicBool = AtomicBool::new(false);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Keeps the eventfd open for as long as the handler may use it.
static WAKER: OnceLock<Waker> = OnceLock::new();

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: write(2) is async-signal-safe; the buffer is a local u64.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
}

/// Route SIGINT/SIGTERM to `waker`. Call once per process.
pub fn install(waker: Waker) -> io::Result<()> {
    WAKE_FD.store(waker.raw_fd(), Ordering::SeqCst);
    let _ = WAKER.set(waker);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installing a handler that only touches atomics and write(2).
        let old = unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
        if old == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
