//! `fix` on the report a scenario's run wrote: every format against its golden file, and each
//! checked the way its own tool would read it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::probe::amlprobe;

/// The formats and the extension of their golden files.
const FORMATS: &[(&str, &str)] = &[
    ("markdown", "md"),
    ("az", "az.sh"),
    ("bicep", "bicep"),
    ("terraform", "tf"),
    ("managed-network", "managed.sh"),
];

/// `fix` in every format on `report`: the exit code, the golden text, and the output's own
/// syntax (bash for scripts, a real HCL parser for Terraform); and never a rule wider than the
/// failure.
pub fn golden(name: &str, report: &Path, exit: i32) {
    for (format, ext) in FORMATS {
        let out = Command::new(amlprobe())
            .args(["fix", "--format", format])
            .arg(report)
            .output()
            .expect("run amlprobe fix");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let context = format!(
            "fix --format {format} on scenario {name}\nstderr: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(exit), "exit code of {context}");
        assert!(out.stderr.is_empty(), "{context}");
        no_wider_than_the_failure(&text, &context);
        if exit == 0 && *format == "markdown" {
            assert!(text.contains("Nothing to change"), "{context}");
        }
        match *format {
            "az" | "managed-network" => {
                parses("bash", &["-n"], &text, &context);
                known_az_commands(&text, &context);
            }
            "terraform" => terraform_parses(&text, &context),
            _ => {}
        }
        super::verify::matches_golden(&format!("fix/{name}.{ext}"), &text, &context);
    }
}

/// No destination of everything, no whole address space, no tag of all of Azure.
pub fn no_wider_than_the_failure(text: &str, context: &str) {
    for banned in ["0.0.0.0/0", "AzureCloud", "Allow_All", "allow all"] {
        assert!(!text.contains(banned), "{banned} in {context}");
    }
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.contains("destination") || lower.contains("address") {
            for star in ["'*'", "\"*\"", "[*]", "= *"] {
                assert!(
                    !line.contains(star),
                    "a '*' destination in {line:?}\n{context}"
                );
            }
        }
    }
}

/// The command groups a script may use: what changes firewalls, NSGs, routes, DNS links,
/// subnets, storage rules and managed outbound rules, and nothing else.
const AZ_GROUPS: &[&str] = &[
    "az network firewall policy rule-collection-group ",
    "az network nsg rule create ",
    "az network route-table route create ",
    "az network private-dns link vnet create ",
    "az network vnet subnet update ",
    "az storage account network-rule add ",
    "az ml workspace outbound-rule set ",
];

/// Every command of a script (its lines joined where they continue) is `az` in a known group,
/// or a variable set to a quoted value.
fn known_az_commands(text: &str, context: &str) {
    let joined = text.replace("\\\n", " ");
    for line in joined.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line == "set -euo pipefail" {
            continue;
        }
        let assignment = line
            .split_once("='")
            .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
        assert!(
            assignment || AZ_GROUPS.iter().any(|g| line.starts_with(g)),
            "not a known az command: {line:?}\n{context}"
        );
    }
}

fn parses(program: &str, args: &[&str], text: &str, context: &str) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} rejects it: {}\n{context}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The file is HCL, as Terraform reads it.
fn terraform_parses(text: &str, context: &str) {
    if let Err(e) = hcl_edit::parser::parse_body(text) {
        panic!("not HCL: {e}\n{context}");
    }
}
