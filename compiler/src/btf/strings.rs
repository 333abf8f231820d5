//! NUL-terminated names of the string section, found and hashed eight bytes at a time: name
//! lookups touch tens of thousands of names, and a byte loop dominated their cost.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Nonzero iff `word` has a zero byte; the lowest set bit marks the first one.
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The first `len` bytes of `bytes` as a little-endian word, zero-padded.
fn padded_word(bytes: &[u8]) -> u64 {
    let mut chunk = [0u8; 8];
    chunk[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(chunk)
}

fn mix(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(K)
}

fn finish(hash: u64, len: usize) -> u32 {
    let hash = mix(hash, len as u64);
    (hash ^ (hash >> 29) ^ (hash >> 32)) as u32
}

/// Hash of a name: full 8-byte words, then the zero-padded tail (possibly empty), then length.
pub(super) fn hash(name: &[u8]) -> u32 {
    let mut chunks = name.chunks_exact(8);
    let mut hash = 0;
    for chunk in &mut chunks {
        hash = mix(hash, padded_word(chunk));
    }
    finish(mix(hash, padded_word(chunks.remainder())), name.len())
}

/// The string at the start of `bytes` up to its NUL (all of `bytes` if unterminated) and its
/// [`hash`], in one pass.
pub(super) fn cstr_with_hash(bytes: &[u8]) -> (&[u8], u32) {
    let mut hash = 0;
    let mut at = 0;
    while let Some(word) = word_at(bytes, at) {
        let zeros = zero_bytes(word);
        if zeros != 0 {
            let len = (zeros.trailing_zeros() / 8) as usize;
            let tail = if len == 0 {
                0
            } else {
                word & (u64::MAX >> (64 - 8 * len))
            };
            return (&bytes[..at + len], finish(mix(hash, tail), at + len));
        }
        hash = mix(hash, word);
        at += 8;
    }
    // Fewer than 8 bytes left: finish byte by byte.
    let rest = &bytes[at..];
    let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let total = at + len;
    (
        &bytes[..total],
        finish(mix(hash, padded_word(&rest[..len])), total),
    )
}

/// The string at the start of `bytes` up to its NUL (all of `bytes` if unterminated).
pub(super) fn cstr(bytes: &[u8]) -> &[u8] {
    let mut at = 0;
    while let Some(word) = word_at(bytes, at) {
        let zeros = zero_bytes(word);
        if zeros != 0 {
            return &bytes[..at + (zeros.trailing_zeros() / 8) as usize];
        }
        at += 8;
    }
    let rest = &bytes[at..];
    &bytes[..at + rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_hash_matches_query_hash() {
        let names = [
            "",
            "a",
            "sock",
            "task_str",
            "task_struct",
            "0123456789abcdef",
            "x\u{e9}y",
        ];
        for name in names {
            for pad in [0usize, 1, 7, 8, 9, 20] {
                let mut stored = name.as_bytes().to_vec();
                stored.push(0);
                stored.extend(std::iter::repeat_n(b'z', pad));
                assert_eq!(
                    cstr_with_hash(&stored),
                    (name.as_bytes(), hash(name.as_bytes()))
                );
                assert_eq!(cstr(&stored), name.as_bytes());
            }
            // Unterminated at the end of the section.
            assert_eq!(cstr_with_hash(name.as_bytes()).0, name.as_bytes());
            assert_eq!(cstr_with_hash(name.as_bytes()).1, hash(name.as_bytes()));
        }
    }
}
