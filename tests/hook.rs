//! The setup hook's own exit codes and policies where amlprobe stops before any packet:
//! misuse of the hook, bad input to amlprobe (2), and amlprobe unable to run (3).

use std::path::Path;
use std::process::{Command, Output};

fn hook(
    policy: &str,
    source: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Output, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "amlprobe-hook-{}-{policy}-{}",
        std::process::id(),
        args.join("_").len() + env.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/azureml-setup-hook.sh"))
        .args(args)
        .env("AMLPROBE_POLICY", policy)
        .env("AMLPROBE_LOG_DIR", dir.join("log"))
        .env("AMLPROBE_INSTALL_DIR", dir.join("bin"))
        // Nothing here may send a packet: not even to the metadata service.
        .env("AMLPROBE_OFFLINE", "1")
        .env("AMLPROBE_ENV_FILE", "/nonexistent");
    match source {
        Some(s) => cmd.env("AMLPROBE_SOURCE", s),
        None => cmd.env_remove("AMLPROBE_SOURCE"),
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.output().expect("bash"), dir)
}

const BIN: &str = env!("CARGO_BIN_EXE_amlprobe");

#[test]
fn misuse_of_the_hook_is_exit_2_with_a_message() {
    let (out, dir) = hook("fail", None, &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AMLPROBE_SOURCE"));
    let (out, _) = hook("sometimes", Some(BIN), &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use fail or record"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn amlprobe_exit_codes_pass_through_under_fail_and_are_recorded_under_record() {
    // Bad input to amlprobe: exit 2 before anything is probed.
    let (out, dir) = hook("fail", Some(BIN), &[], &["--region", "west europe"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.join("bin/amlprobe").exists(),
        "installed from AMLPROBE_SOURCE"
    );
    let (out, _) = hook("record", Some(BIN), &[], &["--region", "west europe"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("amlprobe exited 2"));
    // No CA certificates at all: amlprobe cannot run, exit 3.
    let no_ca = [
        ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
        ("SSL_CERT_DIR", "/nonexistent"),
    ];
    let (out, dir) = hook("fail", Some(BIN), &no_ca, &["--region", "westeurope"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(dir.join("log/report.txt")).is_ok());
    let (out, _) = hook("record", Some(BIN), &no_ca, &["--region", "westeurope"]);
    assert_eq!(out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}
