//! The formats `fix` writes: each reads the same [`Fixes`](super::model::Fixes). The scripts and
//! the declarations write the same [`Layout`](super::layout::Layout); markdown puts them in
//! fenced blocks under its own words.

pub mod az;
pub mod bicep;
#[cfg(test)]
mod conformance;
pub mod managed;
pub mod markdown;
pub mod terraform;

#[cfg(test)]
mod hidden_tests {
    use crate::cli::FixFormat;
    use crate::fix::model::Rule;
    use crate::fix::sample::every_rule;
    use crate::report::text::hidden;

    /// A name a report gave, with characters that hide or reorder text, is shown as escapes in
    /// every format, in its code and its comments alike.
    #[test]
    fn names_from_a_report_hide_nothing_in_any_format() {
        let mut fixes = every_rule();
        for change in &mut fixes.changes {
            if let Rule::StorageSubnet { account } = &mut change.rule {
                *account = "store\u{202E}1\u{FEFF}\u{FFFE}".into();
            }
        }
        for format in FixFormat::ALL {
            let text = super::super::render(&fixes, *format);
            assert!(text.contains("store"), "{format}");
            let raw: Vec<&str> = text
                .lines()
                .filter(|l| l.chars().any(|c| hidden(c) && c != '\t'))
                .collect();
            assert!(raw.is_empty(), "{format}: {raw:?}");
        }
    }
}
