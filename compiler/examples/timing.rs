//! Time each compiler stage on a script file: `cargo run --release -p rtrace-compiler --example timing -- FILE`.
use rtrace_compiler::{bpf, check, jit, lower, parse};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("script file");
    let src = std::fs::read_to_string(path).expect("readable script");
    let t = Instant::now();
    let ast = parse::parse(&src).expect("parses");
    let parsed = t.elapsed();
    let program = check::check(&ast, &Default::default()).expect("checks");
    let checked = t.elapsed();
    let module = lower::lower(&program);
    let lowered = t.elapsed();
    let (mut kernel, mut user) = (Vec::new(), Vec::new());
    for (i, p) in program.probes.iter().enumerate() {
        if p.target.runs_in_user_space() {
            user.push(i);
        } else {
            kernel.push(
                bpf::emit_function(&module, &module.functions[i], &Default::default())
                    .expect("emits"),
            );
        }
    }
    let emitted = t.elapsed();
    let jitted = jit::compile(&module, &user).expect("jits");
    let done = t.elapsed();
    let insns: usize = kernel.iter().map(|k| k.insns.len()).sum();
    eprintln!(
        "parse {parsed:?}, check {:?}, lower {:?}, eBPF {:?} ({insns} insns), JIT {:?} ({} blocks); total {done:?}",
        checked - parsed,
        lowered - checked,
        emitted - lowered,
        done - emitted,
        jitted.len()
    );
}
