//! What `fix` prints, before any format: the changes that would make a report's failing and
//! warning checks pass. Every value here was checked when the report was read (host names,
//! service tags, zones, account and resource names hold only the characters their kind
//! allows), so no format can be made to run or declare anything else; each format still quotes
//! them in its own way.

use crate::context::{Cloud, Mode};

/// Why a change is there: the check and reason that call for it, and the document behind it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Why {
    pub check: String,
    pub reason: String,
    pub doc: String,
}

impl Why {
    /// `check-id (reason), doc`: the comment each rule carries.
    pub fn line(&self) -> String {
        match self.doc.is_empty() {
            true => format!("{} ({})", self.check, self.reason),
            false => format!("{} ({}), {}", self.check, self.reason, self.doc),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    /// Both, as the documents ask for Batch ("ANY 443").
    Any,
}

impl Protocol {
    /// As Azure Firewall writes it in network rules.
    pub fn azure(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Any => "Any",
        }
    }

    /// As an NSG rule writes it.
    pub fn nsg(self) -> &'static str {
        match self {
            Protocol::Tcp => "Tcp",
            Protocol::Udp => "Udp",
            Protocol::Any => "*",
        }
    }

    /// As a managed network's service tag rule writes it.
    pub fn managed(self) -> &'static str {
        match self {
            Protocol::Tcp | Protocol::Udp => self.azure(),
            Protocol::Any => "*",
        }
    }
}

/// Where a network rule goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    /// A service tag, region-scoped where the service has one (`Storage.westeurope`).
    Tag(String),
    /// A name: a firewall network rule takes it only with the firewall's DNS proxy on, and an
    /// NSG cannot take it at all.
    Fqdn(String),
}

impl Dest {
    pub fn text(&self) -> &str {
        match self {
            Dest::Tag(t) | Dest::Fqdn(t) => t,
        }
    }
}

/// The protocol of an application rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Web {
    Http,
    Https,
}

impl Web {
    /// As Azure Firewall writes it (`Https=443`).
    pub fn azure(self) -> &'static str {
        match self {
            Web::Http => "Http",
            Web::Https => "Https",
        }
    }
}

/// One change, in the terms of the thing that must change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// An Azure Firewall application rule: HTTP or HTTPS to one name, the concrete host or,
    /// where none is known, the wildcard the host stands for (`*.pythonhosted.org`).
    Application { fqdn: String, web: Web, port: u16 },
    /// An Azure Firewall network rule; when `dest` is a service tag, also an NSG outbound rule
    /// from the VNet.
    Network {
        protocol: Protocol,
        port: u16,
        dest: Dest,
    },
    /// A route that sends a service tag to next hop Internet, past a default route through a
    /// firewall (forced tunnelling).
    Route { tag: String },
    /// The custom DNS server forwards this zone to Azure DNS (168.63.129.16).
    Forward { zone: String },
    /// The private DNS zone is linked to the VNet.
    ZoneLink { zone: String },
    /// The name is exempt from TLS inspection (Azure Firewall Premium: an application rule
    /// without it; other appliances: their bypass list).
    NoTlsInspection { fqdn: String, port: u16 },
    /// The storage account's own firewall lets this subnet in (or a private endpoint is used).
    StorageSubnet { account: String },
    /// The HTTP proxy allows CONNECT to this host and port.
    ProxyConnect { host: String, port: u16 },
}

/// A rule and the checks that call for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub rule: Rule,
    pub why: Vec<Why>,
    /// The flow cannot be confirmed from the node (a UDP port that never answers, a name that
    /// only stands for a wildcard): make sure the rule exists rather than add it blindly.
    pub confirm: bool,
}

/// A failure no rule fixes, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub why: Why,
    pub text: String,
}

/// Names of the resources to change, as the command line gives them; `None` where the user did
/// not give one, and the output shows a marked placeholder.
pub use crate::cli::Names;

/// Placeholders where a name was not given: easy to find, and not valid as a resource name, so
/// nothing runs against the wrong resource by accident.
pub const PLACEHOLDER_PREFIX: &str = "REPLACE-";

impl Names {
    fn or(name: &Option<String>, what: &str) -> String {
        name.clone()
            .unwrap_or_else(|| format!("{PLACEHOLDER_PREFIX}{what}"))
    }
    pub fn firewall_policy(&self) -> String {
        Names::or(&self.firewall_policy, "firewall-policy")
    }
    pub fn nsg(&self) -> String {
        Names::or(&self.nsg, "nsg")
    }
    pub fn route_table(&self) -> String {
        Names::or(&self.route_table, "route-table")
    }
    pub fn resource_group(&self) -> String {
        Names::or(&self.resource_group, "resource-group")
    }
    pub fn workspace(&self) -> String {
        Names::or(&self.workspace, "workspace")
    }
    pub fn vnet(&self) -> String {
        Names::or(&self.vnet, "vnet")
    }
    pub fn subnet(&self) -> String {
        Names::or(&self.subnet, "subnet")
    }
    /// The subnet's address range, which no report holds: a placeholder naming the subnet
    /// where it is known.
    pub fn source_range(&self) -> String {
        match &self.subnet {
            Some(subnet) => format!("{PLACEHOLDER_PREFIX}address-range-of-{subnet}"),
            None => format!("{PLACEHOLDER_PREFIX}subnet-address-range"),
        }
    }
}

/// Everything `fix` found in one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixes {
    pub cloud: Cloud,
    pub region: Option<String>,
    pub mode: Mode,
    /// Changes in a stable order: by rule, each once, with every check that calls for it.
    pub changes: Vec<Change>,
    pub advice: Vec<Advice>,
    pub names: Names,
}

/// A destination that would open far more than any check asks for: everything, the Internet,
/// the whole VNet, or all of Azure's addresses. `derive` never names one, whatever a report
/// says; the formats that declare resources refuse one all the same.
pub fn too_broad(dest: &str) -> bool {
    let d = dest.trim().to_ascii_lowercase();
    matches!(
        d.as_str(),
        "" | "*" | "any" | "internet" | "0.0.0.0/0" | "::/0" | "azurecloud" | "virtualnetwork"
    ) || d.starts_with("azurecloud.")
}

impl Fixes {
    /// The changes to make (not those only to confirm).
    pub fn to_make(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| !c.confirm)
    }

    /// The changes only to confirm.
    pub fn to_confirm(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.confirm)
    }

    /// Whether there is anything to change or look at.
    pub fn nothing(&self) -> bool {
        self.to_make().next().is_none() && self.advice.is_empty()
    }
}
