//! The catalog of endpoints: TOML files in `probes/`, compiled in, plus `--catalog` files.
//! Loading validates every entry so that a bad file is rejected with `file:line: what`.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::context::{Cloud, ComputeType, Context, Input, Mode};

/// The built-in catalog, compiled into the binary so the single file is self-contained.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "probes/azureml.toml",
        include_str!("../probes/azureml.toml"),
    ),
    (
        "probes/storage.toml",
        include_str!("../probes/storage.toml"),
    ),
    (
        "probes/public-internet.toml",
        include_str!("../probes/public-internet.toml"),
    ),
    (
        "probes/private-endpoints.toml",
        include_str!("../probes/private-endpoints.toml"),
    ),
    ("probes/node.toml", include_str!("../probes/node.toml")),
];

/// The placeholders a host template may use, with the input that supplies each.
pub const PLACEHOLDERS: &[(&str, Input)] = &[
    ("region", Input::Region),
    ("storage_account", Input::StorageAccount),
    ("compute_name", Input::ComputeName),
    ("workspace_id", Input::WorkspaceId),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// The deepest layer a check tests. Ordered from shallow to deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dns,
    Tcp,
    Udp,
    Tls,
    Https,
    Websocket,
    Smb,
    Host,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dns => "dns",
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Tls => "tls",
            Kind::Https => "https",
            Kind::Websocket => "websocket",
            Kind::Smb => "smb",
            Kind::Host => "host",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    endpoint: Vec<toml::Spanned<RawEntry>>,
}

/// An entry's host in a sovereign cloud.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudHost {
    pub host: String,
    #[serde(default)]
    pub stands_for: Option<String>,
    #[serde(default)]
    pub privatelink: Option<String>,
    #[serde(default)]
    pub redirect_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    group: String,
    title: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    usgov: Option<CloudHost>,
    #[serde(default)]
    china: Option<CloudHost>,
    #[serde(default)]
    compute_types: Option<Vec<ComputeType>>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    host_check: Option<HostCheck>,
    #[serde(default)]
    privatelink: Option<String>,
    #[serde(default)]
    stands_for: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    transport: Option<Transport>,
    kind: Kind,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    modes: Option<Vec<Mode>>,
    #[serde(default)]
    service_tag: Option<String>,
    #[serde(default)]
    http_method: Option<String>,
    #[serde(default)]
    http_path: Option<String>,
    #[serde(default)]
    http_status: Option<Vec<String>>,
    #[serde(default)]
    expected_issuers: Option<Vec<String>>,
    #[serde(default)]
    host_from: Option<HostFrom>,
    #[serde(default)]
    redirect_from: Option<String>,
    #[serde(default)]
    private_only: bool,
    #[serde(default)]
    same_address_as: Option<String>,
    #[serde(default)]
    firewall_answer: Option<FirewallAnswer>,
    doc: String,
}

fn yes() -> bool {
    true
}

/// One validated catalog entry, templates not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub group: String,
    pub title: String,
    /// The public cloud's host; for `host` checks, `node`.
    pub host: String,
    pub stands_for: Option<String>,
    pub usgov: Option<CloudHost>,
    pub china: Option<CloudHost>,
    pub compute_types: Vec<ComputeType>,
    /// `blocked`: the path must be closed (an exfiltration path); `open` by default.
    pub expect: Expect,
    pub host_check: Option<HostCheck>,
    /// For private-endpoint DNS checks: the zone the answer's CNAME chain must pass through.
    pub privatelink: Option<String>,
    pub port: Option<u16>,
    pub transport: Transport,
    pub kind: Kind,
    pub required: bool,
    pub modes: Vec<Mode>,
    pub service_tag: Option<String>,
    /// The request an `https` or `websocket` check sends, and the answers it accepts.
    pub http: HttpSpec,
    /// Organisations whose CAs may issue this endpoint's certificate; `None` = the defaults
    /// of `probes/defaults.toml`, `["*"]` = any trusted issuer.
    pub expected_issuers: Option<Vec<String>>,
    /// A concrete host the node names itself, used instead of `host` when it is known.
    pub host_from: Option<HostFrom>,
    /// An HTTPS URL whose redirect names the real host (public cloud; clouds have their own).
    pub redirect_from: Option<String>,
    /// The port is served only through a private endpoint: probed only when the host answers
    /// a private address.
    pub private_only: bool,
    /// For private-endpoint names: the id of the entry whose address this name must share.
    pub same_address_as: Option<String>,
    /// How the service's own firewall answers an anonymous request that it rejects.
    pub firewall_answer: Option<FirewallAnswer>,
    pub doc: String,
    /// `file:line` the entry came from, for messages about it.
    pub origin: String,
}

/// Where a concrete host can come from on the node itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostFrom {
    /// The Batch account endpoint, from `AZ_BATCH_ACCOUNT_URL`.
    BatchAccount,
    /// The Batch node-management endpoint (`*.service.batch.azure.com`) a variable names.
    BatchNode,
    /// The workspace API host, from `AZUREML_SERVICE_ENDPOINT`.
    ServiceEndpoint,
}

impl HostFrom {
    /// The context key (and `context.sources` key) that holds the host.
    pub fn key(self) -> &'static str {
        match self {
            HostFrom::BatchAccount => "batch_account_host",
            HostFrom::BatchNode => "batch_node_host",
            HostFrom::ServiceEndpoint => "service_endpoint_host",
        }
    }

    pub fn host(self, ctx: &Context) -> Option<&str> {
        match self {
            HostFrom::BatchAccount => ctx.batch_account_host.as_deref(),
            HostFrom::BatchNode => ctx.batch_node_host.as_deref(),
            HostFrom::ServiceEndpoint => ctx.service_endpoint_host.as_deref(),
        }
    }
}

/// A service whose own firewall gives a recognisable answer to an anonymous request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirewallAnswer {
    /// Azure Storage: 403 with `x-ms-error-code: AuthorizationFailure`.
    Storage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Open,
    Blocked,
}

/// What a `host` check looks at on the node itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostCheck {
    /// Attached VMs must run Ubuntu (`/etc/os-release`).
    OsUbuntu,
    /// No node address inside Docker's default bridge, 172.17.0.0/16.
    DockerBridge,
    /// The node's region (IMDS) is the workspace's region.
    RegionMatch,
    /// Inbound TCP 44224 from AzureMachineLearning: cannot be proven from the node.
    #[serde(rename = "inbound-44224")]
    Inbound44224,
    /// The node's clock against the `Date` of the HTTPS answers of the other checks.
    Clock,
}

impl Entry {
    /// The host, the wildcard it stands for and the privatelink zone in `cloud`; `None`
    /// where the endpoint does not exist. Checks of the node itself exist everywhere.
    pub fn host_for(&self, cloud: Cloud) -> Option<CloudHost> {
        let sovereign = match cloud {
            Cloud::Public => None,
            Cloud::Usgov => Some(&self.usgov),
            Cloud::China => Some(&self.china),
        };
        match sovereign {
            None => Some(CloudHost {
                host: self.host.clone(),
                stands_for: self.stands_for.clone(),
                privatelink: self.privatelink.clone(),
                redirect_from: self.redirect_from.clone(),
            }),
            Some(_) if self.kind == Kind::Host => Some(CloudHost {
                host: self.host.clone(),
                stands_for: None,
                privatelink: None,
                redirect_from: None,
            }),
            Some(c) => c.clone(),
        }
    }
}

/// What an HTTP check sends and accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub method: String,
    pub path: String,
    /// Accepted statuses as inclusive ranges.
    pub accept: Vec<(u16, u16)>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

impl Default for HttpSpec {
    /// Any answer short of a server error proves the path reaches a working HTTP service:
    /// Azure endpoints answer an anonymous `GET /` with 2xx-4xx.
    fn default() -> HttpSpec {
        HttpSpec {
            method: "GET".into(),
            path: "/".into(),
            accept: vec![(200, 499)],
            headers: Vec::new(),
        }
    }
}

impl HttpSpec {
    pub fn accepts(&self, status: u16) -> bool {
        self.accept
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    expected_issuers: Vec<String>,
    forward_zones: ForwardZones,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardZones {
    public: Vec<String>,
    usgov: Vec<String>,
    china: Vec<String>,
}

/// `probes/defaults.toml`, read once. It is compiled in and a unit test reads it, so `None`
/// cannot happen in a build that passed its tests.
fn defaults() -> Option<&'static Defaults> {
    static DEFAULTS: std::sync::OnceLock<Option<Defaults>> = std::sync::OnceLock::new();
    DEFAULTS
        .get_or_init(|| toml::from_str(include_str!("../probes/defaults.toml")).ok())
        .as_ref()
}

/// The organisations whose CAs issue Azure's certificates (`probes/defaults.toml`).
pub fn default_expected_issuers() -> Vec<String> {
    defaults()
        .map(|d| d.expected_issuers.clone())
        .unwrap_or_default()
}

/// The zones a custom DNS server must forward to Azure DNS for a workspace with a private
/// endpoint in `cloud` (`probes/defaults.toml`).
pub fn forward_zones(cloud: Cloud) -> Vec<String> {
    defaults()
        .map(|d| match cloud {
            Cloud::Public => d.forward_zones.public.clone(),
            Cloud::Usgov => d.forward_zones.usgov.clone(),
            Cloud::China => d.forward_zones.china.clone(),
        })
        .unwrap_or_default()
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
) -> Result<Vec<Entry>, CatalogError> {
    let lines = Lines::of(text);
    let err = |offset: usize, what: String| CatalogError {
        file: file.to_string(),
        line: lines.line(offset),
        what,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        err(offset, e.message().trim().replace('\n', " "))
    })?;
    let mut entries = Vec::with_capacity(raw.endpoint.len());
    for spanned in raw.endpoint {
        let at = spanned.span().start;
        let r = spanned.into_inner();
        let fail = |what: String| Err(err(at, format!("endpoint \"{}\": {what}", r.id)));
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
            return fail("duplicate id: ids must be unique across all catalogs".into());
        }
        if !valid_id(&r.group) {
            return fail(format!(
                "group \"{}\" must be lowercase letters, digits and '-'",
                r.group
            ));
        }
        if r.title.trim().is_empty() {
            return fail("title is empty".into());
        }
        let host = match (r.kind, &r.host, r.host_check) {
            (Kind::Host, None, Some(_)) => "node".to_string(),
            (Kind::Host, _, None) => return fail("kind \"host\" needs host_check".into()),
            (Kind::Host, Some(_), _) => {
                return fail("a host check has no host: it looks at this node".into())
            }
            (_, _, Some(_)) => return fail("host_check belongs to kind \"host\"".into()),
            (_, None, _) => return fail("host is missing".into()),
            (_, Some(h), None) => h.clone(),
        };
        let mut templates = vec![("host", Some(&host)), ("stands_for", r.stands_for.as_ref())];
        for (cloud, c) in [("usgov", &r.usgov), ("china", &r.china)] {
            if let Some(c) = c {
                templates.push((cloud, Some(&c.host)));
                templates.push((cloud, c.stands_for.as_ref()));
            }
        }
        for (field, t) in templates {
            if let Some(Err(what)) = t.map(|t| check_template(t)) {
                return fail(format!("{field}: {what}"));
            }
        }
        if !(r.doc.starts_with("https://") || r.doc.starts_with("http://")) {
            return fail("doc must be the URL of the document that asks for this endpoint".into());
        }
        let transport = r.transport.unwrap_or(if r.kind == Kind::Udp {
            Transport::Udp
        } else {
            Transport::Tcp
        });
        match (r.kind, transport, r.port) {
            (Kind::Dns | Kind::Host, _, _) => {}
            (_, _, None) => return fail(format!("kind \"{}\" needs a port", r.kind.as_str())),
            (_, _, Some(0)) => return fail("port 0 is not a port".into()),
            (Kind::Udp, Transport::Udp, _) => {}
            (Kind::Udp, Transport::Tcp, _) => {
                return fail("kind \"udp\" needs transport = \"udp\"".into())
            }
            (k, Transport::Udp, _) => {
                return fail(format!("kind \"{}\" runs over TCP, not UDP", k.as_str()))
            }
            _ => {}
        }
        let mut http = HttpSpec::default();
        if let Some(m) = &r.http_method {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return fail(format!(
                    "http_method \"{m}\" must be an HTTP method like GET or HEAD"
                ));
            }
            http.method = m.clone();
        }
        if let Some(p) = &r.http_path {
            if !p.starts_with('/') || p.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return fail(format!(
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
                    return fail(format!(
                        "http_status {list:?}: give statuses like \"200\" or classes like \"2xx\""
                    ))
                }
            }
        }
        if r.expected_issuers.as_ref().is_some_and(|l| l.is_empty()) {
            return fail(
                "expected_issuers is empty: list organisations, or [\"*\"] for any".into(),
            );
        }
        let redirects = std::iter::once(r.redirect_from.as_ref()).chain(
            [&r.usgov, &r.china]
                .into_iter()
                .map(|c| c.as_ref().and_then(|c| c.redirect_from.as_ref())),
        );
        for url in redirects.flatten() {
            if !matches!(r.kind, Kind::Tls | Kind::Https) {
                return fail("redirect_from needs kind \"tls\" or \"https\"".into());
            }
            if let Err(what) = https_url_host(url) {
                return fail(format!("redirect_from \"{url}\": {what}"));
            }
        }
        if r.private_only && (r.port.is_none() || matches!(r.kind, Kind::Dns | Kind::Host)) {
            return fail("private_only needs a port: it limits which answers are probed".into());
        }
        if let Some(other) = &r.same_address_as {
            if r.kind != Kind::Dns || !valid_id(other) {
                return fail(format!(
                    "same_address_as = \"{other}\" needs kind \"dns\" and the id of another entry"
                ));
            }
        }
        match r.firewall_answer {
            Some(_) if r.kind != Kind::Https => {
                return fail(
                    "firewall_answer needs kind \"https\": it reads the HTTP answer".into(),
                )
            }
            // Storage answers an anonymous request by its API version; naming one keeps the
            // answer of an open path stable (401 NoAuthenticationInformation).
            Some(FirewallAnswer::Storage) => http
                .headers
                .push(("x-ms-version".into(), "2021-08-06".into())),
            None => {}
        }
        let modes = r
            .modes
            .unwrap_or_else(|| vec![Mode::PublicIp, Mode::NoPublicIp]);
        if modes.is_empty() || modes.contains(&Mode::Auto) {
            return fail("modes must list \"public-ip\" and/or \"no-public-ip\"".into());
        }
        entries.push(Entry {
            origin: format!("{file}:{}", lines.line(at)),
            id: r.id,
            group: r.group,
            title: r.title,
            host,
            stands_for: r.stands_for,
            usgov: r.usgov,
            china: r.china,
            compute_types: r.compute_types.unwrap_or_else(|| ComputeType::ALL.to_vec()),
            expect: r.expect.unwrap_or_default(),
            host_check: r.host_check,
            privatelink: r.privatelink,
            port: if matches!(r.kind, Kind::Dns | Kind::Host) {
                None
            } else {
                r.port
            },
            transport,
            kind: r.kind,
            required: r.required,
            modes,
            service_tag: r.service_tag,
            http,
            expected_issuers: r.expected_issuers,
            host_from: r.host_from,
            redirect_from: r.redirect_from,
            private_only: r.private_only,
            same_address_as: r.same_address_as,
            firewall_answer: r.firewall_answer,
            doc: r.doc,
        });
    }
    Ok(entries)
}

/// An `https://host[:port]/path` URL, its host checked to be a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    pub host: String,
    pub port: u16,
    /// The path and query, `/` when there is none.
    pub path: String,
}

impl HttpsUrl {
    pub fn parse(url: &str) -> Result<HttpsUrl, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or("must start with https://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err("must not carry credentials".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, port)) => (
                h,
                port.parse::<u16>()
                    .map_err(|_| format!("'{port}' is not a port"))?,
            ),
            None => (authority, 443),
        };
        if !is_dns_name(host) {
            return Err(format!("'{host}' is not a host name"));
        }
        let path = match &rest[authority.len()..] {
            "" => "/".to_string(),
            p if p.starts_with('/') => p.to_string(),
            p => format!("/{p}"),
        };
        Ok(HttpsUrl {
            host: host.to_ascii_lowercase(),
            port,
            path,
        })
    }
}

/// The host of an `https://host[:port]/path` URL, checked to be a DNS name.
pub fn https_url_host(url: &str) -> Result<String, String> {
    HttpsUrl::parse(url).map(|u| u.host)
}

/// Letters, digits and hyphens in dot-separated labels of 1-63 characters; at least two labels.
pub fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// A host template: DNS characters, `*` and known `{placeholders}`.
fn check_template(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("is empty".into());
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in \"{t}\""))?;
        let name = &rest[open + 1..open + close];
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
            let known: Vec<_> = PLACEHOLDERS
                .iter()
                .map(|(p, _)| format!("{{{p}}}"))
                .collect();
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {})",
                known.join(" ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    let literal: String = strip_placeholders(t);
    if let Some(c) = literal
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*' | '_')))
    {
        return Err(format!(
            "character '{c}' cannot appear in a host name (\"{t}\")"
        ));
    }
    Ok(())
}

fn strip_placeholders(t: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Load the built-in catalog followed by the extra files.
pub fn load(extra: &[(String, String)]) -> Result<Vec<Entry>, CatalogError> {
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    for (file, text) in BUILTIN {
        all.extend(parse(file, text, &mut seen)?);
    }
    for (file, text) in extra {
        all.extend(parse(file, text, &mut seen)?);
    }
    for e in &all {
        let Some(other) = &e.same_address_as else {
            continue;
        };
        if !all.iter().any(|o| &o.id == other && o.kind == Kind::Dns) {
            let (file, line) = e.origin.rsplit_once(':').unwrap_or((&e.origin, "0"));
            return Err(CatalogError {
                file: file.to_string(),
                line: line.parse().unwrap_or(0),
                what: format!(
                    "endpoint \"{}\": same_address_as = \"{other}\" names no DNS entry",
                    e.id
                ),
            });
        }
    }
    Ok(all)
}

/// Expand a template with the context's values; `Err` names the first missing one.
pub fn expand(template: &str, ctx: &Context) -> Result<String, Input> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let (value, input) = match name {
            "region" => (ctx.region.as_deref(), Input::Region),
            "storage_account" => (ctx.storage_account.as_deref(), Input::StorageAccount),
            "compute_name" => (ctx.compute_name.as_deref(), Input::ComputeName),
            _ => (ctx.workspace_id.as_deref(), Input::WorkspaceId),
        };
        out.push_str(value.ok_or(input)?);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A glob over ids and groups for `--only`/`--skip`: `*` any run, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Entry {
    pub fn selected(&self, only: &[String], skip: &[String]) -> bool {
        let hit = |p: &String| glob_match(p, &self.id) || glob_match(p, &self.group);
        (only.is_empty() || only.iter().any(hit)) && !skip.iter().any(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    fn full_context() -> Context {
        Context {
            region: Some("westeurope".into()),
            storage_account: Some("amlstore1".into()),
            compute_name: Some("ci-one".into()),
            workspace_id: Some("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f".into()),
            ..Context::default()
        }
    }

    #[test]
    fn builtin_catalog_loads_with_unique_ids_and_documents() {
        let all = load(&[]).expect("built-in catalog is valid");
        assert!(all.len() >= 25, "catalog has {} entries", all.len());
        let ids: HashSet<_> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "ids are unique");
        for e in &all {
            assert!(
                e.doc.starts_with("https://learn.microsoft.com/"),
                "{} cites a document",
                e.id
            );
        }
    }

    #[test]
    fn every_builtin_entry_expands_with_a_full_context() {
        let ctx = full_context();
        for e in load(&[]).unwrap() {
            let host =
                expand(&e.host, &ctx).unwrap_or_else(|f| panic!("{} needs {}", e.id, f.flag()));
            assert!(
                !host.contains('{') && !host.contains('*'),
                "{} -> {host}",
                e.id
            );
            if let Some(w) = &e.stands_for {
                assert!(w.contains('*'), "{}: stands_for is a wildcard", e.id);
            }
        }
    }

    #[test]
    fn the_seed_tables_are_covered() {
        let all = load(&[]).unwrap();
        let ctx = full_context();
        let has = |host: &str, port: u16, t: Transport| {
            all.iter().any(|e| {
                expand(&e.host, &ctx).unwrap() == host && e.port == Some(port) && e.transport == t
            })
        };
        assert!(has(
            "ci-one.westeurope.instances.azureml.ms",
            443,
            Transport::Tcp
        ));
        assert!(has(
            "ci-one.westeurope.instances.azureml.ms",
            8787,
            Transport::Tcp
        ));
        assert!(has(
            "ci-one.westeurope.instances.azureml.ms",
            18881,
            Transport::Tcp
        ));
        assert!(has(
            "ci-one.westeurope.instances.azureml.net",
            443,
            Transport::Tcp
        ));
        assert!(has("westeurope.tundra.azureml.ms", 5831, Transport::Udp));
        assert!(has("westeurope.batch.azure.com", 443, Transport::Tcp));
        assert!(has(
            "westeurope.service.batch.azure.com",
            443,
            Transport::Tcp
        ));
        assert!(has("graph.windows.net", 443, Transport::Tcp));
        for svc in ["blob", "queue", "table"] {
            assert!(has(
                &format!("amlstore1.{svc}.core.windows.net"),
                443,
                Transport::Tcp
            ));
        }
        assert!(has("amlstore1.file.core.windows.net", 445, Transport::Tcp));
        for host in [
            "login.microsoftonline.com",
            "management.azure.com",
            "ml.azure.com",
            "mcr.microsoft.com",
            "dc.applicationinsights.azure.com",
            "dc.services.visualstudio.com",
        ] {
            assert!(has(host, 443, Transport::Tcp), "{host}");
        }
        assert!(all
            .iter()
            .filter(|e| e.group == "packages")
            .all(|e| !e.required));
    }

    #[test]
    fn missing_input_names_the_flag() {
        let ctx = Context::default();
        assert_eq!(
            expand("{region}.tundra.azureml.ms", &ctx),
            Err(Input::Region)
        );
        assert_eq!(
            expand("{storage_account}.file.core.windows.net", &ctx),
            Err(Input::StorageAccount)
        );
        assert_eq!(
            expand("graph.windows.net", &ctx).as_deref(),
            Ok("graph.windows.net")
        );
    }

    fn parse_one(text: &str) -> Result<Vec<Entry>, CatalogError> {
        parse("extra.toml", text, &mut HashSet::new())
    }

    const GOOD: &str = "[[endpoint]]\nid = \"x\"\ngroup = \"g\"\ntitle = \"t\"\nhost = \"a.example.net\"\nport = 443\nkind = \"tls\"\ndoc = \"https://learn.microsoft.com/x\"\n";

    #[test]
    fn a_good_extra_entry_gets_defaults() {
        let e = &parse_one(GOOD).unwrap()[0];
        assert_eq!(e.transport, Transport::Tcp);
        assert!(e.required);
        assert_eq!(e.modes, vec![Mode::PublicIp, Mode::NoPublicIp]);
        assert_eq!(e.origin, "extra.toml:1");
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

    #[test]
    fn every_cloud_names_the_zones_to_forward() {
        for (cloud, api) in [
            (Cloud::Public, "api.azureml.ms"),
            (Cloud::Usgov, "api.ml.azure.us"),
            (Cloud::China, "api.ml.azure.cn"),
        ] {
            let zones = forward_zones(cloud);
            assert!(zones.iter().any(|z| z == api), "{cloud:?}: {zones:?}");
            assert!(zones.iter().any(|z| z == "aznbcontent.net"));
        }
    }

    #[test]
    fn default_issuers_are_microsoft_and_digicert() {
        let issuers = default_expected_issuers();
        assert!(issuers.iter().any(|i| i == "Microsoft Corporation"));
        assert!(issuers.iter().any(|i| i == "DigiCert Inc"));
    }

    #[test]
    fn globs_select_by_id_or_group() {
        assert!(glob_match("storage-*", "storage-blob-443"));
        assert!(glob_match("*443", "graph-443"));
        assert!(glob_match("g?aph-443", "graph-443"));
        assert!(!glob_match("storage-*", "graph-443"));
        let e = &parse_one(GOOD).unwrap()[0];
        assert!(e.selected(&[], &[]));
        assert!(e.selected(&["g".into()], &[]));
        assert!(!e.selected(&["g".into()], &["x".into()]));
        assert!(!e.selected(&["other".into()], &[]));
    }
}
