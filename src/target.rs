//! The process a session is about: `-c CMD` (started by rtrace once everything
//! is attached, tracing ends when it exits) and `-p PID` (tracing ends when that
//! process exits). Both end the event loop through the session's waker.

use rtrace_runtime::ringbuf::Waker;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A command forked at once but held before `exec` until [`Command::start`], so
/// its pid is known while compiling (`cpid`) and no event of it is missed.
pub struct Command {
    pid: i32,
    program: PathBuf,
    /// Writing one byte (or closing) releases the child into `exec`.
    go: Option<File>,
    exited: Arc<AtomicBool>,
}

impl Command {
    /// Fork `command_line` (split like a shell would split words, without expansions).
    pub fn spawn(command_line: &str) -> Result<Command, String> {
        let words = split_words(command_line)?;
        let Some(first) = words.first() else {
            return Err("error: -c needs a command to run".into());
        };
        let program =
            find_program(first).ok_or_else(|| format!("error: -c: command not found: {first}"))?;
        let c_program = c_string(program.as_os_str().as_encoded_bytes())?;
        let c_args: Vec<CString> = words
            .iter()
            .map(|w| c_string(w.as_bytes()))
            .collect::<Result<_, _>>()?;
        let mut argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut fds = [0i32; 2];
        // SAFETY: pipe(2) fills the two-element array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!(
                "error: -c: cannot create a pipe: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: the child only calls async-signal-safe functions (read, close,
        // execv, _exit) on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!(
                "error: -c: cannot fork: {}",
                std::io::Error::last_os_error()
            ));
        }
        if pid == 0 {
            // SAFETY: see above; the write end closes on exec or exit anyway.
            unsafe {
                libc::close(fds[1]);
                let mut byte = 0u8;
                let n = libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
                if n != 1 {
                    libc::_exit(0);
                }
                // Rust ignores SIGPIPE, and ignored signals survive exec.
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::execv(c_program.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
        }
        // SAFETY: closing the read end we no longer need; the write end becomes a File.
        let go = unsafe {
            libc::close(fds[0]);
            File::from(OwnedFd::from_raw_fd(fds[1]))
        };
        Ok(Command {
            pid,
            program,
            go: Some(go),
            exited: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The program's path (for `uprobe:func` without a binary).
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Let the command run; `waker` is woken when it exits.
    ///
    /// One thread releases, watches and reaps the command. It follows the
    /// command with ptrace (see [`crate::exit_watch`]) so the command's memory
    /// map is read just before it exits: user addresses of a command that
    /// exits right after a probe fired still resolve.
    pub fn start(&mut self, waker: Waker) {
        let go = self.go.take();
        let (pid, exited) = (self.pid, self.exited.clone());
        std::thread::spawn(move || {
            let traced = crate::exit_watch::seize(pid);
            if let Some(mut go) = go {
                let _ = go.write_all(b"g");
            }
            if traced {
                crate::exit_watch::wait_traced(pid);
            } else {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
            exited.store(true, Ordering::SeqCst);
            waker.wake();
        });
    }

    pub fn exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }
}

impl Drop for Command {
    /// A command never started is killed; one still running when tracing ends
    /// gets SIGTERM, as bpftrace does.
    fn drop(&mut self) {
        if self.go.is_some() {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        } else if !self.exited() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
        }
    }
}

/// Watches a process given with `-p`: flags and wakes when it exits.
pub struct ProcessWatch {
    exited: Arc<AtomicBool>,
}

impl ProcessWatch {
    pub fn new(pid: i32, waker: Waker) -> Result<ProcessWatch, String> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(format!(
                "error: -p {pid}: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: the fd was just returned to us and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let exited = Arc::new(AtomicBool::new(false));
        let flag = exited.clone();
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // A pidfd becomes readable when the process exits.
            // SAFETY: polling one pollfd we own.
            while unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {}
            flag.store(true, Ordering::SeqCst);
            waker.wake();
        });
        Ok(ProcessWatch { exited })
    }

    pub fn exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }
}

fn c_string(bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "error: -c: the command contains a NUL byte".to_string())
}

/// A program name as `execvp` would find it: a path, or the first executable
/// file of that name in `$PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// Split a command line into words: blanks separate, single quotes keep
/// everything, double quotes keep everything but `\"` and `\\`, a backslash
/// outside quotes escapes the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => w.push(x),
                        None => return Err("error: -c: unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => w.push(x),
                            Some(x) => {
                                w.push('\\');
                                w.push(x);
                            }
                            None => return Err("error: -c: unterminated \" quote".into()),
                        },
                        Some(x) => w.push(x),
                        None => return Err("error: -c: unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                if let Some(x) = chars.next() {
                    word.get_or_insert_with(String::new).push(x);
                }
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(split_words("ls -l /tmp").unwrap(), ["ls", "-l", "/tmp"]);
        assert_eq!(
            split_words(r#"sh -c 'echo "a b"; exit 3'"#).unwrap(),
            ["sh", "-c", r#"echo "a b"; exit 3"#]
        );
        assert_eq!(
            split_words(r#"echo "x \"y\"" a\ b"#).unwrap(),
            ["echo", r#"x "y""#, "a b"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert!(split_words("echo 'open").is_err());
    }
}
