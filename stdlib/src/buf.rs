//! Text form of `buf()` values: printable ASCII as is, every other byte as
//! `\xNN` (two lower-case hex digits), as bpftrace prints buffers.

use crate::types::{BUF_DATA, BUF_LEN};
use crate::value::read_u64;
use std::fmt::Write;

/// Formats a `Buf` value of capacity `cap` (count, then bytes).
pub fn format_buf(bytes: &[u8], cap: u32) -> String {
    let count = read_u64(bytes, BUF_LEN).min(u64::from(cap)) as usize;
    let start = (BUF_DATA as usize).min(bytes.len());
    let end = (start + count).min(bytes.len());
    escape_bytes(&bytes[start..end])
}

/// Printable ASCII (space to `~`) kept, everything else `\xNN`.
pub fn escape_bytes(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if (0x20..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(count: u64, data: &[u8], cap: usize) -> Vec<u8> {
        let mut v = count.to_le_bytes().to_vec();
        v.extend_from_slice(data);
        v.resize(8 + cap, 0);
        v
    }

    #[test]
    fn non_printable_bytes_are_hex_escaped() {
        let data = b"a\"b\\c\x00\x7f\xff\x01 ~Z\n";
        assert_eq!(
            format_buf(&value(13, data, 16), 16),
            "a\"b\\c\\x00\\x7f\\xff\\x01 ~Z\\x0a"
        );
    }

    #[test]
    fn count_limits_the_bytes_shown() {
        assert_eq!(format_buf(&value(2, b"abc", 4), 4), "ab");
        // A count beyond the capacity is clipped to it.
        assert_eq!(format_buf(&value(99, b"abcd", 4), 4), "abcd");
        assert_eq!(format_buf(&value(0, b"", 4), 4), "");
    }
}
