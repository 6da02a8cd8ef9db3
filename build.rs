//! Renders the manual page and the shell completion scripts from the command line's definition
//! (src/cli.rs) into OUT_DIR, deflated, where src/lib.rs includes them: the binary carries the
//! text, not clap_mangen and clap_complete, and carries it in a tenth of its size.
#![forbid(unsafe_code)]
// The crate's own modules, compiled here for `Cli` alone; the rest of them is unused.
#![allow(dead_code)]

#[macro_use]
#[path = "src/wire.rs"]
mod wire;

#[path = "src/cli.rs"]
mod cli;
#[path = "src/context.rs"]
mod context;

use std::path::Path;

use clap::CommandFactory;

fn main() {
    for input in [
        "build.rs",
        "src/cli.rs",
        "src/context.rs",
        "src/wire.rs",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out_dir);
    // A fresh command for each text, as rendering one changes it (the binary's name, built
    // arguments).
    let mut manual = Vec::new();
    clap_mangen::Man::new(cli::Cli::command())
        .render(&mut manual)
        .expect("render the manual page");
    write(&out.join("amlprobe.1"), &manual);
    for &shell in cli::Shell::ALL {
        let generator: clap_complete::Shell = shell
            .as_str()
            .parse()
            .expect("clap_complete has every shell cli::Shell names");
        let mut script = Vec::new();
        clap_complete::generate(generator, &mut cli::Cli::command(), "amlprobe", &mut script);
        write(&out.join(format!("completions.{shell}")), &script);
    }
}

/// Writes the text as the binary prints it (UTF-8, anything else replaced), deflated.
fn write(path: &Path, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let packed = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 10);
    std::fs::write(path, packed).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
