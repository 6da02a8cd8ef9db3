//! Reading a large catalog file one `[[endpoint]]` section at a time. The TOML parser builds
//! a document of the whole text before any entry is read, at many times the text's size; a
//! section at a time, only the entries themselves stay.
//!
//! A section runs from a line that starts with `[[endpoint]]` to the next such line; the first
//! also holds what comes before it. Each header starts a new element of `endpoint`, and what
//! follows it belongs to that element (a table of any other name is an unknown field), so a
//! section reads alone as it reads in the whole file. A line that only looks like a header,
//! inside a multi-line string or array, leaves the section before it unfinished: when any
//! section does not read, the whole text is read instead, so that a bad file is rejected with
//! the very error it always was.

use std::ops::Range;

use serde::de::DeserializeOwned;

/// A file's contents that can be read in sections and put back together.
pub(super) trait Sections: DeserializeOwned {
    /// Make room for `sections` more, once, rather than growing by doubling.
    fn reserve(&mut self, sections: usize);

    /// Add `later`, read from the text at byte `offset` on, after what `self` holds.
    fn append(&mut self, later: Self, offset: usize);
}

/// The line that opens a section.
const HEADER: &str = "[[endpoint]]";

/// `text` as `toml::from_str` reads it.
pub(super) fn read<T: Sections>(text: &str) -> Result<T, toml::de::Error> {
    let ranges = sections(text);
    // The first section starts the text: its spans need no shift.
    let Some((first, rest)) = ranges.split_first().filter(|(_, rest)| !rest.is_empty()) else {
        return toml::from_str(text);
    };
    let Ok(mut whole) = toml::from_str::<T>(&text[first.clone()]) else {
        return toml::from_str(text);
    };
    whole.reserve(rest.len());
    for range in rest {
        let Ok(part) = toml::from_str::<T>(&text[range.clone()]) else {
            return toml::from_str(text);
        };
        whole.append(part, range.start);
    }
    Ok(whole)
}

/// The byte ranges of the sections, in order, covering the whole text.
fn sections(text: &str) -> Vec<Range<usize>> {
    let mut starts = vec![0];
    let (mut at, mut first) = (0, true);
    for line in text.split_inclusive('\n') {
        if line.starts_with(HEADER) {
            // The first header stays with what comes before it.
            if !first {
                starts.push(at);
            }
            first = false;
        }
        at += line.len();
    }
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    starts.iter().zip(ends).map(|(&s, e)| s..e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        endpoint: Vec<toml::Spanned<Entry>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        id: String,
        doc: Option<String>,
        usgov: Option<Cloud>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cloud {
        host: String,
    }

    impl Sections for File {
        fn reserve(&mut self, sections: usize) {
            self.endpoint.reserve(sections);
        }

        fn append(&mut self, later: File, offset: usize) {
            self.endpoint.extend(later.endpoint.into_iter().map(|e| {
                let span = e.span();
                toml::Spanned::new(span.start + offset..span.end + offset, e.into_inner())
            }));
        }
    }

    /// Read in sections, and as a whole: the same entries and spans, or the same error.
    fn same(text: &str) -> Result<File, String> {
        let whole = toml::from_str::<File>(text).map_err(|e| e.to_string());
        let parts = read::<File>(text).map_err(|e| e.to_string());
        assert_eq!(parts, whole, "{text:?}");
        // `Spanned` compares its values only.
        let spans = |f: &Result<File, String>| -> Vec<Range<usize>> {
            f.iter()
                .flat_map(|f| f.endpoint.iter().map(|e| e.span()))
                .collect()
        };
        assert_eq!(spans(&parts), spans(&whole), "{text:?}");
        whole
    }

    #[test]
    fn sections_read_as_the_whole_file() {
        let three = "# catalog\n\n[[endpoint]]\nid = \"a\"\n[endpoint.usgov]\nhost = \"a.us\"\n\n[[endpoint]] # b\nid = \"b\"\r\n[[endpoint]]\nid = \"c\"\n";
        let file = same(three).unwrap();
        let ids: Vec<&str> = file
            .endpoint
            .iter()
            .map(|e| e.get_ref().id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(sections(three).len(), 3);
        assert_eq!(file.endpoint[2].span().start, three.rfind(HEADER).unwrap());
        same("").unwrap();
        same("[[endpoint]]\nid = \"a\"\n").unwrap();
    }

    #[test]
    fn a_header_line_inside_a_value_is_read_with_the_whole_file() {
        for text in [
            // A header line inside a multi-line string belongs to the string.
            "[[endpoint]]\nid = \"a\"\ndoc = \"\"\"\n[[endpoint]]\nid = \"b\"\n\"\"\"\n",
            "[[endpoint]]\nid = \"a\"\ndoc = '''\n[[endpoint]]\n'''\n[[endpoint]]\nid = \"c\"\n",
        ] {
            let file = same(text).unwrap();
            assert!(file.endpoint[0].get_ref().doc.is_some(), "{text:?}");
        }
    }

    #[test]
    fn a_bad_file_gets_the_whole_files_error() {
        for bad in [
            "[[endpoint]]\nid = \"a\"\n[[endpoint]]\nid = 1\n[[endpoint]]\nid = \"c\"\nid = \"d\"\n",
            "endpoint = []\n[[endpoint]]\nid = \"a\"\n[[endpoint]]\nid = \"b\"\n",
            "[[endpoint]]\nid = \"a\"\n[endpoint]\nid = \"b\"\n[[endpoint]]\nid = \"c\"\n",
            "[[endpoint]]\nid = \"a\"\n[other]\n[[endpoint]]\nid = \"b\"\n",
            "[[endpoint]]\nid = \"a\"\nx = [\n[[endpoint]]\n]\n",
            "# \u{1}\n[[endpoint]]\nid = \"a\"\n[[endpoint]]\nid = \"b\"\n",
            "[[endpoint]]\nid = \"a\"\n[[endpoint]]x\nid = \"b\"\n",
        ] {
            assert!(same(bad).is_err(), "{bad:?}");
        }
    }
}
