//! Printing of the string builtins' records: `join()` lines.

use crate::value::decode_str;

/// The words of a `join()` record (`count` NUL-padded strings of `strlen`
/// bytes), up to the first empty one (the array's NULL), joined by `separator`.
pub fn render_join(record: &[u8], count: u32, strlen: u32, separator: &str) -> String {
    let strlen = strlen.max(1) as usize;
    record
        .chunks(strlen)
        .take(count as usize)
        .map(decode_str)
        .take_while(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(words: &[&str], count: usize, strlen: usize) -> Vec<u8> {
        let mut r = vec![0u8; count * strlen];
        for (i, w) in words.iter().enumerate() {
            r[i * strlen..i * strlen + w.len()].copy_from_slice(w.as_bytes());
        }
        r
    }

    #[test]
    fn join_stops_at_the_first_empty_word() {
        let r = record(&["ls", "-l", "/tmp"], 16, 8);
        assert_eq!(render_join(&r, 16, 8, " "), "ls -l /tmp");
        assert_eq!(render_join(&r, 16, 8, ","), "ls,-l,/tmp");
        assert_eq!(render_join(&r, 2, 8, " "), "ls -l");
        assert_eq!(render_join(&[0u8; 32], 4, 8, " "), "");
    }
}
