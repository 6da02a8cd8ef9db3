//! `-o html` of `merge` and `diff`: one self-contained page (no script, nothing fetched; its
//! Content-Security-Policy allows only its own inline style). The fleet is a heat map, checks
//! as rows and nodes as columns, a colour a status and the reason in each cell's title, compact
//! enough for 200 nodes with the header row and the check column kept in view.

use std::fmt::Write;
use std::io;

use super::diff::{Diff, Of, Side, State};
use super::model::Fleet;
use super::table::whole_node_sides;
use crate::reason::Status;
use crate::report::text::printable;

/// Text for HTML, in an element or a quoted attribute: markup escaped, hidden characters
/// shown as `\u{…}`.
pub fn escape(s: &str) -> String {
    crate::report::text::xml(&printable(s))
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
code,.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.legend span.k{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .2em 0 .8em;border:1px solid #999}
.map{overflow:auto;max-height:85vh;max-width:100%;border:1px solid #ccc}
.map table{border-collapse:separate;border-spacing:1px}
.map th{background:#fff;font-weight:normal}
.map thead th{position:sticky;top:0;z-index:2;vertical-align:bottom;padding:2px 0}
.map thead th div{writing-mode:vertical-rl;max-height:10em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;margin:0 auto}
.map thead th.corner{left:0;z-index:3;text-align:left;padding:2px 6px}
.map tbody th{position:sticky;left:0;z-index:1;text-align:left;white-space:nowrap;padding:0 6px}
.map td{min-width:14px;height:16px;padding:0;text-align:center;font-size:10px;line-height:16px}
.pass{background:#2e7d32;color:#fff}.warn{background:#f9a825;color:#000}.fail{background:#c62828;color:#fff}
.skip{background:#cfd8dc;color:#000}.none{background:#fff;color:#999;outline:1px dashed #ccc;outline-offset:-2px}
table.list{border-collapse:collapse}table.list th,table.list td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
table.list th{background:#f4f4f4}td.n{text-align:right}
span.s{padding:0 4px;border-radius:3px}
.worse{color:#c62828;font-weight:bold}
";

/// The page up to its body.
fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    )
}

/// The page after its body.
fn page_foot() -> String {
    format!(
        "<footer><p>amlprobe {}</p></footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn class(s: Option<Status>) -> &'static str {
    s.map_or("none", |s| s.as_str())
}

/// What a heat-map cell shows besides its colour.
fn letter(s: Option<Status>) -> &'static str {
    match s {
        Some(Status::Pass) => "",
        Some(Status::Warn) => "W",
        Some(Status::Fail) => "F",
        Some(Status::Skip) => "s",
        None => "-",
    }
}

/// The merge report, whole, as the tests read it.
#[cfg(test)]
pub fn fleet(f: &Fleet) -> String {
    let mut out = Vec::new();
    let _ = fleet_to(f, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The merge report, written to `out` as it is made: the heat map has a cell for every check
/// on every node, far more than the fleet itself holds, so no more than [`CHUNK`] of the page
/// is held at once.
pub fn fleet_to(f: &Fleet, out: &mut impl io::Write) -> io::Result<()> {
    let mut b = page_head(&format!(
        "amlprobe fleet report: {} nodes, {} checks",
        f.nodes.len(),
        f.checks.len()
    ));
    let overview = f.overview();
    let _ = writeln!(b, "<h1>amlprobe fleet report</h1>");
    let sentence = overview.sentence(f, 20, |clause, names| {
        format!(
            "<strong class=\"worse\">{clause}</strong> ({})",
            escape(names)
        )
    });
    let _ = writeln!(b, "<p>{sentence}.</p>");
    let _ = writeln!(
        b,
        "<p class=\"legend\">Each row a check, each column a node; a cell's title gives its status and reason.\
         <span class=\"k pass\"></span>pass<span class=\"k warn\"></span>warn (W)<span class=\"k fail\"></span>fail (F)\
         <span class=\"k skip\"></span>skip (s)<span class=\"k none\"></span>not in the node's report (-)</p>"
    );
    heat_map(&mut b, f, out)?;
    troubled(&mut b, f, &overview.troubled);
    nodes(&mut b, f);
    b.push_str(&page_foot());
    out.write_all(b.as_bytes())
}

/// How much of a page is held before it is written out.
pub const CHUNK: usize = 64 * 1024;

/// Write `b` to `out` and empty it, once it holds [`CHUNK`] or more.
pub fn spill(b: &mut String, out: &mut impl io::Write) -> io::Result<()> {
    if b.len() >= CHUNK {
        out.write_all(b.as_bytes())?;
        b.clear();
    }
    Ok(())
}

/// The checks that fail or warn somewhere, with their counts and each status and reason's nodes.
fn troubled(b: &mut String, f: &Fleet, troubled: &[usize]) {
    if troubled.is_empty() {
        return;
    }
    let _ = writeln!(
        b,
        "<h2>Checks that fail or warn</h2>\n<table class=\"list\">\n<tr><th>check</th><th>pass</th><th>warn</th><th>fail</th><th>skip</th><th>odd nodes out</th><th>status and reason: nodes</th></tr>"
    );
    for &c in troubled {
        let counts = f.counts(c);
        let groups: Vec<String> = f
            .problems(c)
            .iter()
            .map(|(s, r, nodes)| {
                format!(
                    "<span class=\"s {}\">{}</span> <code>{}</code>: {}",
                    s.as_str(),
                    s.as_str(),
                    r.code(),
                    escape(&f.names(nodes, 50))
                )
            })
            .collect();
        let _ = writeln!(
            b,
            "<tr><td class=\"id\" title=\"{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.checks[c].title),
            escape(&f.checks[c].id),
            counts.pass,
            counts.warn,
            counts.fail,
            counts.skip,
            escape(&f.names(&f.odd_nodes(c), 50)),
            groups.join("<br>")
        );
    }
    let _ = writeln!(b, "</table>");
}

/// Each node: its names, where and when it ran, and its counts.
fn nodes(b: &mut String, f: &Fleet) {
    let _ = writeln!(
        b,
        "<h2>Nodes</h2>\n<table class=\"list\">\n<tr><th>#</th><th>node</th><th>name from</th><th>region</th><th>compute</th><th>VM</th><th>hostname</th><th>started</th><th>file</th><th>pass</th><th>warn</th><th>fail</th><th>skip</th></tr>"
    );
    for (n, node) in f.nodes.iter().enumerate() {
        let c = f.node_counts(n);
        let opt = |v: &Option<String>| escape(v.as_deref().unwrap_or("—"));
        let _ = writeln!(
            b,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            n + 1,
            escape(&node.name),
            node.name_from.map_or("", |x| x.as_str()),
            opt(&node.region),
            opt(&node.compute_name),
            opt(&node.vm_name),
            opt(&node.hostname),
            opt(&node.started_at),
            escape(&node.file),
            c.pass,
            c.warn,
            c.fail,
            c.skip
        );
    }
    let _ = writeln!(b, "</table>");
}

fn heat_map(b: &mut String, f: &Fleet, out: &mut impl io::Write) -> io::Result<()> {
    let _ = write!(
        b,
        "<div class=\"map\"><table>\n<thead><tr><th class=\"corner\">check</th>"
    );
    for (n, node) in f.nodes.iter().enumerate() {
        let _ = write!(
            b,
            "<th title=\"node {}: {}\"><div>{}</div></th>",
            n + 1,
            escape(&node.name),
            escape(&node.name)
        );
    }
    let _ = writeln!(b, "</tr></thead>\n<tbody>");
    for (c, check) in f.checks.iter().enumerate() {
        let _ = write!(
            b,
            "<tr><th class=\"id\" title=\"{} ({}{})\">{}</th>",
            escape(&check.title),
            escape(&check.group),
            if check.required { ", required" } else { "" },
            escape(&check.id)
        );
        let id = escape(&check.id);
        for (n, node) in f.nodes.iter().enumerate() {
            let cell = f.cell(c, n);
            let what = match cell {
                Some(cell) => format!("{} {}", cell.status.as_str(), cell.reason.code()),
                None => "not in the report".into(),
            };
            let status = cell.map(|c| c.status);
            let _ = write!(
                b,
                "<td class=\"{}\" title=\"{}, {id}: {what}\">{}</td>",
                class(status),
                escape(&node.name),
                letter(status)
            );
        }
        b.push_str("</tr>\n");
        spill(b, out)?;
    }
    let _ = writeln!(b, "</tbody></table></div>");
    Ok(())
}

fn side(s: &Side, of: Of) -> String {
    match of {
        Of::Node => {
            let about: Vec<&str> = [s.hostname.as_deref(), s.started_at.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            match about.is_empty() {
                true => format!("<code>{}</code>", escape(&s.file)),
                false => format!(
                    "<code>{}</code> ({})",
                    escape(&s.file),
                    escape(&about.join(", "))
                ),
            }
        }
        Of::Fleet => format!("<code>{}</code> ({} nodes)", escape(&s.file), s.nodes),
    }
}

fn state(s: Option<State>) -> String {
    match s {
        Some(s) => format!(
            "<span class=\"s {}\">{}</span> <code>{}</code>",
            s.status.as_str(),
            s.status.as_str(),
            s.reason.code()
        ),
        None => "—".into(),
    }
}

/// The diff report, whole, as the tests read it.
#[cfg(test)]
pub fn diff(d: &Diff) -> String {
    let mut out = Vec::new();
    let _ = diff_to(d, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The diff report, written to `out` a chunk at a time: a row for every cell that changed.
pub fn diff_to(d: &Diff, out: &mut impl io::Write) -> io::Result<()> {
    let mut b = page_head(&format!("amlprobe diff of {} reports", d.of.as_str()));
    let _ = writeln!(b, "<h1>amlprobe diff</h1>");
    let _ = writeln!(
        b,
        "<p>{} reports compared: before {}, after {}.</p>",
        match d.of {
            Of::Node => "Node",
            Of::Fleet => "Fleet",
        },
        side(&d.before, d.of),
        side(&d.after, d.of)
    );
    let _ = writeln!(
        b,
        "<p>{}.</p>",
        d.counts("<strong class=\"worse\">worse</strong>")
    );
    let fleet = d.of == Of::Fleet;
    for (name, list) in d.lists() {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            b,
            "<h2>{name} ({})</h2>\n<table class=\"list\">\n<tr><th>check</th>{}<th>before</th><th>after</th><th>worse</th></tr>",
            list.len(),
            if fleet { "<th>node</th>" } else { "" }
        );
        for e in list {
            let node = match (&e.node, fleet) {
                (Some(n), true) => format!("<td>{}</td>", escape(n)),
                _ => String::new(),
            };
            let (before, after) = match &e.id {
                Some(_) => (state(e.before), state(e.after)),
                None => {
                    let (b, a) = whole_node_sides(name, e.checks.unwrap_or_default());
                    (escape(&b), escape(&a))
                }
            };
            let _ = writeln!(
                b,
                "<tr><td class=\"id\">{}</td>{node}<td>{before}</td><td>{after}</td><td>{}</td></tr>",
                escape(e.id.as_deref().unwrap_or("—")),
                if e.worse { "<span class=\"worse\">yes</span>" } else { "" }
            );
            spill(&mut b, out)?;
        }
        let _ = writeln!(b, "</table>");
    }
    b.push_str(&page_foot());
    out.write_all(b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::model::tests::fleet as five;

    #[test]
    fn a_report_with_a_hostile_hostname_shows_it_as_text() {
        use crate::fleet::read::tests::{report, GRAPH};
        let hostile = "<script>alert('x')</script>";
        let r = crate::fleet::read::node(report(hostile, GRAPH).as_bytes(), "a.json").unwrap();
        let mut f = Fleet::default();
        f.add_node(r.node, r.rows);
        crate::fleet::model::name_nodes(&mut f.nodes, false);
        assert_eq!(f.nodes[0].name, hostile, "named by its hostname");
        let page = fleet(&f);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"));
    }

    #[test]
    fn every_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"\u{1b}"),
            "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;q&quot;\\u{1b}"
        );
    }

    #[test]
    fn a_hostile_hostname_never_reaches_the_page_as_markup() {
        let mut f = five();
        let hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
        f.nodes[0].name = hostile.into();
        f.nodes[0].hostname = Some(hostile.into());
        f.nodes[1].file = hostile.into();
        f.checks[0].title = hostile.into();
        let html = fleet(&f);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        ));
        for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
            assert!(
                !html.replace("&lt;img src=x", "").contains(external),
                "{external}"
            );
        }
    }
}
