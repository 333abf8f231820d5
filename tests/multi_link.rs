//! Multi-site uprobes on one `uprobe_multi` link (Linux 6.6+; this VM runs
//! 6.18): a uprobe/uretprobe wildcard over a test program's functions and a
//! USDT wildcard with per-site arguments and a semaphore, each proven to run
//! on a single link by the tracer's fdinfo.

mod common;
mod programs;

use programs::*;
use std::path::Path;
use std::time::Instant;

/// The `link_type` of every BPF link the process `pid` holds.
fn link_types(pid: u32) -> Vec<String> {
    let mut types = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).unwrap() {
        let Ok(text) = std::fs::read_to_string(entry.unwrap().path()) else {
            continue;
        };
        if let Some(line) = text.lines().find(|l| l.starts_with("link_type:")) {
            types.push(line["link_type:".len()..].trim().to_string());
        }
    }
    types.sort();
    types
}

#[test]
fn uprobe_and_uretprobe_wildcards_run_on_one_link_each_with_exact_func() {
    let bin = build("uprobe_target", &[]).display().to_string();
    let script = format!(
        "uprobe:{bin}:rt_* {{ @calls[func] = count(); @args[func, arg0] = count(); }}
         uretprobe:{bin}:rt_* {{ @ret[func, (int64)retval] = count(); }}"
    );
    let tracer = Tracer::start(&["-e", &script]);
    assert_eq!(tracer.attach_line, "Attaching 6 probes...");
    assert_eq!(
        link_types(tracer.pid()),
        ["uprobe_multi", "uretprobe_multi"],
        "one link for the uprobes, one for the uretprobes"
    );
    let status = std::process::Command::new(&bin).arg("3").output().unwrap();
    assert!(status.status.success());
    let started = Instant::now();
    let out = tracer.stop();
    eprintln!(
        "6 uprobe sites on 2 links: stop + detach {:?}",
        started.elapsed()
    );
    assert!(out.status.success(), "{out:?}");
    let maps = maps_section(&out.stdout);
    for f in ["rt_add", "rt_negate", "rt_greet"] {
        assert!(maps.contains(&format!("@calls[{f}]: 3")), "{f}: {maps:?}");
    }
    for i in 1..=3 {
        // rt_add(i, 10 i) returns 11 i; rt_negate(-i) returns i.
        assert!(maps.contains(&format!("@args[rt_add, {i}]: 1")), "{maps:?}");
        assert!(
            maps.contains(&format!("@ret[rt_add, {}]: 1", 11 * i)),
            "{maps:?}"
        );
        assert!(
            maps.contains(&format!("@ret[rt_negate, {i}]: 1")),
            "{maps:?}"
        );
    }
    assert!(
        maps.contains(&"@ret[rt_greet, 8]: 3".to_string()),
        "{maps:?}"
    );
}

#[test]
fn usdt_sites_share_one_link_with_their_own_arguments_and_the_semaphore() {
    let bin = build("usdt_target", &[]).display().to_string();
    let mut program = LineProcess::spawn(Path::new(&bin), &[]);
    assert_eq!(program.ask("sem", "sem"), "sem 0");
    let pid = program.pid().to_string();
    let script = format!("usdt:{bin}:rtrace_test:* {{ @[probe, arg0] = count(); }}");
    let tracer = Tracer::start(&["-p", &pid, "-e", &script]);
    assert_eq!(tracer.attach_line, "Attaching 3 probes...");
    assert_eq!(link_types(tracer.pid()), ["uprobe_multi"]);
    assert_eq!(
        program.ask("sem", "sem"),
        "sem 1",
        "semaphore while attached"
    );
    assert_eq!(program.ask("fire 2", "fired"), "fired 2");
    let started = Instant::now();
    let out = tracer.stop();
    eprintln!(
        "3 USDT sites on 1 link: stop + detach {:?}",
        started.elapsed()
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(program.ask("sem", "sem"), "sem 0", "semaphore after detach");
    program.send("quit");
    program.finish();
    let maps = maps_section(&out.stdout);
    let probe = |name: &str| format!("usdt:{bin}:rtrace_test:{name}");
    let mut expected = vec![
        format!("@[{}, 1]: 1", probe("tick")),
        format!("@[{}, 2]: 1", probe("tick")),
        format!("@[{}, 42]: 2", probe("locations")),
        format!("@[{}, 100]: 1", probe("narrow")),
        format!("@[{}, 200]: 1", probe("narrow")),
    ];
    expected.sort();
    let mut got: Vec<String> = maps.into_iter().filter(|l| l.starts_with("@[")).collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn many_postgres_sites_detach_quickly() {
    let Some(postgres) = ["/usr/lib/postgresql/15/bin/postgres"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        panic!("PostgreSQL 15 is installed on this machine; its binary is missing");
    };
    let script = format!("usdt:{postgres}:* {{ @[probe] = count(); }}");
    let tracer = Tracer::start(&["-e", &script]);
    assert_eq!(link_types(tracer.pid()), ["uprobe_multi"]);
    let started = Instant::now();
    let out = tracer.stop();
    let took = started.elapsed();
    eprintln!("71 PostgreSQL USDT sites on 1 link: stop + detach {took:?}");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn no_site_of_a_multi_link_fires_while_end_runs() {
    // A busy target keeps hitting the probes; END reads the count and the map
    // printed after END must show the same number: the link is gone by then.
    // A copy of the program (another inode), so the other tests' probes on the
    // original never see its calls.
    let original = build("uprobe_target", &[]);
    let bin = original.with_file_name(format!("uprobe_target_busy_{}", std::process::id()));
    std::fs::copy(&original, &bin).unwrap();
    let bin = bin.display().to_string();
    let mut target = common::spawn_fresh_copy(
        std::process::Command::new(&bin)
            .arg("1000000000")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null()),
    );
    let script = format!(
        "uprobe:{bin}:rt_* {{ @c = count(); }}
         END {{ printf(\"end %d\\n\", @c); }}"
    );
    let tracer = Tracer::start(&["-e", &script]);
    assert_eq!(link_types(tracer.pid()), ["uprobe_multi"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = tracer.stop();
    let _ = target.kill();
    let _ = target.wait();
    let _ = std::fs::remove_file(&bin);
    assert!(out.status.success(), "{out:?}");
    let at_end = out
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("end "))
        .expect("END ran")
        .to_string();
    assert_ne!(at_end, "0", "the busy target was traced");
    assert!(
        out.stdout.contains(&format!("@c: {at_end}")),
        "the count grew after END: {:?}",
        out.stdout
    );
}
