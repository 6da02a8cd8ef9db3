#![forbid(unsafe_code)]

fn main() {
    std::process::exit(amlprobe::main_with_args(std::env::args_os()));
}
