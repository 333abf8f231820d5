//! The BTF file layout (kernel `Documentation/bpf/btf.rst`): a header locating the type and
//! string sections, and the type section as back-to-back variable-length records. Loading
//! validates both and records where each type record starts, in one pass.

use std::io;
use std::ops::Range;

use super::types::Kind;

const MAGIC: u16 = 0xEB9F;
const HEADER_LEN: usize = 24;
const RECORD_HEADER: usize = 12;

/// Where the sections lie and which byte order the file uses.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub big_endian: bool,
    pub types: Range<usize>,
    pub strings: Range<usize>,
}

/// Start offset and kind of every type record, in type-id order.
pub(super) struct RecordIndex {
    pub offsets: Vec<u32>,
    pub kinds: Vec<u8>,
}

pub(super) fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("BTF: {}", what.into()))
}

/// Reads a u32 at `off` in the given byte order; `None` past the end.
pub(super) fn read_u32(data: &[u8], off: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// Validates the header and returns the section ranges.
pub(super) fn parse_header(data: &[u8]) -> io::Result<Layout> {
    if data.len() < HEADER_LEN {
        return Err(invalid(format!(
            "{} bytes is too short for a header",
            data.len()
        )));
    }
    if u32::try_from(data.len()).is_err() {
        return Err(invalid("file larger than 4 GiB"));
    }
    let magic = [data[0], data[1]];
    let big_endian = if u16::from_le_bytes(magic) == MAGIC {
        false
    } else if u16::from_be_bytes(magic) == MAGIC {
        true
    } else {
        return Err(invalid(format!("bad magic {:02x}{:02x}", data[0], data[1])));
    };
    if data[2] != 1 {
        return Err(invalid(format!("unsupported version {}", data[2])));
    }
    let word = |off| read_u32(data, off, big_endian).unwrap_or(0) as usize;
    let header_len = word(4);
    if header_len < HEADER_LEN || header_len > data.len() {
        return Err(invalid(format!("bad header length {header_len}")));
    }
    let types = section(data.len(), header_len, word(8), word(12), "type")?;
    let strings = section(data.len(), header_len, word(16), word(20), "string")?;
    if types.start % 4 != 0 {
        return Err(invalid("misaligned type section"));
    }
    Ok(Layout {
        big_endian,
        types,
        strings,
    })
}

/// A section given relative to the end of the header, checked against the file size.
fn section(
    total: usize,
    header_len: usize,
    off: usize,
    len: usize,
    what: &str,
) -> io::Result<Range<usize>> {
    let start = header_len.checked_add(off);
    let end = start.and_then(|s| s.checked_add(len));
    match (start, end) {
        (Some(start), Some(end)) if end <= total => Ok(start..end),
        _ => Err(invalid(format!("{what} section out of bounds"))),
    }
}

/// Walks the type section once, recording each record's offset and kind.
pub(super) fn index_records(data: &[u8], layout: &Layout) -> io::Result<RecordIndex> {
    let types = &layout.types;
    // Most records are 12-24 bytes; reserving avoids regrowth on the 5 MB vmlinux.
    let estimate = types.len() / 20;
    let mut index = RecordIndex {
        offsets: Vec::with_capacity(estimate),
        kinds: Vec::with_capacity(estimate),
    };
    let mut off = types.start;
    while off < types.end {
        let (end, kind) = record_end(data, layout, off)?;
        index.offsets.push(off as u32);
        index.kinds.push(kind as u8);
        off = end;
    }
    Ok(index)
}

/// End offset and kind of the record at `off`; an error if it is unknown or overruns the section.
fn record_end(data: &[u8], layout: &Layout, off: usize) -> io::Result<(usize, Kind)> {
    let types_end = layout.types.end;
    if types_end - off < RECORD_HEADER {
        return Err(invalid(format!("truncated type record at byte {off}")));
    }
    let info = read_u32(data, off + 4, layout.big_endian).unwrap_or(0);
    let raw_kind = ((info >> 24) & 0x1f) as u8;
    let kind = Kind::from_record(raw_kind)
        .ok_or_else(|| invalid(format!("unknown type kind {raw_kind} at byte {off}")))?;
    let len = RECORD_HEADER + kind.trailing_len((info & 0xffff) as usize);
    if types_end - off < len {
        return Err(invalid(format!("truncated type record at byte {off}")));
    }
    Ok((off + len, kind))
}
