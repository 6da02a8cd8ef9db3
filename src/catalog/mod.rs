//! The catalog of endpoints: TOML files in `probes/`, compiled in, plus `--catalog` files.
//! Loading validates every entry so that a bad file is rejected with `file:line: what`.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use crate::context::{Cloud, ComputeType, Context, Field, Mode};

mod parse;
mod sections;
mod template;
mod url;

pub use parse::{parse, CatalogError, Origin};
pub use template::{workspace_label, Placeholder, Template};
pub use url::{https_url_host, is_dns_name, HttpsUrl};

/// The built-in catalog, compiled into the binary so the single file is self-contained.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "probes/azureml.toml",
        include_str!("../../probes/azureml.toml"),
    ),
    (
        "probes/storage.toml",
        include_str!("../../probes/storage.toml"),
    ),
    (
        "probes/public-internet.toml",
        include_str!("../../probes/public-internet.toml"),
    ),
    (
        "probes/private-endpoints.toml",
        include_str!("../../probes/private-endpoints.toml"),
    ),
    ("probes/node.toml", include_str!("../../probes/node.toml")),
    (
        "probes/scenarios.toml",
        include_str!("../../probes/scenarios.toml"),
    ),
];

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Transport {
        Tcp = "tcp",
        Udp = "udp",
    }
}

wire_enum! {
    /// The deepest layer a check tests. Ordered from shallow to deep.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Kind {
        Dns = "dns",
        Tcp = "tcp",
        Udp = "udp",
        /// Plain HTTP: a request over TCP, judged on the service's own answer.
        Http = "http",
        Tls = "tls",
        Https = "https",
        Websocket = "websocket",
        Smb = "smb",
        Host = "host",
    }
}

/// An entry's host in one cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudHost {
    pub host: Template,
    /// The wildcard requirement the host stands for.
    pub stands_for: Option<Template>,
    pub privatelink: Option<String>,
    pub redirect_from: Option<String>,
}

/// One validated catalog entry, templates not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub group: String,
    pub title: String,
    /// The public cloud's host; for `host` checks, `node`.
    pub host: Template,
    pub stands_for: Option<Template>,
    /// Boxed, so that an entry without a host of its own in these clouds holds a pointer, not
    /// room for a whole `CloudHost`, twice.
    pub usgov: Option<Box<CloudHost>>,
    pub china: Option<Box<CloudHost>>,
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
    /// The NSG service tag that allows the flow; may name `{region}`.
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
    /// The scenario the entry belongs to: it runs only when `--scenario` names it.
    pub scenario: Option<String>,
    /// For a transfer check: how many bytes of the answer's body must arrive in time.
    pub transfer_bytes: Option<u64>,
    /// The name exists only where the service is set up so (a registry's dedicated data
    /// endpoint): a name that does not exist makes the check not apply, not fail.
    pub if_exists: bool,
    /// For an `if_exists` name: the id of the DNS entry whose answer through its privatelink
    /// zone shows that this name must exist (a registry with a private endpoint has a data
    /// endpoint).
    pub exists_with: Option<String>,
    pub doc: String,
    /// Where the entry came from, for messages about it.
    pub origin: Origin,
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
    /// The context field that holds the host (its source is under the same key).
    pub fn field(self) -> Field {
        match self {
            HostFrom::BatchAccount => Field::BatchAccountHost,
            HostFrom::BatchNode => Field::BatchNodeHost,
            HostFrom::ServiceEndpoint => Field::ServiceEndpointHost,
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
    /// Azure Container Registry: 403 whose body says the client's IP is not allowed access
    /// (`aka.ms/acr/firewall`); its own 401 carries a `WWW-Authenticate` challenge.
    Registry,
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
            Some(c) => c.as_deref().cloned(),
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    expected_issuers: Vec<String>,
    forward_zones: ForwardZones,
    scenarios: std::collections::BTreeMap<String, String>,
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
        .get_or_init(|| toml::from_str(include_str!("../../probes/defaults.toml")).ok())
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

/// The zones a custom DNS server must forward to Azure DNS for a private-endpoint name: the
/// workspace's zones (`forward_zones`), or, for another service's name (a registry's, a key
/// vault's), that service's zone and the name's own parent zone.
pub fn zones_to_forward(cloud: Cloud, privatelink: Option<&str>, host: &str) -> Vec<String> {
    let workspace = forward_zones(cloud);
    match privatelink.and_then(|z| z.strip_prefix("privatelink.")) {
        Some(zone) if !workspace.iter().any(|w| w == zone) => {
            let mut zones = Vec::new();
            if !crate::net::in_zone(host, zone) {
                zones.extend(host.split_once('.').map(|(_, parent)| parent.to_string()));
            }
            zones.push(zone.to_string());
            zones
        }
        _ => workspace,
    }
}

/// What a built-in scenario is for, in one line (`probes/defaults.toml`); `None` for a
/// scenario only a `--catalog` file names.
pub fn scenario_title(name: &str) -> Option<String> {
    defaults()?.scenarios.get(name).cloned()
}

/// The scenarios the entries name, each once, in order of first appearance.
pub fn scenarios(entries: &[Arc<Entry>]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for name in entries.iter().filter_map(|e| e.scenario.as_deref()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Load the built-in catalog followed by the extra files. Each entry is shared by the plan that
/// runs it, not copied.
pub fn load(extra: &[(String, String)]) -> Result<Vec<Arc<Entry>>, CatalogError> {
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    for (file, text) in BUILTIN {
        all.extend(parse(file, text, &mut seen)?);
    }
    for (file, text) in extra {
        all.extend(parse(file, text, &mut seen)?);
    }
    for e in &all {
        let named = [
            ("same_address_as", &e.same_address_as),
            ("exists_with", &e.exists_with),
        ];
        for (field, other) in named {
            let Some(other) = other else { continue };
            if !all.iter().any(|o| &o.id == other && o.kind == Kind::Dns) {
                return Err(CatalogError {
                    file: e.origin.file.clone(),
                    line: e.origin.line,
                    what: format!(
                        "endpoint \"{}\": {field} = \"{other}\" names no DNS entry",
                        e.id
                    ),
                });
            }
        }
    }
    Ok(all)
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
    /// Whether `--only` and `--skip` keep the entry. An empty pattern (`AMLPROBE_ONLY=`, as a
    /// script writes an unset value) selects nothing and so is no pattern at all.
    pub fn selected(&self, only: &[String], skip: &[String]) -> bool {
        let given = |p: &&String| !p.trim().is_empty();
        let hit = |p: &String| glob_match(p, &self.id) || glob_match(p, &self.group);
        let mut only = only.iter().filter(given).peekable();
        (only.peek().is_none() || only.any(hit)) && !skip.iter().filter(given).any(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::parse::tests::{parse_one, GOOD};
    use super::*;
    use crate::context::Context;

    fn full_context() -> Context {
        Context {
            region: Some("westeurope".into()),
            storage_account: Some("amlstore1".into()),
            compute_name: Some("ci-one".into()),
            workspace_id: Some("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f".into()),
            workspace_name: Some("Ws_One-With-A-Long-Name".into()),
            acr: Some("myacr".into()),
            key_vault: Some("kv-one".into()),
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
            let host = e
                .host
                .expand(&ctx)
                .unwrap_or_else(|f| panic!("{} needs {}", e.id, f.flag()));
            assert!(
                !host.contains('{') && !host.contains('*'),
                "{} -> {host}",
                e.id
            );
            if let Some(w) = &e.stands_for {
                assert!(
                    w.to_string().contains('*'),
                    "{}: stands_for is a wildcard",
                    e.id
                );
            }
        }
    }

    #[test]
    fn the_seed_tables_are_covered() {
        let all = load(&[]).unwrap();
        let ctx = full_context();
        let has = |host: &str, port: u16, t: Transport| {
            all.iter().any(|e| {
                e.host.expand(&ctx).unwrap() == host && e.port == Some(port) && e.transport == t
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
    fn another_services_private_name_forwards_its_own_zones() {
        let aml = forward_zones(Cloud::Public);
        let zones = |zone, host| zones_to_forward(Cloud::Public, Some(zone), host);
        assert_eq!(
            zones("privatelink.api.azureml.ms", "x.workspace.r.api.azureml.ms"),
            aml
        );
        assert_eq!(
            zones(
                "privatelink.notebooks.azure.net",
                "ml-x.r.notebooks.azure.net"
            ),
            aml
        );
        assert_eq!(
            zones("privatelink.azurecr.io", "myacr.r.data.azurecr.io"),
            ["azurecr.io"]
        );
        assert_eq!(
            zones("privatelink.vaultcore.azure.net", "kv.vault.azure.net"),
            ["vault.azure.net", "vaultcore.azure.net"]
        );
        assert_eq!(
            zones_to_forward(Cloud::Public, None, "ci.r.instances.azureml.ms"),
            aml
        );
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
        assert!(
            e.selected(&["".into()], &["".into()]),
            "empty patterns are none"
        );
    }
}
