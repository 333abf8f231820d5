//! Command-line arguments, spelled as bpftrace users know them.

use clap::{Parser, ValueEnum};
use rtrace_compiler::bpf::EmitOptions;
use rtrace_compiler::check;
use rtrace_compiler::check::settings::{MAX_MAP_KEYS, MAX_STRLEN, MIN_STRLEN};
use rtrace_compiler::lower::MAP_KEYS_MAX;
use rtrace_compiler::pipeline;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "rtrace",
    version,
    about = "A bpftrace-compatible dynamic tracer: scripts compiled straight to eBPF",
    after_help = "EXAMPLES:\n  \
        rtrace -e 'tracepoint:syscalls:sys_enter_read { @bytes[comm] = sum(args->count); }'\n  \
        rtrace scripts/dropwatch.rt\n  \
        rtrace -l 'tracepoint:sock:*'\n  \
        rtrace -c 'ls /' -e 'tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf(\"%s\\n\", str(args->filename)); }'\n  \
        echo 'BEGIN { printf(\"hi\\n\"); exit(); }' | rtrace -\n\n\
        ENVIRONMENT:\n  BPFTRACE_STRLEN   default capacity of str() strings (default 64, max 200)"
)]
pub struct Args {
    /// Program text to run (instead of a script file).
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,

    /// Script file (`-` reads standard input), then positional parameters $1, $2, ...
    #[arg(
        value_name = "FILE | PARAMS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub rest: Vec<String>,

    /// Write the output to FILE instead of standard output.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<String>,

    /// Output format.
    #[arg(short = 'f', value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Do not print "Attaching N probes...".
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Verbose: show the kernel verifier log when a program is rejected.
    #[arg(short = 'v')]
    pub verbose: bool,

    /// Print a stage of the compilation (ast, ir, bpf, all) and exit.
    #[arg(short = 'd', value_enum, value_name = "STAGE")]
    pub dump: Option<Dump>,

    /// Compile and load every probe into the verifier, attach nothing, exit.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Allow functions with side effects on the system: system(), signal(), override().
    #[arg(long = "unsafe")]
    pub unsafe_: bool,

    /// List probes matching the optional pattern (first argument) instead of
    /// running a script; with -v, show their arguments.
    #[arg(short = 'l')]
    pub list: bool,

    /// Trace this process only: uprobes and USDT probes attach to it alone and
    /// every other probe fires only when it runs.
    #[arg(short = 'p', value_name = "PID")]
    pub pid: Option<i32>,

    /// Run CMD once every probe is attached and stop tracing when it exits; its
    /// pid is the `cpid` builtin.
    #[arg(short = 'c', value_name = "CMD")]
    pub command: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dump {
    Ast,
    Ir,
    Bpf,
    All,
}

impl Args {
    /// Compiler settings; `child` is the `-c` command's pid and program path.
    pub fn compile_options(
        &self,
        params: Vec<String>,
        start_ns: u64,
        child: Option<(i32, PathBuf)>,
    ) -> pipeline::Options {
        let env = |name: &str, lo: u32, hi: u32, default: u32| {
            std::env::var(name)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .map_or(default, |n| n.clamp(lo, hi))
        };
        let strlen = env("BPFTRACE_STRLEN", MIN_STRLEN, MAX_STRLEN, 256);
        let map_keys_max = env("BPFTRACE_MAP_KEYS_MAX", 1, MAX_MAP_KEYS, MAP_KEYS_MAX);
        // After the script, `--name=value` and `--flag` are named program arguments (getopt).
        let (program_args, params): (Vec<String>, Vec<String>) = params
            .into_iter()
            .filter(|p| p != "--")
            .partition(|p| p.starts_with("--"));
        pipeline::Options {
            check: check::Options {
                params,
                strlen,
                pid: self.pid,
                cpid: child.as_ref().map(|c| c.0),
                command: child.map(|c| c.1),
                dry_run: self.dry_run,
                allow_unsafe: self.unsafe_,
                map_keys_max,
                program_args,
            },
            emit: EmitOptions { start_ns },
            uprobe_multi: Some(rtrace_runtime::multi_link::uprobe_multi_supported),
            kprobe_multi: Some(rtrace_runtime::kprobe_multi::attach_cookies_supported),
        }
    }
}
