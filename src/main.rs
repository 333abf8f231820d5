//! The `rtrace` command line: read a script, compile it, load it, run it.

mod cli;
mod exit_watch;
mod target;

use clap::Parser;
use cli::{Args, Dump, OutputFormat};
use rtrace_compiler::listing;
use rtrace_compiler::pipeline::{self, Compiled};
use rtrace_runtime::events::EventSink;
use rtrace_runtime::loader::Loader;
use rtrace_runtime::session::{Session, SessionError};
use rtrace_runtime::signals;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    raise_open_file_limit();
    match run(&args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(msg) => {
            if !msg.is_empty() {
                eprint!("{msg}");
                if !msg.ends_with('\n') {
                    eprintln!();
                }
            }
            ExitCode::from(1)
        }
    }
}

/// The script text, the name to show in diagnostics and the positional parameters.
fn read_script(args: &Args) -> Result<(String, String, Vec<String>), String> {
    if let Some(program) = &args.program {
        return Ok((program.clone(), "stdin".into(), args.rest.clone()));
    }
    let Some((file, params)) = args.rest.split_first() else {
        return Err(
            "error: no program given: use -e 'program' or a script file (see --help)".into(),
        );
    };
    let text = if file == "-" {
        let mut s = String::new();
        io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("error: cannot read the script from standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("error: cannot read {file}: {e}"))?
    };
    let name = if file == "-" {
        "stdin".to_string()
    } else {
        file.clone()
    };
    Ok((text, name, params.to_vec()))
}

fn run(args: &Args) -> Result<i32, String> {
    if args.list {
        return list_probes(args);
    }
    let (source, file_name, params) = read_script(args)?;
    // The command is forked first (held before exec) so `cpid` is known.
    let command = args
        .command
        .as_deref()
        .map(target::Command::spawn)
        .transpose()?;
    let child = command
        .as_ref()
        .map(|c| (c.pid(), c.program().to_path_buf()));
    let opts = args.compile_options(params, monotonic_ns(), child);
    let color = io::stderr().is_terminal();
    let compiled =
        pipeline::compile(&source, &opts).map_err(|e| e.render(&file_name, &source, color))?;
    for warning in &compiled.program.warnings {
        eprint!("{}", warning.render(&file_name, &source, color));
    }
    if let Some(dump) = args.dump {
        print_dumps(&compiled, dump).map_err(io_error)?;
        return Ok(0);
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).map_err(|e| format!("error: cannot create {path}: {e}"))?,
        ),
        None => Box::new(io::stdout()),
    };
    let sink = EventSink::new(out, args.format == OutputFormat::Json);
    let mut loader = Loader::new();
    let session =
        Session::load(compiled, &mut loader, sink).map_err(|e| session_error(&e, args.verbose))?;
    if args.dry_run {
        let n = session.compiled().kernel.len();
        eprintln!("{n} kernel probe program(s) compiled and accepted by the verifier; nothing attached (--dry-run)");
        return Ok(0);
    }
    run_session(session, args, command)
}

fn run_session(
    mut session: Session,
    args: &Args,
    mut command: Option<target::Command>,
) -> Result<i32, String> {
    signals::install(session.waker())
        .map_err(|e| format!("error: cannot install signal handlers: {e}"))?;
    let watch = args
        .pid
        .map(|pid| target::ProcessWatch::new(pid, session.waker()))
        .transpose()?;
    let attached = match session.attach_all() {
        Ok(n) => n,
        Err(e) => {
            // Nothing ran yet: no END, no maps, as bpftrace does.
            session.detach_all();
            return Err(session_error(&e, args.verbose));
        }
    };
    for failure in session.attach_failures() {
        eprintln!(
            "WARNING: cannot attach {}: {}",
            failure.probe, failure.error
        );
    }
    let mut trace = || -> Result<(), String> {
        if !args.quiet {
            session.sink().attached(attached).map_err(io_error)?;
        }
        session.run_begin().map_err(io_error)?;
        // The command starts once every probe is attached and BEGIN has run.
        if let Some(c) = command.as_mut() {
            c.start(session.waker());
        }
        let stop = || {
            signals::stop_requested()
                || command.as_ref().is_some_and(|c| c.exited())
                || watch.as_ref().is_some_and(|w| w.exited())
        };
        session.run(&stop).map_err(io_error)
    };
    let result = trace();
    // Whatever happened, detach, run END and print the maps.
    let code = session.finish().map_err(io_error)?;
    result?;
    Ok(code)
}

/// `-l [pattern]`: one probe per line, with its arguments under `-v`.
fn list_probes(args: &Args) -> Result<i32, String> {
    let pattern = args.rest.first().map(String::as_str);
    let lines =
        listing::list(pattern, args.verbose, args.pid).map_err(|e| format!("error: {e}"))?;
    let mut out = io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(0)
}

fn io_error(e: io::Error) -> String {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return String::new();
    }
    format!("error: {e}")
}

fn session_error(e: &SessionError, verbose: bool) -> String {
    let mut msg = format!("error: {e}\n");
    if let SessionError::Load(load) = e {
        if let Some(log) = load.verifier_log() {
            if verbose {
                msg.push_str("verifier log:\n");
                msg.push_str(log);
            }
        }
    }
    msg
}

/// Print the requested compiler stages; a closed pipe (`| head`) just ends the output.
fn print_dumps(compiled: &Compiled, dump: Dump) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    if matches!(dump, Dump::Ast | Dump::All) {
        writeln!(out, "{:#?}", compiled.ast)?;
    }
    if matches!(dump, Dump::Ir | Dump::All) {
        writeln!(out, "{}", compiled.module)?;
    }
    if matches!(dump, Dump::Bpf | Dump::All) {
        for k in &compiled.kernel {
            writeln!(
                out,
                "; {} ({} instructions)",
                k.section,
                k.program.insns.len()
            )?;
            writeln!(out, "{}", rtrace_compiler::bpf::disassemble(&k.program))?;
        }
    }
    out.flush()
}

/// Every map and probe is a file descriptor: a script with thousands of maps or
/// probes must not stop at the default limits. Root may go up to `fs.nr_open`.
fn raise_open_file_limit() {
    let nr_open: libc::rlim_t = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: nr_open,
            rlim_max: nr_open,
        };
        if nr_open <= lim.rlim_max || libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `CLOCK_MONOTONIC` in ns: the clock `bpf_ktime_get_ns` reads, for `elapsed`.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
