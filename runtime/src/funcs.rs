//! User-space side of `cat()` and `system()`: reading a file and running a
//! shell command when their event is handled.

use std::io;
use std::process::{Command, Stdio};

/// The contents of the file `path`, or a message for standard error.
pub fn cat(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cat: cannot read {path}: {e}"))
}

/// Runs `command` with `sh -c` and returns what it wrote to standard output
/// (its standard error goes straight to ours).
pub fn system(command: &str) -> io::Result<Vec<u8>> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_captures_stdout() {
        assert_eq!(system("echo hi; echo err >&2").unwrap(), b"hi\n");
    }

    #[test]
    fn cat_reads_or_explains() {
        assert!(cat("/proc/self/status").unwrap().starts_with(b"Name:"));
        assert!(cat("/nonexistent/x")
            .unwrap_err()
            .contains("/nonexistent/x"));
    }
}
