//! What user space does with each event record (printf, print, clear, zero,
//! time, exit), and the printing of maps at exit — in text or NDJSON.

use crate::maps::MapTable;
use crate::usyms::UserSymbols;
use rtrace_compiler::ir::{EventSpec, MapId, MapKind, MapSpec};
use rtrace_compiler::pipeline::Compiled;
use rtrace_compiler::probes::Target;
use rtrace_stdlib::output::{self, RawEntry, RawMap};
use rtrace_stdlib::printf;
use rtrace_stdlib::stacks::{FrameSymbol, StackValue};
use rtrace_stdlib::symbols::{self, Resolver};
use rtrace_stdlib::time;
use rtrace_stdlib::types::Type;
use rtrace_stdlib::value;
use std::io::{self, Write};
use std::rc::Rc;

/// Whether the event loop goes on after a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit(i32),
}

/// Where output goes, and in which format.
pub struct EventSink {
    out: Box<dyn Write>,
    json: bool,
    /// Parsed printf formats, by event id (parsed once, on first use).
    formats: Vec<Option<Result<printf::Format, String>>>,
    /// Memory maps and symbols of the processes whose user stacks were taken.
    users: Rc<UserSymbols>,
}

/// Symbols for printing: kernel symbols from kallsyms, probe names from the
/// script, stacks from the stack maps, user symbols from the process cache.
struct ScriptResolver<'a> {
    probe_names: &'a [String],
    stacks: StackSource<'a>,
}

impl<'a> ScriptResolver<'a> {
    fn new(compiled: &'a Compiled, maps: &'a MapTable, users: Rc<UserSymbols>) -> Self {
        ScriptResolver {
            probe_names: &compiled.program.probe_names,
            stacks: StackSource {
                specs: &compiled.module.maps,
                maps,
                users,
            },
        }
    }
}

impl Resolver for ScriptResolver<'_> {
    fn ksym(&self, addr: u64) -> String {
        symbols::ksym(addr)
    }
    /// The function name alone, as bpftrace prints `usym`; the address in
    /// hex when the process or the address is unknown.
    fn usym(&self, addr: u64, pid: Option<u32>) -> String {
        pid.and_then(|pid| self.stacks.users.frame(addr, pid))
            .map(|frame| frame.name)
            .unwrap_or_else(|| symbols::hex_addr(addr))
    }
    fn probe_name(&self, id: u64) -> String {
        self.probe_names
            .get(id as usize)
            .cloned()
            .unwrap_or_default()
    }
    fn stack_frames(&self, stack: &StackValue) -> Vec<u64> {
        self.stacks.frames(stack)
    }
    fn user_frame(&self, addr: u64, pid: u32) -> Option<FrameSymbol> {
        self.stacks.users.frame(addr, pid)
    }
    fn user_stack(&self, stack: &StackValue) -> Option<Vec<(u64, Option<FrameSymbol>)>> {
        self.stacks.build_id_frames(stack)
    }
}

impl EventSink {
    pub fn new(out: Box<dyn Write>, json: bool) -> EventSink {
        EventSink {
            out,
            json,
            formats: Vec::new(),
            users: Rc::new(UserSymbols::new()),
        }
    }

    /// Index the build ids of the files user stacks may be recorded in
    /// (see `UserSymbols::index_build_ids`), when the script takes any.
    pub fn prepare_user_stacks(&self, compiled: &Compiled) {
        let maps = &compiled.module.maps;
        if !maps.iter().any(|m| m.kind == MapKind::StackTraceBuildId) {
            return;
        }
        let probed: Vec<String> = compiled
            .program
            .probes
            .iter()
            .filter_map(|p| match &p.target {
                Target::Uprobe { path, .. } | Target::Usdt { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        self.users.index_build_ids(&probed);
    }

    /// `Attaching N probes...`
    pub fn attached(&mut self, n: usize) -> io::Result<()> {
        if self.json {
            writeln!(
                self.out,
                "{{\"type\": \"attached_probes\", \"data\": {{\"probes\": {n}}}}}"
            )?;
        } else {
            let s = if n == 1 { "" } else { "s" };
            writeln!(self.out, "Attaching {n} probe{s}...")?;
        }
        self.out.flush()
    }

    /// Events the kernel dropped because the ring buffer was full.
    pub fn lost(&mut self, n: u64) -> io::Result<()> {
        if self.json {
            writeln!(
                self.out,
                "{{\"type\": \"lost_events\", \"data\": {{\"events\": {n}}}}}"
            )?;
        } else {
            writeln!(self.out, "Lost {n} events")?;
        }
        self.out.flush()
    }

    /// Handle one record from the ring buffer or from JIT code.
    pub fn handle(
        &mut self,
        compiled: &Compiled,
        maps: &MapTable,
        record: &[u8],
    ) -> io::Result<Flow> {
        let Some(id) = record
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        else {
            return Ok(Flow::Continue);
        };
        let Some(spec) = compiled.module.events.get(id as usize) else {
            return Ok(Flow::Continue);
        };
        let args = &record[8..];
        let resolver = ScriptResolver::new(compiled, maps, self.users.clone());
        let flow = match spec {
            EventSpec::Printf {
                format,
                args: types,
            } => {
                let text = self.render_printf(id as usize, format, types, args, &resolver);
                self.write_text_event("printf", &text)?;
                Flow::Continue
            }
            EventSpec::PrintMap { map, top, div } => {
                self.print_map_with(compiled, maps, *map, *top, *div, &resolver)?;
                Flow::Continue
            }
            EventSpec::PrintValue { ty } => {
                if self.json {
                    let line = output::value_event_json(ty, args, &resolver);
                    self.out.write_all(line.as_bytes())?;
                } else {
                    writeln!(
                        self.out,
                        "{}",
                        output::print_value_text(ty, args, &resolver)
                    )?;
                }
                Flow::Continue
            }
            EventSpec::Clear { map } => {
                maps.clear(*map)?;
                Flow::Continue
            }
            EventSpec::Zero { map } => {
                maps.zero(*map)?;
                Flow::Continue
            }
            EventSpec::Time { format } => {
                let text = time::format_now(format);
                self.write_text_event("time", &text)?;
                Flow::Continue
            }
            EventSpec::Exit => {
                let code = value::read_u64(args, 0) as i64;
                Flow::Exit(code as i32)
            }
            EventSpec::Cat {
                format,
                args: types,
            } => {
                let path = self.render_printf(id as usize, format, types, args, &resolver);
                match crate::funcs::cat(&path) {
                    Ok(bytes) => self.write_text_event("cat", &String::from_utf8_lossy(&bytes))?,
                    Err(msg) => eprintln!("{msg}"),
                }
                Flow::Continue
            }
            EventSpec::System {
                format,
                args: types,
            } => {
                let command = self.render_printf(id as usize, format, types, args, &resolver);
                // Our own output first, so the command's lines come after it.
                self.out.flush()?;
                match crate::funcs::system(&command) {
                    Ok(bytes) => {
                        self.write_text_event("system", &String::from_utf8_lossy(&bytes))?
                    }
                    Err(e) => eprintln!("system: cannot run `{command}`: {e}"),
                }
                Flow::Continue
            }
            EventSpec::UserStackPid => {
                self.users.note_process(value::read_u64(args, 0) as u32);
                Flow::Continue
            }
            EventSpec::Join {
                separator,
                count,
                strlen,
            } => {
                let line = rtrace_stdlib::strings::render_join(args, *count, *strlen, separator);
                let text = if self.json { line } else { line + "\n" };
                self.write_text_event("join", &text)?;
                Flow::Continue
            }
        };
        self.out.flush()?;
        Ok(flow)
    }

    fn render_printf(
        &mut self,
        id: usize,
        format: &str,
        types: &[Type],
        args: &[u8],
        resolver: &dyn Resolver,
    ) -> String {
        if self.formats.len() <= id {
            self.formats.resize_with(id + 1, || None);
        }
        match self.formats[id].get_or_insert_with(|| printf::parse_format(format)) {
            Ok(parsed) => parsed.render_record(types, args, resolver),
            // The checker validated the format; print it raw rather than nothing.
            Err(_) => format.to_string(),
        }
    }

    fn write_text_event(&mut self, kind: &str, text: &str) -> io::Result<()> {
        if self.json {
            let line = output::json::event_json(kind, &output::json::json_string(text));
            self.out.write_all(line.as_bytes())
        } else {
            self.out.write_all(text.as_bytes())
        }
    }

    /// Print one map (`print(@m)`, REPL).
    pub fn print_map(
        &mut self,
        compiled: &Compiled,
        maps: &MapTable,
        map: MapId,
        top: u64,
        div: u64,
    ) -> io::Result<()> {
        let resolver = ScriptResolver::new(compiled, maps, self.users.clone());
        self.print_map_with(compiled, maps, map, top, div, &resolver)?;
        self.out.flush()
    }

    fn print_map_with(
        &mut self,
        compiled: &Compiled,
        maps: &MapTable,
        map: MapId,
        top: u64,
        div: u64,
        resolver: &dyn Resolver,
    ) -> io::Result<()> {
        let raw = read_raw(compiled, maps, map)?;
        let text = if self.json {
            output::print_map_json(&raw, top, div, resolver)
        } else {
            output::print_map_text(&raw, top, div, resolver)
        };
        self.out.write_all(text.as_bytes())
    }

    /// At exit: two empty lines, then every non-empty map in name order.
    pub fn print_exit_maps(&mut self, compiled: &Compiled, maps: &MapTable) -> io::Result<()> {
        self.out.write_all(b"\n\n")?;
        let mut ids: Vec<MapId> = (0..compiled.program.maps.len() as MapId).collect();
        ids.sort_by(|a, b| {
            compiled.module.maps[*a as usize]
                .name
                .cmp(&compiled.module.maps[*b as usize].name)
        });
        let resolver = ScriptResolver::new(compiled, maps, self.users.clone());
        for id in ids {
            self.print_map_with(compiled, maps, id, 0, 1, &resolver)?;
        }
        self.out.flush()
    }
}

/// Where stack frames come from: the stack maps (by name) of the module.
struct StackSource<'a> {
    specs: &'a [MapSpec],
    maps: &'a MapTable,
    users: Rc<UserSymbols>,
}

impl StackSource<'_> {
    /// The value stored under the stack's id, and the kind of its map.
    fn stored(&self, stack: &StackValue) -> Option<(MapKind, Vec<u8>)> {
        let name = stack.ty.map_name();
        let map = self.specs.iter().position(|m| m.name == name)?;
        let key = (stack.id as u32).to_le_bytes();
        let values = self.maps.lookup(map as MapId, Some(&key)).ok()??;
        Some((self.specs[map].kind, values.into_iter().next()?))
    }

    /// The addresses stored under the stack's id, up to the first zero.
    fn frames(&self, stack: &StackValue) -> Vec<u64> {
        match self.stored(stack) {
            Some((MapKind::StackTrace, bytes)) => bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                .take_while(|&a| a != 0)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A user stack recorded by build id, resolved frame by frame
    /// (`None` for stacks of plain address maps).
    fn build_id_frames(&self, stack: &StackValue) -> Option<Vec<(u64, Option<FrameSymbol>)>> {
        let (kind, bytes) = self.stored(stack)?;
        if kind != MapKind::StackTraceBuildId {
            return None;
        }
        let frames = crate::buildid::decode_frames(&bytes);
        let limit = stack.ty.limit as usize;
        Some(
            frames
                .iter()
                .take(limit)
                .map(|f| self.users.recorded_frame(f, stack.pid))
                .collect(),
        )
    }
}

/// Read a map as the printers want it (`MapTable` already hides storage details).
fn read_raw(compiled: &Compiled, maps: &MapTable, map: MapId) -> io::Result<RawMap> {
    let spec = &compiled.module.maps[map as usize];
    let entries = maps
        .read_entries(map)?
        .into_iter()
        .map(|(key, values)| RawEntry { key, values })
        .collect();
    Ok(RawMap {
        name: spec.name.clone(),
        key_type: spec.key_type.clone(),
        value_type: spec.value_type.clone(),
        entries,
    })
}
