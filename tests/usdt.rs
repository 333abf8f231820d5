//! USDT probes on the real kernel: a test program whose probes use every kind
//! of argument location and a semaphore, a probe in a shared library, and
//! PostgreSQL 15's `query__start` on a private cluster the test starts itself.

mod common;
mod programs;

use programs::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

fn usdt_target() -> String {
    build("usdt_target", &[]).display().to_string()
}

/// The lines the three probes print for `fire n` (the program's global
/// counter starts at 1000 and grows by one per call).
fn expected_fires(n: i64) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 1..=n {
        lines.push(format!("tick {i} {} hello usdt", -i));
        lines.push(format!("loc 42 {} {} -7", -3 * i, 1000 + i));
        lines.push(format!("narrow {} {}", 100 * i, 97 + i));
    }
    lines
}

fn fire_script(bin: &str) -> String {
    format!(
        "usdt:{bin}:rtrace_test:tick {{ printf(\"tick %d %d %s\\n\", arg0, arg1, str(arg2)); }}
         usdt:{bin}:locations {{ printf(\"loc %d %d %d %d\\n\", arg0, arg1, arg2, arg3); }}
         U:{bin}:rtrace_test:narrow {{ printf(\"narrow %d %d\\n\", arg0, arg1); }}"
    )
}

#[test]
fn semaphore_is_raised_while_attached_and_arguments_are_exact() {
    let bin = usdt_target();
    let mut program = LineProcess::spawn(Path::new(&bin), &[]);
    assert_eq!(program.ask("sem", "sem"), "sem 0");
    let pid = program.pid().to_string();
    let mut tracer = Tracer::start(&["-p", &pid, "-e", &fire_script(&bin)]);
    assert_eq!(tracer.attach_line, "Attaching 3 probes...");
    assert_eq!(
        program.ask("sem", "sem"),
        "sem 1",
        "semaphore while attached"
    );
    assert_eq!(program.ask("fire 3", "fired"), "fired 3");
    let expected = expected_fires(3);
    let mut got = Vec::new();
    for line in &expected {
        let prefix = line.split(' ').next().unwrap();
        got.push(tracer.out.expect(prefix, Duration::from_secs(10)));
    }
    assert_eq!(got, expected);
    let out = tracer.stop();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(program.ask("sem", "sem"), "sem 0", "semaphore after detach");
    program.send("quit");
    program.finish();
}

#[test]
fn wildcards_attach_every_probe_of_a_provider() {
    let bin = usdt_target();
    let mut program = LineProcess::spawn(Path::new(&bin), &[]);
    let pid = program.pid().to_string();
    let script = format!("usdt:{bin}:rtrace_test:* {{ @[probe] = count(); }}");
    let tracer = Tracer::start(&["-p", &pid, "-e", &script]);
    assert_eq!(tracer.attach_line, "Attaching 3 probes...");
    assert_eq!(program.ask("fire 2", "fired"), "fired 2");
    program.send("quit");
    program.finish();
    // The traced process exited: tracing ends by itself.
    let out = tracer.wait(Duration::from_secs(20));
    for name in ["tick", "locations", "narrow"] {
        let line = format!("@[usdt:{bin}:rtrace_test:{name}]: 2");
        assert!(out.stdout.contains(&line), "{line}: {out:?}");
    }
}

#[test]
fn probes_in_a_shared_library() {
    let lib = build_shared("usdt_lib");
    let dir = lib.parent().unwrap().display().to_string();
    let user = build(
        "usdt_lib_user",
        &[
            &format!("-L{dir}"),
            "-lusdt_lib",
            &format!("-Wl,-rpath,{dir}"),
        ],
    );
    let user = user.display().to_string();
    // By path, with -c.
    let script = format!(
        "usdt:{}:rtrace_lib:fire {{ printf(\"fire %d %d\\n\", arg0, arg1); }}",
        lib.display()
    );
    let out = rtrace(&["-c", &format!("{user} 3"), "-e", &script]);
    assert!(out.status.success(), "{out:?}");
    let fires: Vec<&String> = out
        .stdout
        .iter()
        .filter(|l| l.starts_with("fire"))
        .collect();
    assert_eq!(fires, ["fire 1 1", "fire 2 4", "fire 3 9"], "{out:?}");

    // With -p: found among the process's mapped files, by provider and name
    // and by the library's short name.
    for probe in ["usdt:rtrace_lib:fire", "usdt:usdt_lib:fire"] {
        let mut program = LineProcess::spawn(Path::new(&user), &["4"]);
        let pid = program.pid().to_string();
        let script = format!("{probe} {{ @sum = sum(arg1); }}");
        let tracer = Tracer::start(&["-p", &pid, "-e", &script]);
        program.send("go");
        program.out.expect("done", Duration::from_secs(10));
        program.finish();
        let out = tracer.wait(Duration::from_secs(20));
        assert!(
            out.stdout.contains(&"@sum: 30".to_string()),
            "{probe}: {out:?}"
        );
    }
}

#[test]
fn missing_usdt_probes_and_arguments_are_explained() {
    let bin = usdt_target();
    let cases = [
        (
            format!("usdt:{bin}:nope {{ }}"),
            format!("no USDT probe matches `*:nope` in {bin}"),
        ),
        (
            format!("usdt:{bin}:narrow {{ @ = arg2; }}"),
            "USDT probe rtrace_test:narrow has 2 argument(s): arg2 does not exist".to_string(),
        ),
    ];
    for (script, message) in cases {
        let out = rtrace(&["-e", &script]);
        assert_eq!(out.status.code(), Some(1), "{script}: {out:?}");
        assert!(out.stderr.contains(&message), "{script}: {}", out.stderr);
    }
}

/// A private PostgreSQL 15 cluster in a temporary directory, listening only on
/// a unix socket there; stopped and removed on drop. Never the system's cluster.
struct PgCluster {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    uid: u32,
    gid: u32,
}

impl PgCluster {
    fn start() -> PgCluster {
        let out = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("PostgreSQL 15 (pg_config) is needed for the USDT tests");
        let bindir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(
            bindir.join("postgres").exists(),
            "no postgres binary in {}",
            bindir.display()
        );
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let (uid, gid) = passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f[0] == "postgres").then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
            })
            .expect("a `postgres` user is needed to run a PostgreSQL cluster");
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pg-cluster-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        let cluster = PgCluster {
            dir,
            bindir,
            port: 54329 + n,
            uid,
            gid,
        };
        cluster.run_as_postgres(
            "initdb",
            &["-D", "data", "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=''",
            cluster.port,
            cluster.dir.display()
        );
        cluster.run_as_postgres(
            "pg_ctl",
            &["-D", "data", "-o", &options, "-l", "log", "-w", "start"],
        );
        cluster
    }

    fn run_as_postgres(&self, tool: &str, args: &[&str]) {
        let out = Command::new(self.bindir.join(tool))
            .args(args)
            .current_dir(&self.dir)
            .uid(self.uid)
            .gid(self.gid)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn query(&self, sql: &str) {
        let port = self.port.to_string();
        let host = self.dir.display().to_string();
        let out = Command::new(self.bindir.join("psql"))
            .args(["-h", &host, "-p", &port, "-U", "postgres", "-d", "postgres"])
            .args(["-X", "-q", "-c", sql])
            .uid(self.uid)
            .gid(self.gid)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new(self.bindir.join("pg_ctl"))
            .args(["-D", "data", "-m", "immediate", "stop"])
            .current_dir(&self.dir)
            .uid(self.uid)
            .gid(self.gid)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn postgres_query_start_gives_the_query_text() {
    let pg = PgCluster::start();
    let postgres = pg.bindir.join("postgres").display().to_string();
    let marker = format!("rtrace-usdt-{}", std::process::id());
    let script = format!("usdt:{postgres}:query__start {{ printf(\"query: %s\\n\", str(arg0)); }}");
    let mut tracer = Tracer::start(&["-e", &script]);
    let sql = format!("select '{marker}' as marker");
    pg.query(&sql);
    // The machine may run other clusters: look for our query among theirs.
    let line = tracer
        .out
        .expect(&format!("query: {sql}"), Duration::from_secs(10));
    assert_eq!(line, format!("query: {sql}"));
    let out = tracer.stop();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn every_postgres_probe_site_attaches() {
    let pg = PgCluster::start();
    let postgres = pg.bindir.join("postgres").display().to_string();
    // 71 probe sites of 57 probes, all with semaphores.
    let script = format!("usdt:{postgres}:* {{ @[probe] = count(); }}");
    let tracer = Tracer::start(&["-e", &script]);
    assert_eq!(tracer.attach_line, "Attaching 57 probes...");
    pg.query("select count(*) from pg_class");
    let out = tracer.stop();
    assert!(out.status.success(), "{out:?}");
    for probe in ["query__start", "query__done", "transaction__start"] {
        let key = format!("@[usdt:{postgres}:postgresql:{probe}]: ");
        assert!(
            out.stdout.iter().any(|l| l.starts_with(&key)),
            "{probe}: {out:?}"
        );
    }
}
