//! `amlprobe explain CODE|MESSAGE`: what a reason code means, how to fix it, and where it is
//! written; or, for an error message Azure ML printed, which checks tell its causes apart.

use std::sync::Arc;

use super::messages::{self, Message};
use crate::catalog::{self, Entry};
use crate::context::Cloud;
use crate::reason::Reason;
use crate::verdict::{remediation, Subject};

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
    let errors: Vec<String> = explained_by(reason)
        .map(|m| format!("\"{}\"", m.text))
        .collect();
    if !errors.is_empty() {
        text.push_str(&format!("errors:  {}\n", errors.join("; ")));
    }
    text
}

/// The Azure ML error messages a reason code can explain.
fn explained_by(reason: Reason) -> impl Iterator<Item = &'static Message> {
    messages::MESSAGES
        .iter()
        .filter(move |m| m.explains(reason))
}

/// What `explain` prints for an error message: its causes, the checks that tell them apart (as
/// the catalog titles them), the reason codes to look for, and how to run those checks.
pub fn render_message(m: &Message, catalog: &[Arc<Entry>]) -> String {
    let mut text = format!("Azure ML error: {}\ncauses:  {}\n", m.text, m.causes);
    let entries = checks_of(m, catalog);
    if !entries.is_empty() {
        text.push_str("checks that tell the causes apart:\n");
        let width = entries.iter().map(|e| e.id.len()).max().unwrap_or(0);
        for e in &entries {
            text.push_str(&format!("  {:width$}  {}\n", e.id, e.title));
        }
    }
    if !m.reasons.is_empty() {
        text.push_str("reason codes to look for:\n");
        let width = m
            .reasons
            .iter()
            .map(|(r, _)| r.code().len())
            .max()
            .unwrap_or(0);
        for (r, here) in m.reasons {
            text.push_str(&format!("  {:width$}  {here}\n", r.code()));
        }
    }
    if !m.note.is_empty() {
        text.push_str(&format!("note:    {}\n", m.note));
    }
    if !entries.is_empty() {
        text.push_str(&format!(
            "run:     amlprobe explain '{}' --run  (with the flags check takes)\n",
            short(m)
        ));
    }
    text
}

/// The catalog entries the message's checks name, in catalog order.
pub fn checks_of(m: &Message, catalog: &[Arc<Entry>]) -> Vec<Arc<Entry>> {
    let only: Vec<String> = m.checks.iter().map(|c| c.to_string()).collect();
    match only.is_empty() {
        true => Vec::new(),
        false => catalog
            .iter()
            .filter(|e| e.selected(&only, &[]))
            .cloned()
            .collect(),
    }
}

/// The `--only` patterns `explain --run` runs for the messages found: each message's checks,
/// once, in order.
pub fn run_only(found: &[&Message]) -> Vec<String> {
    let mut only: Vec<String> = Vec::new();
    for c in found.iter().flat_map(|m| m.checks) {
        if !only.iter().any(|o| o == c) {
            only.push(c.to_string());
        }
    }
    only
}

/// The shortest words that find the message: what to paste into `explain` and search for.
pub fn short(m: &Message) -> String {
    m.keys.first().map(|k| k.join(" … ")).unwrap_or_default()
}

#[cfg(test)]
/// `docs/reasons.md`: every reason code with its status, meaning, fix and document, the text
/// `explain` prints, as Markdown a page can link to (`docs/reasons.md#tcp_timeout`).
pub fn reference() -> String {
    let mut out = String::from(
        "# Reason codes\n\nEvery result of amlprobe carries one of these codes. This page is generated \
         from the code (`src/reason.rs`, `src/verdict/`), and `amlprobe explain CODE` prints the same text; a unit \
         test fails when the two disagree. `amlprobe explain \"<error text>\"` takes the Azure ML \
         error messages of the last column, pasted as they are.\n\n\
         | code | status | meaning | Azure ML error messages it explains |\n|---|---|---|---|\n",
    );
    for &r in Reason::ALL {
        let errors: Vec<String> = explained_by(r).map(|m| format!("`{}`", short(m))).collect();
        out.push_str(&format!(
            "| [`{0}`](#{0}) | {1} | {2} | {3} |\n",
            r.code(),
            r.status().as_str(),
            markdown(r.meaning()),
            errors.join(", ")
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
            let (label, text) = match label {
                "see" => (label, format!("<{text}>")),
                "errors" => ("Azure ML error messages", markdown(text)),
                _ => (label, markdown(text)),
            };
            out.push_str(&format!("- **{label}:** {text}\n"));
        }
    }
    out
}

#[cfg(test)]
/// The code's own words in Markdown: a placeholder like `<host>` shown, not read as HTML.
fn markdown(s: &str) -> String {
    s.replace('<', "\\<")
        .replace('>', "\\>")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/GUIDE.md"));

    /// The guide's example is what `explain` prints.
    #[test]
    fn the_guide_example_is_the_output() {
        let found = messages::matching("mount error(115): Operation now in progress");
        let text = render_message(found[0], &catalog::load(&[]).unwrap());
        assert!(
            GUIDE.contains(&format!(
                "$ amlprobe explain \"mount error(115): Operation now in progress\"\n{text}"
            )),
            "GUIDE.md's explain example differs from:\n{text}"
        );
    }

    /// The guide names every message `explain` knows, by the words that find it.
    #[test]
    fn the_guide_names_every_message() {
        for m in messages::MESSAGES {
            let words = format!("`{}`", short(m));
            assert!(GUIDE.contains(&words), "GUIDE.md does not name {words}");
        }
    }

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
