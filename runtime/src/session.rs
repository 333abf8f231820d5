//! A running script: the engine API the CLI (and later the REPL) drives.
//!
//! Lifecycle, as bpftrace users know it: load everything, print
//! `Attaching N probes...`, attach the kernel probes, run BEGIN, then loop over
//! ring-buffer events and interval timers until `exit()`, a signal or the end of
//! a traced command; then detach, run END, print the two blank lines and every
//! non-empty map.

use crate::attach::{AttachError, AttachTarget, LinkHandle, PerfKind, Sample};
use crate::events::{EventSink, Flow};
use crate::host::UserHost;
use crate::loader::{LoadError, Loaded, Loader};
use crate::maps::MapTable;
use crate::ringbuf::{EventReader, Waker};
use rtrace_compiler::jit::{self, JitProgram};
use rtrace_compiler::pipeline::Compiled;
use rtrace_compiler::probes::{self, Target};
use std::io;
use std::time::{Duration, Instant};

/// Why a session could not start or run.
#[derive(Debug)]
pub enum SessionError {
    Load(LoadError),
    Attach { probe: String, error: AttachError },
    Jit(jit::JitError),
    Io(io::Error),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Load(e) => write!(f, "{e}"),
            SessionError::Attach { probe, error } => write!(f, "cannot attach {probe}: {error}"),
            SessionError::Jit(e) => write!(f, "{e}"),
            SessionError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> SessionError {
        SessionError::Io(e)
    }
}

/// A probe that could not be attached, and why.
#[derive(Debug)]
pub struct AttachFailure {
    pub probe: String,
    pub error: AttachError,
}

/// One interval probe's schedule.
struct Timer {
    /// Index into `Session::jit` functions.
    jit_index: usize,
    period: Duration,
    next: Instant,
}

pub struct Session {
    compiled: Compiled,
    loaded: Loaded,
    jit: JitProgram,
    /// Positions in `jit` of the BEGIN and END blocks.
    begin: Vec<usize>,
    end: Vec<usize>,
    timers: Vec<Timer>,
    /// Attached kernel probes: (index into `compiled.kernel`, link).
    links: Vec<(usize, LinkHandle)>,
    failures: Vec<AttachFailure>,
    reader: EventReader,
    host: UserHost,
    sink: EventSink,
    exit_code: Option<i32>,
    /// Lost events already reported, and when the counter was last read.
    lost_reported: u64,
    lost_checked: Instant,
}

impl Session {
    /// Load the compiled script into the kernel (programs verified, nothing attached)
    /// and JIT-compile its user-space blocks.
    pub fn load(
        compiled: Compiled,
        loader: &mut Loader,
        sink: EventSink,
    ) -> Result<Session, SessionError> {
        let attach_types = crate::multi_link::expected_attach_types(&compiled);
        let mut loaded = loader
            .load_expecting(&compiled.elf, &attach_types)
            .map_err(SessionError::Load)?;
        let jit = jit::compile(&compiled.module, &compiled.user).map_err(SessionError::Jit)?;
        let maps = MapTable::from_loaded(&mut loaded, &compiled.module.maps)?;
        let reader = EventReader::new(&mut loaded, compiled.ringbuf_map())?;
        let host = UserHost::new(maps, Instant::now());
        sink.prepare_user_stacks(&compiled);
        let (mut begin, mut end, mut timers) = (Vec::new(), Vec::new(), Vec::new());
        let now = Instant::now();
        for (jit_index, &index) in compiled.user.iter().enumerate() {
            match &compiled.program.probes[index].target {
                Target::Begin => begin.push(jit_index),
                Target::End => end.push(jit_index),
                Target::Interval { period_ns } => {
                    let period = Duration::from_nanos(*period_ns);
                    timers.push(Timer {
                        jit_index,
                        period,
                        next: now + period,
                    });
                }
                _ => {}
            }
        }
        Ok(Session {
            compiled,
            loaded,
            jit,
            begin,
            end,
            timers,
            links: Vec::new(),
            failures: Vec::new(),
            reader,
            host,
            sink,
            exit_code: None,
            lost_reported: 0,
            lost_checked: Instant::now(),
        })
    }

    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// Where output goes (the CLI prints "Attaching N probes..." through it).
    pub fn sink(&mut self) -> &mut EventSink {
        &mut self.sink
    }

    /// A handle that ends `run` from another thread or a signal handler.
    pub fn waker(&self) -> Waker {
        self.reader.waker()
    }

    /// Attach every kernel probe. Returns the number of probes for the
    /// "Attaching N probes..." line (user-space blocks included).
    ///
    /// A probe named exactly that fails is an error. A probe expanded from a
    /// wildcard that fails is kept in [`Session::attach_failures`] (so the caller
    /// can name it and say why) as long as something else attached.
    pub fn attach_all(&mut self) -> Result<usize, SessionError> {
        self.failures.clear();
        for i in 0..self.compiled.kernel.len() {
            if let Err(e) = self.attach_probe(i) {
                let SessionError::Attach { probe, error } = e else {
                    return Err(e);
                };
                let wildcard = self.compiled.program.probes[self.compiled.kernel[i].index].wildcard;
                if !wildcard {
                    return Err(SessionError::Attach { probe, error });
                }
                self.failures.push(AttachFailure { probe, error });
            }
        }
        if self.links.is_empty() && !self.failures.is_empty() {
            let AttachFailure { probe, error } = self.failures.remove(0);
            return Err(SessionError::Attach { probe, error });
        }
        Ok(self.compiled.probe_count())
    }

    /// Wildcard-expanded probes the last [`Session::attach_all`] could not attach.
    pub fn attach_failures(&self) -> &[AttachFailure] {
        &self.failures
    }

    /// Attach one kernel probe (index into `compiled().kernel`).
    pub fn attach_probe(&mut self, i: usize) -> Result<(), SessionError> {
        let k = &self.compiled.kernel[i];
        let name = self.compiled.program.probe_names
            [self.compiled.program.probes[k.index].probe_id as usize]
            .clone();
        let target = match (&k.multi, &k.kmulti) {
            (Some(sites), _) => crate::multi_link::attach_target(sites),
            (None, Some(sites)) => crate::kprobe_multi::attach_target(sites),
            (None, None) => attach_target(&k.target),
        };
        let link = self
            .loaded
            .attach(&k.program.name, &target)
            .map_err(|error| SessionError::Attach { probe: name, error })?;
        self.links.push((i, link));
        Ok(())
    }

    /// Detach one kernel probe; others keep running.
    pub fn detach_probe(&mut self, i: usize) -> bool {
        match self.links.iter().position(|(k, _)| *k == i) {
            Some(pos) => {
                let (_, link) = self.links.remove(pos);
                self.loaded.detach(link)
            }
            None => false,
        }
    }

    pub fn detach_all(&mut self) {
        self.links.clear();
        self.loaded.detach_all();
    }

    /// Run the BEGIN blocks.
    pub fn run_begin(&mut self) -> io::Result<()> {
        for i in self.begin.clone() {
            self.run_user(i)?;
        }
        Ok(())
    }

    /// Run the END blocks.
    pub fn run_end(&mut self) -> io::Result<()> {
        for i in self.end.clone() {
            self.run_user(i)?;
        }
        Ok(())
    }

    fn run_user(&mut self, jit_index: usize) -> io::Result<()> {
        self.jit.run(jit_index, &mut self.host);
        for record in self.host.take_emitted() {
            self.handle(&record)?;
        }
        Ok(())
    }

    fn handle(&mut self, record: &[u8]) -> io::Result<()> {
        if self.exit_code.is_some() {
            return Ok(());
        }
        if let Flow::Exit(code) = self.sink.handle(&self.compiled, &self.host.maps, record)? {
            self.exit_code = Some(code);
        }
        Ok(())
    }

    /// Whether `exit()` was called; its code.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// Process events and timers until `exit()`, `stop()` returns true after a
    /// wake-up, or a timer/event asks to exit.
    pub fn run(&mut self, stop: &dyn Fn() -> bool) -> io::Result<()> {
        while self.exit_code.is_none() && !stop() {
            let timeout = self
                .timers
                .iter()
                .map(|t| t.next.saturating_duration_since(Instant::now()))
                .min();
            self.poll_events(timeout)?;
            self.run_due_timers()?;
        }
        Ok(())
    }

    fn poll_events(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let mut records = Vec::new();
        self.reader
            .poll(timeout, &mut |r: &[u8]| records.push(r.to_vec()))?;
        for r in records {
            self.handle(&r)?;
        }
        if self.lost_checked.elapsed() >= Duration::from_secs(1) {
            self.report_lost_events()?;
        }
        Ok(())
    }

    /// Say how many events the kernel could not hand over (full ring buffer).
    fn report_lost_events(&mut self) -> io::Result<()> {
        self.lost_checked = Instant::now();
        let map = self.compiled.lost_events_map();
        let total: u64 = match self.host.maps.lookup(map, None)? {
            Some(per_cpu) => per_cpu
                .iter()
                .map(|v| rtrace_stdlib::value::read_u64(v, 0))
                .sum(),
            None => 0,
        };
        if total > self.lost_reported {
            self.sink.lost(total - self.lost_reported)?;
            self.lost_reported = total;
        }
        Ok(())
    }

    fn run_due_timers(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for t in 0..self.timers.len() {
            if self.exit_code.is_some() {
                break;
            }
            if self.timers[t].next <= now {
                let period = self.timers[t].period;
                // Keep the cadence even if a tick was late.
                while self.timers[t].next <= now {
                    self.timers[t].next += period;
                }
                let i = self.timers[t].jit_index;
                self.run_user(i)?;
            }
        }
        Ok(())
    }

    /// Detach, drain what the kernel already sent, run END, then print the maps
    /// as bpftrace does at exit.
    pub fn finish(&mut self) -> io::Result<i32> {
        // Stop every probe now; closing them (tens of ms per tracepoint, in the
        // kernel's RCU waits) is paid after the output is complete.
        self.links.clear();
        let mut pending = self.loaded.detach_all_later();
        pending.disable();
        let pending_exit = self.exit_code;
        // Records emitted before detach still count, unless exit() already ended output.
        if pending_exit.is_none() {
            self.poll_events(Some(Duration::ZERO))?;
        }
        self.report_lost_events()?;
        self.exit_code = None;
        self.run_end()?;
        let code = pending_exit.or(self.exit_code).unwrap_or(0);
        self.exit_code = Some(code);
        self.sink.print_exit_maps(&self.compiled, &self.host.maps)?;
        for map in crate::dropped::full_maps(&self.compiled, &self.host.maps)? {
            eprintln!("{}", crate::dropped::warning(&map));
        }
        drop(pending);
        Ok(code)
    }

    /// Print one map now (REPL, SIGUSR1).
    pub fn print_map(&mut self, map: u32, top: u64, div: u64) -> io::Result<()> {
        self.sink
            .print_map(&self.compiled, &self.host.maps, map, top, div)
    }

    pub fn clear_map(&mut self, map: u32) -> io::Result<()> {
        self.host.maps.clear(map)
    }
}

/// The runtime's attach description of a compiled probe target.
fn attach_target(target: &Target) -> AttachTarget {
    let sample = |s: &probes::Sample| match *s {
        probes::Sample::Frequency(hz) => Sample::Frequency(hz),
        probes::Sample::Period(n) => Sample::Period(n),
    };
    match target {
        Target::Tracepoint { category, name } => AttachTarget::Tracepoint {
            category: category.clone(),
            name: name.clone(),
        },
        Target::Profile { sample: s } => AttachTarget::PerfEvent {
            kind: PerfKind::from_name("cpu-clock").expect("cpu-clock is a software event"),
            sample: sample(s),
        },
        Target::Software { event, sample: s } | Target::Hardware { event, sample: s } => {
            AttachTarget::PerfEvent {
                kind: PerfKind::from_name(event).expect("checked event name"),
                sample: sample(s),
            }
        }
        Target::Kprobe {
            function,
            offset,
            ret,
            ..
        } => AttachTarget::Kprobe {
            function: function.clone(),
            offset: *offset,
            retprobe: *ret,
        },
        Target::RawTracepoint { name } => AttachTarget::RawTracepoint { name: name.clone() },
        Target::Fentry { function, ret, .. } => AttachTarget::Fentry {
            function: function.clone(),
            ret: *ret,
        },
        Target::Uprobe {
            path,
            offset,
            ret,
            pid,
            ..
        } => AttachTarget::Uprobe {
            path: path.into(),
            offset: *offset,
            retprobe: *ret,
            pid: *pid,
            ref_ctr_offset: 0,
        },
        Target::Usdt {
            path,
            offset,
            semaphore,
            pid,
            ..
        } => AttachTarget::Uprobe {
            path: path.into(),
            offset: *offset,
            retprobe: false,
            pid: *pid,
            ref_ctr_offset: *semaphore,
        },
        Target::Begin | Target::End | Target::Interval { .. } => unreachable!("user-space probe"),
    }
}
