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

/// `docs/reasons.md`: every reason code with its status, meaning, fix and document, the text
/// `explain` prints, as Markdown a page can link to (`docs/reasons.md#tcp_timeout`).
pub fn reference() -> String {
    let mut out = String::from(
        "# Reason codes\n\nEvery result of amlprobe carries one of these codes. This page is generated \
         from the code (`src/verdict/`), and `amlprobe explain CODE` prints the same text; a unit \
         test fails when the two disagree.\n\n| code | status | meaning |\n|---|---|---|\n",
    );
    for &r in Reason::ALL {
        out.push_str(&format!(
            "| [`{0}`](#{0}) | {1} | {2} |\n",
            r.code(),
            r.status().as_str(),
            markdown(r.meaning())
        ));
    }
    for &r in Reason::ALL {
        out.push_str(&format!("\n## {}\n\n", r.code()));
        out.push_str(&format!("- **status:** {}\n", r.status().as_str()));
        for line in render(r).lines().skip(1) {
            let Some((label, text)) = line.split_once(':') else {
                continue;
            };
            let text = text.trim();
            let text = match label {
                "see" => format!("<{text}>"),
                _ => markdown(text),
            };
            out.push_str(&format!("- **{label}:** {text}\n"));
        }
    }
    out
}

/// The code's own words in Markdown: a placeholder like `<host>` shown, not read as HTML.
fn markdown(s: &str) -> String {
    s.replace('<', "\\<")
        .replace('>', "\\>")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_reasons_md_is_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reasons.md");
        let want = reference();
        if std::env::var_os("AMLPROBE_UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &want).expect("write docs/reasons.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/reasons.md differs from the code; rerun with AMLPROBE_UPDATE_GOLDEN=1"
        );
        for &r in Reason::ALL {
            assert!(
                have.contains(&format!("\n## {}\n", r.code())),
                "{}",
                r.code()
            );
        }
    }
}
