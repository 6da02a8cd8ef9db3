//! Text from the network, the node or the catalog, made safe to show. Certificate names, server
//! headers, variables and metadata are chosen by whoever sends them, including the middlebox
//! being diagnosed; on a terminal a control sequence in them could clear the screen, retitle
//! the window or print a fake result. Every human format shows such characters as visible
//! escapes instead; XML replaces what XML 1.0 cannot hold.

use std::borrow::Cow;

/// Characters that do not print as themselves: C0 and C1 controls, DEL, and the invisible
/// format characters that reorder or hide text (bidirectional overrides, zero-width marks,
/// line and paragraph separators, the byte-order mark) and the noncharacters.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{FDD0}'..='\u{FDEF}'
            | '\u{FFFE}'
            | '\u{FFFF}')
}

/// One line for a person: every hidden character, newlines and tabs included, as `\u{…}`.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s)
}

fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Characters XML 1.0 allows in a document: tab, newline, carriage return, and the rest of
/// the plane except the surrogates (which a Rust string cannot hold) and U+FFFE/U+FFFF.
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text for an XML attribute or element: markup escaped, and what XML cannot hold (or what
/// would hide itself) shown as `\u{…}`.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if !xml_allows(c) || (hidden(c) && !matches!(c, '\n' | '\t')) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// JSON text whose hidden characters (which JSON allows raw past U+001F) are written as
/// `\uXXXX` escapes: the same value, safe to show. They only occur inside strings.
pub fn json_shown(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| hidden(c) && c != '\n') {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if hidden(c) && c != '\n' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_shown_not_played() {
        assert_eq!(printable("plain text"), "plain text");
        assert_eq!(
            printable("\u{1b}]0;x\u{7}\u{1b}[2J"),
            "\\u{1b}]0;x\\u{7}\\u{1b}[2J"
        );
        assert_eq!(printable("a\nPASS"), "a\\u{a}PASS");
        assert_eq!(printable("b\u{9b}c"), "b\\u{9b}c");
        assert_eq!(printable("evil\u{202E}txt"), "evil\\u{202e}txt");
    }

    #[test]
    fn xml_holds_only_what_xml_allows() {
        assert_eq!(
            xml("a<b & \u{FFFE}\u{FFFF}\u{1}"),
            "a&lt;b &amp; \\u{fffe}\\u{ffff}\\u{1}"
        );
        assert_eq!(xml("line\nnext"), "line\nnext");
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({"name": "a\u{9b}b\u{202E}"});
        let shown = json_shown(&v.to_string()).into_owned();
        assert!(!shown.contains('\u{9b}'));
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, v);
    }
}
