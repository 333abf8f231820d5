//! Compile a script and print its IR and eBPF: `cargo run -p rtrace-compiler --example dump -- 'script'`.
fn main() {
    let src = std::env::args().nth(1).expect("script text");
    match rtrace_compiler::pipeline::compile(&src, &Default::default()) {
        Ok(c) => {
            println!("{}", c.module);
            for k in &c.kernel {
                println!(
                    "; {} ({} insns)\n{}",
                    k.section,
                    k.program.insns.len(),
                    rtrace_compiler::bpf::disassemble(&k.program)
                );
            }
        }
        Err(e) => eprint!("{}", e.render("stdin", &src, false)),
    }
}
