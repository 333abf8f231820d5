//! The bytes of a BTF file: read into memory, or mapped read-only where the kernel allows
//! mapping `/sys/kernel/btf/vmlinux` (Linux 6.16+), which skips copying 5 MB through read(2)
//! (about 1.5 ms of the load).

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

pub(super) enum Bytes {
    Owned(Vec<u8>),
    Mapped(Mapping),
}

impl Bytes {
    /// Maps `path` read-only, falling back to reading it when mapping is refused.
    /// Only for files that never change size while mapped (kernel BTF in sysfs).
    pub fn map_or_read(path: &Path) -> io::Result<Bytes> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        match usize::try_from(len).ok().filter(|&len| len > 0) {
            Some(len) => match Mapping::new(&file, len) {
                Ok(mapping) => Ok(Bytes::Mapped(mapping)),
                Err(_) => read_all(file, len),
            },
            None => read_all(file, 0),
        }
    }
}

fn read_all(mut file: File, size_hint: usize) -> io::Result<Bytes> {
    let mut data = Vec::with_capacity(size_hint);
    io::Read::read_to_end(&mut file, &mut data)?;
    Ok(Bytes::Owned(data))
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(data) => data,
            Bytes::Mapped(mapping) => mapping.as_slice(),
        }
    }
}

/// A private read-only file mapping, unmapped on drop.
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and never written through, so sharing or moving it between
// threads is as safe as sharing a `&[u8]`; it stays valid until `Drop` unmaps it.
unsafe impl Send for Mapping {}
// SAFETY: as above: immutable memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: &File, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh PROT_READ, MAP_PRIVATE mapping of an open file; the kernel picks the
        // address, so no existing memory is affected. The result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("null mapping"))?;
        Ok(Mapping { ptr, len })
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` readable bytes mapped in `new` and not unmapped before
        // `drop`; the memory is never mutated while mapped.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`; no slice of it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
