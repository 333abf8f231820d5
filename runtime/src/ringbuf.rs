//! Reading `Emit` records from the module's BPF ring buffer.
//!
//! [`EventReader::poll`] sleeps in `epoll_wait` on two fds: the ring buffer
//! (readable when the kernel has submitted records) and a [`Waker`] eventfd, so
//! `exit()`, a signal handler or another thread ends the wait at once instead of
//! at the next fixed polling tick.

use crate::loader::Loaded;
use crate::sys;
use aya::maps::{Map, MapData, RingBuf};
use rtrace_compiler::ir::MapId;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// Wakes a blocked [`EventReader::poll`]. Cheap to clone; [`Waker::wake`] is
/// async-signal-safe, so a clone kept in a static may be used from a signal handler.
#[derive(Clone, Debug)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        Ok(Waker {
            fd: Arc::new(sys::eventfd()?),
        })
    }

    /// Makes the current or next `poll` return immediately.
    pub fn wake(&self) {
        sys::eventfd_signal(self.fd.as_raw_fd());
    }

    /// The eventfd, for code that must signal it without a `Waker` at hand.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Clears a pending wake-up; true if there was one.
    fn take(&self) -> bool {
        sys::eventfd_drain(self.fd.as_fd())
    }
}

const RING_TOKEN: u64 = 1;
const WAKER_TOKEN: u64 = 2;

/// Waits for and drains ring-buffer records.
pub struct EventReader {
    ring: Option<RingBuf<MapData>>,
    epoll: OwnedFd,
    waker: Waker,
}

impl EventReader {
    /// A reader over the ring buffer map `id` of a loaded module (taken out of
    /// it), with a fresh waker. If the loader left the ring buffer out because
    /// no program writes to it, the reader only waits.
    pub fn new(loaded: &mut Loaded, id: MapId) -> io::Result<EventReader> {
        if loaded.map_left_out(id) {
            return EventReader::without_ring(Waker::new()?);
        }
        let map = loaded.take_map(id).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("ring buffer map {id} is not in the module"),
            )
        })?;
        EventReader::with_waker(Some(map), Waker::new()?)
    }

    /// A reader that only waits (for the waker or a timeout), for programs that
    /// have no ring buffer.
    pub fn without_ring(waker: Waker) -> io::Result<EventReader> {
        EventReader::with_waker(None, waker)
    }

    /// A reader using an existing waker (e.g. one already known to signal handlers).
    pub fn with_waker(map: Option<Map>, waker: Waker) -> io::Result<EventReader> {
        let epoll = sys::epoll_create()?;
        sys::epoll_add(epoll.as_fd(), waker.fd.as_fd(), WAKER_TOKEN)?;
        let ring = match map {
            Some(map) => {
                let ring = RingBuf::try_from(map).map_err(io::Error::other)?;
                sys::epoll_add(epoll.as_fd(), ring.as_fd(), RING_TOKEN)?;
                Some(ring)
            }
            None => None,
        };
        Ok(EventReader { ring, epoll, waker })
    }

    /// A handle that interrupts [`EventReader::poll`].
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Hands every record available now to `on_record`; returns how many.
    pub fn drain(&mut self, on_record: &mut dyn FnMut(&[u8])) -> usize {
        let Some(ring) = self.ring.as_mut() else {
            return 0;
        };
        let mut count = 0;
        while let Some(item) = ring.next() {
            on_record(&item);
            count += 1;
        }
        count
    }

    /// Drains available records; if there were none, blocks until records arrive,
    /// the waker fires, a signal interrupts, or `timeout` passes (`None`: no limit),
    /// then drains again.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        on_record: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        if self.drain(on_record) > 0 {
            return Ok(());
        }
        let ready = sys::epoll_wait(self.epoll.as_fd(), timeout_ms(timeout))?;
        if ready.contains(&WAKER_TOKEN) {
            self.waker.take();
        }
        self.drain(on_record);
        Ok(())
    }
}

/// epoll's millisecond timeout, rounded up so a short wait never becomes a spin.
fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn timeouts_round_up() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(10))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(250))), 250);
    }

    #[test]
    fn waker_interrupts_a_ringless_poll() {
        let mut reader = EventReader::without_ring(Waker::new().unwrap()).unwrap();
        let waker = reader.waker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.wake();
        });
        let start = Instant::now();
        reader
            .poll(Some(Duration::from_secs(10)), &mut |_| {})
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
        // The wake-up was consumed: the next poll waits for its timeout.
        let start = Instant::now();
        reader
            .poll(Some(Duration::from_millis(30)), &mut |_| {})
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(25));
    }
}
