//! User stacks of processes rtrace did not start and that exit right after
//! the probe fired: the kernel records user frames as (build id, file
//! offset), so they resolve through the probed binary's file after the
//! process is gone. A binary without a build id falls back to (pid, address)
//! resolution through the live process.

mod common;
mod programs;

use programs::*;
use std::process::Command;
use std::time::Duration;

/// The stack program (main → st_outer → st_middle → st_inner), with frame
/// pointers so the kernel can walk it; `extra` flags appended.
fn target(extra: &[&str]) -> String {
    let mut flags = vec!["-fno-omit-frame-pointer"];
    flags.extend_from_slice(extra);
    build("stack_target", &flags).display().to_string()
}

/// `    name+123` → `name`.
fn function_of(frame: &str) -> &str {
    let frame = frame.trim();
    frame.rsplit_once('+').map_or(frame, |(f, _)| f)
}

/// The blocks of lines between a line equal to `open` and the next line
/// starting with `close`.
fn blocks(lines: &[String], open: &str, close: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in lines {
        if line == open {
            current = Some(Vec::new());
        } else if line.starts_with(close) {
            if let Some(block) = current.take() {
                out.push(block);
            }
        } else if let Some(block) = current.as_mut() {
            block.push(line.clone());
        }
    }
    out
}

fn has_build_id(bin: &str) -> bool {
    let out = Command::new("readelf").args(["-n", bin]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("Build ID:")
}

/// Run `bin args` to its end, `runs` times, started by the test (not rtrace).
fn run_each(bin: &str, args: &[&str], runs: usize, tracer: &mut Tracer) {
    for _ in 0..runs {
        let status = Command::new(bin).args(args).status().unwrap();
        assert!(status.code().is_some(), "{bin} ended by a signal");
        // One event per run; wait for it so runs stay separate.
        tracer.out.expect("run", Duration::from_secs(20));
    }
}

const EXPECTED: [&str; 4] = ["st_inner", "st_middle", "st_outer", "main"];

#[test]
fn stacks_of_exited_processes_name_the_call_chain_every_time() {
    let bin = target(&[]);
    assert!(has_build_id(&bin), "gcc adds a build id note by default");
    let script = format!(
        "uprobe:{bin}:st_inner {{
            printf(\"[%s]\\n\", ustack);
            printf(\"run\\n\");
            @[ustack] = count();
            @perf[ustack(perf, 2)] = count();
        }}"
    );
    let mut tracer = Tracer::start(&["-e", &script]);
    // No argument: the program exits right after the probed call.
    run_each(&bin, &[], 10, &mut tracer);
    let out = tracer.stop();
    let s = &out.stdout;

    // printf, handled while (or after) each process exits.
    let printed = blocks(s, "[", "]");
    assert_eq!(printed.len(), 10, "{s:#?}");
    for frames in &printed {
        let names: Vec<&str> = frames.iter().map(|f| function_of(f)).collect();
        assert!(names.len() >= 4, "{s:#?}");
        assert_eq!(names[..4], EXPECTED, "{s:#?}");
        assert_eq!(frames[0], "        st_inner+0");
    }

    // Map keys, printed after every process is gone: one key per pid.
    let keys = blocks(s, "@[", "]:");
    assert_eq!(keys.len(), 10, "{s:#?}");
    for frames in &keys {
        let names: Vec<&str> = frames.iter().map(|f| function_of(f)).collect();
        assert_eq!(names[..4], EXPECTED, "{s:#?}");
        assert!(frames.iter().all(|f| f.starts_with("    ")), "{frames:?}");
    }

    // perf mode names the file the frame is in.
    let perf = blocks(s, "@perf[", "]:");
    assert_eq!(perf.len(), 10, "{s:#?}");
    for frames in &perf {
        assert_eq!(frames.len(), 2, "{frames:?}");
        for (line, name) in frames.iter().zip(["st_inner", "st_middle"]) {
            let (addr, rest) = line.strip_prefix('\t').unwrap().split_once(' ').unwrap();
            assert!(u64::from_str_radix(addr, 16).is_ok(), "{line}");
            assert!(rest.starts_with(&format!("{name}+")), "{line}");
            assert!(rest.ends_with(&format!(" ({bin})")), "{line}");
        }
    }
}

#[test]
fn binary_without_build_id_falls_back_to_the_live_process() {
    let bin = target(&["-Wl,--build-id=none"]);
    assert!(!has_build_id(&bin), "{bin} still has a build id");
    let script = format!(
        "uprobe:{bin}:st_inner {{
            printf(\"[%s]\\n\", ustack(raw, 1));
            printf(\"run\\n\");
            @[ustack] = count();
        }}"
    );
    let mut tracer = Tracer::start(&["-e", &script]);
    // The program sleeps after the probed call: the kernel records the
    // addresses only, which resolve through the process's map while it lives.
    run_each(&bin, &["300"], 2, &mut tracer);
    let out = tracer.stop();
    let s = &out.stdout;
    let keys = blocks(s, "@[", "]:");
    assert_eq!(keys.len(), 2, "{s:#?}");
    for frames in &keys {
        let names: Vec<&str> = frames.iter().map(|f| function_of(f)).collect();
        assert_eq!(names[..4], EXPECTED, "{s:#?}");
    }
    // Raw frames are the process's own addresses (a PIE: far above the
    // file's link-time addresses).
    for frames in blocks(s, "[", "]") {
        let addr = u64::from_str_radix(frames[0].trim(), 16).unwrap();
        assert!(addr > 0x10_0000, "{frames:?}");
    }
}
