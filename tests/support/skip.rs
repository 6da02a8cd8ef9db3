//! A test that cannot run here: one way for every suite to say so.

use std::io::Write as _;

/// Ends a test that cannot run on this machine (no root, a tool or build missing). In CI (`CI`
/// set), which has all it needs, that is a failure. Elsewhere the test passes, so a machine
/// without root or the servers can still run the other tests, but not unnoticed: the test
/// harness keeps what a passing test prints with `println!` or `eprintln!` to itself, so the
/// notice is written to the process's stderr directly, which the harness does not capture,
/// framed to stand out among the `ok` lines.
pub fn skip_unless_ci(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI cannot skip: {why}");
    let line = format!("SKIPPED {why}; CI=1 fails instead");
    let frame = "!".repeat(line.len() + 8);
    let _ = writeln!(std::io::stderr().lock(), "{frame}\n!!! {line} !!!\n{frame}");
}
