//! `amlprobe explain CODE`: what a reason code means, how to fix it, and where it is written.

use crate::catalog;
use crate::context::Cloud;
use crate::verdict::{remediation, Reason, Subject};

/// The text for one reason, with the fix worded for no particular host.
pub fn render(reason: Reason) -> String {
    let fix = remediation(
        reason,
        &Subject {
            host: "<host>",
            port: None,
            transport: "tcp",
            service_tag: None,
            stands_for: None,
            forward_zones: &catalog::forward_zones(Cloud::Public).join(", "),
            check: None,
        },
    );
    let mut text = format!(
        "{}  ({})\nmeaning: {}\n",
        reason.code(),
        reason.status().as_str(),
        reason.meaning()
    );
    if !fix.is_empty() {
        text.push_str(&format!("fix:     {fix}\n"));
    }
    let doc = reason.doc();
    if !doc.is_empty() {
        text.push_str(&format!("see:     {doc}\n"));
    }
    text
}
