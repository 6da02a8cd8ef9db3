//! Reading one catalog file: TOML into raw entries, then each concern validated by its own
//! small function, so a bad file is rejected with `file:line: what`.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use super::{
    https_url_host, CloudHost, ComputeType, Entry, Expect, FirewallAnswer, HostCheck, HostFrom,
    HttpSpec, Kind, Mode, Template, Transport,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    endpoint: Vec<toml::Spanned<RawEntry>>,
}

impl super::sections::Sections for RawFile {
    fn reserve(&mut self, sections: usize) {
        self.endpoint.reserve(sections);
    }

    fn append(&mut self, later: RawFile, offset: usize) {
        let shifted = later.endpoint.into_iter().map(|e| {
            let span = e.span();
            toml::Spanned::new(span.start + offset..span.end + offset, e.into_inner())
        });
        self.endpoint.extend(shifted);
    }
}

/// An entry's host in a sovereign cloud, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudHost {
    host: String,
    stands_for: Option<String>,
    privatelink: Option<String>,
    redirect_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    group: String,
    title: String,
    host: Option<String>,
    usgov: Option<RawCloudHost>,
    china: Option<RawCloudHost>,
    compute_types: Option<Vec<ComputeType>>,
    expect: Option<Expect>,
    host_check: Option<HostCheck>,
    privatelink: Option<String>,
    stands_for: Option<String>,
    port: Option<u16>,
    transport: Option<Transport>,
    kind: Kind,
    #[serde(default = "yes")]
    required: bool,
    modes: Option<Vec<Mode>>,
    service_tag: Option<String>,
    http_method: Option<String>,
    http_path: Option<String>,
    http_status: Option<Vec<String>>,
    expected_issuers: Option<Vec<String>>,
    host_from: Option<HostFrom>,
    redirect_from: Option<String>,
    #[serde(default)]
    private_only: bool,
    same_address_as: Option<String>,
    firewall_answer: Option<FirewallAnswer>,
    scenario: Option<String>,
    transfer_bytes: Option<u64>,
    #[serde(default)]
    if_exists: bool,
    exists_with: Option<String>,
    doc: String,
}

fn yes() -> bool {
    true
}

/// Where an entry was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: {what}")]
pub struct CatalogError {
    pub file: String,
    pub line: usize,
    pub what: String,
}

/// Line numbers by byte offset, found by binary search: a catalog of thousands of entries must
/// not be rescanned from the top for each one.
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// Parse and validate one catalog file. `seen` holds ids from files loaded before it.
pub fn parse(
    file: &str,
    text: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<Arc<Entry>>, CatalogError> {
    let lines = Lines::of(text);
    let err = |offset: usize, what: String| CatalogError {
        file: file.to_string(),
        line: lines.line(offset),
        what,
    };
    let raw: RawFile = super::sections::read(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        err(offset, e.message().trim().replace('\n', " "))
    })?;
    let mut entries = Vec::with_capacity(raw.endpoint.len());
    for spanned in raw.endpoint {
        let at = spanned.span().start;
        let r = spanned.into_inner();
        if !valid_id(&r.id) {
            return Err(err(
                at,
                format!(
                    "id \"{}\" must be lowercase letters, digits and '-' (1-64 characters)",
                    r.id
                ),
            ));
        }
        if !seen.insert(r.id.clone()) {
            let what = "duplicate id: ids must be unique across all catalogs";
            return Err(err(at, format!("endpoint \"{}\": {what}", r.id)));
        }
        let origin = Origin {
            file: file.to_string(),
            line: lines.line(at),
        };
        let id = r.id.clone();
        let entry =
            entry(r, origin).map_err(|what| err(at, format!("endpoint \"{id}\": {what}")))?;
        entries.push(Arc::new(entry));
    }
    Ok(entries)
}

/// One entry, every concern checked; `Err` says what is wrong.
fn entry(r: RawEntry, origin: Origin) -> Result<Entry, String> {
    // In the order a reader checks an entry, so the first problem reported is the first one.
    identity(&r)?;
    let (host, stands_for, usgov, china) = hosts(&r)?;
    document(&r)?;
    let transport = transport(&r)?;
    let mut http = http(&r)?;
    redirects(&r)?;
    placement(&r)?;
    firewall(&r, &mut http)?;
    situation(&r, &mut http)?;
    let modes = modes(r.modes.clone())?;
    Ok(Entry {
        origin,
        service_tag: r.service_tag,
        port: r.port.filter(|_| !matches!(r.kind, Kind::Dns | Kind::Host)),
        id: r.id,
        group: r.group,
        title: r.title,
        host,
        stands_for,
        usgov: usgov.map(Box::new),
        china: china.map(Box::new),
        compute_types: r.compute_types.unwrap_or_else(|| ComputeType::ALL.to_vec()),
        expect: r.expect.unwrap_or_default(),
        host_check: r.host_check,
        privatelink: r.privatelink,
        transport,
        kind: r.kind,
        required: r.required,
        modes,
        http,
        expected_issuers: r.expected_issuers,
        host_from: r.host_from,
        redirect_from: r.redirect_from,
        private_only: r.private_only,
        same_address_as: r.same_address_as,
        firewall_answer: r.firewall_answer,
        scenario: r.scenario,
        transfer_bytes: r.transfer_bytes,
        if_exists: r.if_exists,
        exists_with: r.exists_with,
        doc: r.doc,
    })
}

/// The group and the title.
fn identity(r: &RawEntry) -> Result<(), String> {
    if !valid_id(&r.group) {
        return Err(format!(
            "group \"{}\" must be lowercase letters, digits and '-'",
            r.group
        ));
    }
    if r.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    Ok(())
}

/// Every entry cites the document that asks for it.
fn document(r: &RawEntry) -> Result<(), String> {
    if !(r.doc.starts_with("https://") || r.doc.starts_with("http://")) {
        return Err("doc must be the URL of the document that asks for this endpoint".into());
    }
    Ok(())
}

/// A host template field, parsed and shaped like a DNS name; its error names the field.
/// `stands_for` is a wildcard requirement, so only it may hold a `*` label.
fn template(field: &'static str) -> impl Fn(&str) -> Result<Template, String> {
    move |text| {
        let t = Template::parse(text).map_err(|what| format!("{field}: {what}"))?;
        t.check_host(field.ends_with("stands_for"))
            .map_err(|what| format!("{field}: {what}"))?;
        Ok(t)
    }
}

/// The field name a cloud's `stands_for` is reported under.
fn wildcard_of(cloud: &str) -> &'static str {
    match cloud {
        "usgov" => "usgov.stands_for",
        _ => "china.stands_for",
    }
}

type Hosts = (
    Template,
    Option<Template>,
    Option<CloudHost>,
    Option<CloudHost>,
);

/// The host templates of every cloud; a check of the node itself has none.
fn hosts(r: &RawEntry) -> Result<Hosts, String> {
    let host = match (r.kind, &r.host, r.host_check) {
        // The node itself: no name to look up, a fixed word in the report's target.
        (Kind::Host, None, Some(_)) => {
            let node = Template::parse("node")?;
            return Ok((node, None, None, None));
        }
        (Kind::Host, _, None) => return Err("kind \"host\" needs host_check".into()),
        (Kind::Host, Some(_), _) => {
            return Err("a host check has no host: it looks at this node".into())
        }
        (_, _, Some(_)) => return Err("host_check belongs to kind \"host\"".into()),
        (_, None, _) => return Err("host is missing".into()),
        (_, Some(h), None) => h,
    };
    let cloud = |field: &'static str, c: &Option<RawCloudHost>| {
        c.as_ref()
            .map(|c| {
                Ok::<_, String>(CloudHost {
                    host: template(field)(&c.host)?,
                    stands_for: c
                        .stands_for
                        .as_deref()
                        .map(template(wildcard_of(field)))
                        .transpose()?,
                    privatelink: c.privatelink.clone(),
                    redirect_from: c.redirect_from.clone(),
                })
            })
            .transpose()
    };
    Ok((
        template("host")(host)?,
        r.stands_for
            .as_deref()
            .map(template("stands_for"))
            .transpose()?,
        cloud("usgov", &r.usgov)?,
        cloud("china", &r.china)?,
    ))
}

/// The transport follows the kind; every kind that connects needs a port.
fn transport(r: &RawEntry) -> Result<Transport, String> {
    let transport = r.transport.unwrap_or(match r.kind {
        Kind::Udp => Transport::Udp,
        _ => Transport::Tcp,
    });
    match (r.kind, transport, r.port) {
        (Kind::Dns | Kind::Host, _, _) => Ok(transport),
        (_, _, None) => Err(format!("kind \"{}\" needs a port", r.kind.as_str())),
        (_, _, Some(0)) => Err("port 0 is not a port".into()),
        (Kind::Udp, Transport::Udp, _) => Ok(transport),
        (Kind::Udp, Transport::Tcp, _) => Err("kind \"udp\" needs transport = \"udp\"".into()),
        (k, Transport::Udp, _) => Err(format!("kind \"{}\" runs over TCP, not UDP", k.as_str())),
        (_, Transport::Tcp, _) => Ok(transport),
    }
}

/// The request an HTTP check sends and the answers it accepts.
fn http(r: &RawEntry) -> Result<HttpSpec, String> {
    let mut http = HttpSpec::default();
    if let Some(m) = &r.http_method {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "http_method \"{m}\" must be an HTTP method like GET or HEAD"
            ));
        }
        http.method = m.clone();
    }
    if let Some(p) = &r.http_path {
        if !p.starts_with('/') || p.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!(
                "http_path \"{p}\" must start with '/' and hold no spaces"
            ));
        }
        http.path = p.clone();
    }
    if let Some(list) = &r.http_status {
        let parsed: Option<Vec<_>> = list.iter().map(|s| parse_status(s)).collect();
        match parsed {
            Some(p) if !p.is_empty() => http.accept = p,
            _ => {
                return Err(format!(
                    "http_status {list:?}: give statuses like \"200\" or classes like \"2xx\""
                ))
            }
        }
    }
    if r.expected_issuers.as_ref().is_some_and(|l| l.is_empty()) {
        return Err("expected_issuers is empty: list organisations, or [\"*\"] for any".into());
    }
    Ok(http)
}

/// Every cloud's `redirect_from` is an HTTPS URL, on a check that speaks TLS.
fn redirects(r: &RawEntry) -> Result<(), String> {
    let clouds = [&r.usgov, &r.china]
        .into_iter()
        .map(|c| c.as_ref().and_then(|c| c.redirect_from.as_ref()));
    for url in std::iter::once(r.redirect_from.as_ref())
        .chain(clouds)
        .flatten()
    {
        if !matches!(r.kind, Kind::Tls | Kind::Https) {
            return Err("redirect_from needs kind \"tls\" or \"https\"".into());
        }
        if let Err(what) = https_url_host(url) {
            return Err(format!("redirect_from \"{url}\": {what}"));
        }
    }
    Ok(())
}

/// Private-endpoint fields: `private_only` limits a port; `same_address_as` names a DNS entry.
fn placement(r: &RawEntry) -> Result<(), String> {
    if r.private_only && (r.port.is_none() || matches!(r.kind, Kind::Dns | Kind::Host)) {
        return Err("private_only needs a port: it limits which answers are probed".into());
    }
    match &r.same_address_as {
        Some(other) if r.kind != Kind::Dns || !valid_id(other) => Err(format!(
            "same_address_as = \"{other}\" needs kind \"dns\" and the id of another entry"
        )),
        _ => Ok(()),
    }
}

/// A service's own firewall answer is read from HTTP; storage's needs its API version named.
fn firewall(r: &RawEntry, http: &mut HttpSpec) -> Result<(), String> {
    match r.firewall_answer {
        Some(_) if r.kind != Kind::Https => {
            Err("firewall_answer needs kind \"https\": it reads the HTTP answer".into())
        }
        // Storage answers an anonymous request by its API version; naming one keeps the
        // answer of an open path stable (401 NoAuthenticationInformation).
        Some(FirewallAnswer::Storage) => {
            http.headers
                .push(("x-ms-version".into(), "2021-08-06".into()));
            Ok(())
        }
        Some(FirewallAnswer::Registry) | None => Ok(()),
    }
}

/// The most a transfer check fetches, and the least that shows a transfer flows.
const TRANSFER_RANGE: (u64, u64) = (1 << 10, 64 << 20);

/// A scenario is named like an id; a transfer is fetched over HTTPS, a byte range of it.
fn situation(r: &RawEntry, http: &mut HttpSpec) -> Result<(), String> {
    if let Some(name) = r
        .scenario
        .as_deref()
        .filter(|n| !valid_id(n) || *n == "all")
    {
        return Err(format!(
            "scenario \"{name}\" must be lowercase letters, digits and '-', and not \"all\""
        ));
    }
    if let Some(other) = r.exists_with.as_deref() {
        if !r.if_exists || !valid_id(other) {
            return Err(format!(
                "exists_with = \"{other}\" needs if_exists and the id of another entry"
            ));
        }
    }
    let Some(bytes) = r.transfer_bytes else {
        return Ok(());
    };
    if r.kind != Kind::Https {
        return Err("transfer_bytes needs kind \"https\": it reads the answer's body".into());
    }
    if !(TRANSFER_RANGE.0..=TRANSFER_RANGE.1).contains(&bytes) {
        return Err(format!(
            "transfer_bytes = {bytes}: give between {} and {}",
            TRANSFER_RANGE.0, TRANSFER_RANGE.1
        ));
    }
    http.headers
        .push(("Range".into(), format!("bytes=0-{}", bytes - 1)));
    if r.http_status.is_none() {
        http.accept = vec![(200, 200), (206, 206)];
    }
    Ok(())
}

fn modes(modes: Option<Vec<Mode>>) -> Result<Vec<Mode>, String> {
    let modes = modes.unwrap_or_else(|| vec![Mode::PublicIp, Mode::NoPublicIp]);
    if modes.is_empty() || modes.contains(&Mode::Auto) {
        return Err("modes must list \"public-ip\" and/or \"no-public-ip\"".into());
    }
    Ok(modes)
}

/// `"404"` or a class like `"2xx"`.
fn parse_status(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    if let Some(class) = s.strip_suffix("xx") {
        let d: u16 = class.parse().ok()?;
        return (1..=5).contains(&d).then_some((d * 100, d * 100 + 99));
    }
    let n: u16 = s.parse().ok()?;
    (100..=599).contains(&n).then_some((n, n))
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::load;
    use super::*;
    use crate::catalog::HttpsUrl;

    pub(crate) fn parse_one(text: &str) -> Result<Vec<Arc<Entry>>, CatalogError> {
        parse("extra.toml", text, &mut HashSet::new())
    }

    pub(crate) const GOOD: &str = "[[endpoint]]\nid = \"x\"\ngroup = \"g\"\ntitle = \"t\"\nhost = \"a.example.net\"\nport = 443\nkind = \"tls\"\ndoc = \"https://learn.microsoft.com/x\"\n";

    #[test]
    fn a_good_extra_entry_gets_defaults() {
        let e = &parse_one(GOOD).unwrap()[0];
        assert_eq!(e.transport, Transport::Tcp);
        assert!(e.required);
        assert_eq!(e.modes, vec![Mode::PublicIp, Mode::NoPublicIp]);
        assert_eq!((e.origin.file.as_str(), e.origin.line), ("extra.toml", 1));
    }

    #[test]
    fn malformed_catalogs_name_file_and_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "[[endpoint]]\nid = \"x\"\nport = \"many\"\n",
                3,
                "invalid type",
            ),
            (
                &GOOD.replace("kind = \"tls\"", "kind = \"gopher\""),
                7,
                "unknown variant",
            ),
            (
                &GOOD.replace("\ndoc", "\ncolour = 1\ndoc"),
                8,
                "unknown field",
            ),
            (&format!("\n\n{GOOD}{GOOD}"), 11, "duplicate id"),
            (
                &GOOD.replace("a.example.net", "{tenant}.example.net"),
                1,
                "unknown placeholder {tenant}",
            ),
            (
                &GOOD.replace("a.example.net", "a b.example.net"),
                1,
                "cannot appear in a host name",
            ),
            (
                &GOOD.replace("a.example.net", "-x.example.net"),
                1,
                "starts or ends with '-'",
            ),
            (
                &GOOD.replace("a.example.net", "a..example.net"),
                1,
                "empty label",
            ),
            (&GOOD.replace("a.example.net", "10.0.0.1"), 1, "an address"),
            (&GOOD.replace("port = 443\n", ""), 1, "needs a port"),
            (
                &GOOD.replace("https://learn.microsoft.com/x", "see the wiki"),
                1,
                "doc must be the URL",
            ),
            (&GOOD.replace("\"x\"", "\"Bad Id\""), 1, "id \"Bad Id\""),
            (
                &GOOD.replace("kind = \"tls\"", "kind = \"tls\"\ntransport = \"udp\""),
                1,
                "runs over TCP",
            ),
            ("[[endpoint]\n", 1, ""),
        ];
        for (text, line, what) in cases {
            let e = parse_one(text).expect_err(text);
            assert_eq!(e.file, "extra.toml");
            assert_eq!(e.line, *line, "{e} for {text:?}");
            assert!(e.what.contains(what), "{e} should say {what:?}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn the_first_problem_in_reading_order_is_reported() {
        let both = GOOD
            .replace("a.example.net", "{tenant}.example.net")
            .replace("https://learn.microsoft.com/x", "see the wiki");
        assert!(parse_one(&both)
            .unwrap_err()
            .what
            .contains("unknown placeholder"));
        let both = GOOD.replace(
            "kind = \"tls\"",
            "kind = \"tls\"\nprivate_only = true\nfirewall_answer = \"storage\"",
        );
        let e = parse_one(&both.replace("port = 443\n", "")).unwrap_err();
        assert!(e.what.contains("kind \"tls\" needs a port"), "{e}");
        // A service tag is free text: only its known placeholders are filled.
        let tagged = GOOD.replace("doc =", "service_tag = \"Azure Cloud.{region}\"\ndoc =");
        let e = &parse_one(&tagged).unwrap()[0];
        assert_eq!(e.service_tag.as_deref(), Some("Azure Cloud.{region}"));
    }

    #[test]
    fn http_fields_parse_and_validate() {
        let e = &parse_one(&GOOD.replace(
            "kind = \"tls\"",
            "kind = \"https\"\nhttp_method = \"HEAD\"\nhttp_path = \"/health\"\nhttp_status = [\"2xx\", \"401\"]",
        ))
        .unwrap()[0];
        assert_eq!(e.http.method, "HEAD");
        assert_eq!(e.http.path, "/health");
        assert!(e.http.accepts(204) && e.http.accepts(401) && !e.http.accepts(403));
        assert!(HttpSpec::default().accepts(404) && !HttpSpec::default().accepts(502));
        for bad in [
            "http_status = [\"2yy\"]",
            "http_status = []",
            "http_path = \"health\"",
            "http_method = \"get\"",
            "expected_issuers = []",
        ] {
            let text = GOOD.replace("kind = \"tls\"", &format!("kind = \"https\"\n{bad}"));
            assert!(parse_one(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_fields_are_validated() {
        for (extra, what) in [
            ("redirect_from = \"http://mcr.example/v2/\"", "https://"),
            (
                "redirect_from = \"https://user@mcr.example/\"",
                "credentials",
            ),
            ("redirect_from = \"https://bad_host/\"", "not a host name"),
            ("private_only = true\nport = 9", "duplicate key"),
            ("firewall_answer = \"storage\"", "needs kind \"https\""),
            ("firewall_answer = \"acr\"", "unknown variant"),
            ("scenario = \"all\"", "not \"all\""),
            ("scenario = \"VS Code\"", "lowercase letters"),
            (
                "transfer_bytes = 1048576",
                "transfer_bytes needs kind \"https\"",
            ),
            ("exists_with = \"pe-acr\"", "needs if_exists"),
            ("host_from = \"elsewhere\"", "unknown variant"),
        ] {
            let text = GOOD.replace("doc =", &format!("{extra}\ndoc ="));
            let e = parse_one(&text).expect_err(extra);
            assert!(e.what.contains(what), "{extra}: {e}");
        }
        let dns = GOOD.replace("kind = \"tls\"", "kind = \"dns\"\nprivate_only = true");
        assert!(parse_one(&dns)
            .unwrap_err()
            .what
            .contains("private_only needs a port"));
        let same = GOOD.replace(
            "kind = \"tls\"",
            "kind = \"dns\"\nsame_address_as = \"nope\"",
        );
        let e = load(&[("extra.toml".into(), same)]).unwrap_err();
        assert!(
            e.to_string().starts_with("extra.toml:1:") && e.what.contains("names no DNS entry"),
            "{e}"
        );
        let huge = GOOD.replace("kind = \"tls\"", "kind = \"https\"\ntransfer_bytes = 1");
        assert!(parse_one(&huge)
            .unwrap_err()
            .what
            .contains("between 1024 and"));
        let fetch = GOOD.replace("kind = \"tls\"", "kind = \"https\"\ntransfer_bytes = 2048");
        let e = &parse_one(&fetch).unwrap()[0];
        assert!(e
            .http
            .headers
            .contains(&("Range".into(), "bytes=0-2047".into())));
        assert!(e.http.accepts(206) && e.http.accepts(200) && !e.http.accepts(404));
        let https = GOOD.replace(
            "kind = \"tls\"",
            "kind = \"https\"\nfirewall_answer = \"storage\"",
        );
        let e = &parse_one(&https).unwrap()[0];
        assert!(e.http.headers.iter().any(|(n, _)| n == "x-ms-version"));
        assert_eq!(
            https_url_host("https://MCR.microsoft.com:443/v2/x?y").as_deref(),
            Ok("mcr.microsoft.com")
        );
        let u = HttpsUrl::parse("https://mcr.azure.cn:8443?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("mcr.azure.cn", 8443, "/?x=1")
        );
        assert!(HttpsUrl::parse("https://h.example:http/").is_err());
    }
}
