//! Reading a report back: a file anyone could hand over, so every field `fix` uses is checked
//! for the shape `check` gives it before it can reach a script. A report that fails is refused
//! whole, with one line naming the field.

use crate::context::is_resource_name;
use crate::context::{Cloud, Mode};
use crate::reason::{Reason, Status};
use crate::report::read::{self, is_check_id, RawResult, ReportKind, CHECK_ID_CHARS};

/// What `fix` needs of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    pub cloud: Cloud,
    pub region: Option<String>,
    pub mode: Mode,
    pub storage_account: Option<String>,
    pub workspace_name: Option<String>,
    pub results: Vec<Finding>,
}

/// What `fix` needs of one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub kind: String,
    pub host: String,
    pub port: Option<u16>,
    pub udp: bool,
    /// The wildcard the host stands for, and whether the host was only chosen to stand for it.
    pub stands_for: Option<String>,
    pub stand_in: bool,
    pub service_tag: Option<String>,
    pub status: Status,
    pub reason: Reason,
    pub remediation: String,
    pub doc: String,
}

/// The most text of a result's own words (its remediation) carried into an output.
const TEXT_LIMIT: usize = 2000;

/// The report in `bytes`, or why it is not one `check` wrote.
pub fn parse(bytes: &[u8]) -> Result<Findings, String> {
    match crate::report::read::kind(bytes)? {
        ReportKind::Node => {}
        ReportKind::Mesh => return Err("a mesh report: fix takes a report from check".into()),
        ReportKind::Fleet => {
            return Err("a fleet report: fix takes one node's report from check".into())
        }
    }
    let raw = read::node(bytes)?;
    let c = raw.context.ok_or("context is missing")?;
    let cloud = c.cloud.ok_or("context.cloud is missing")?;
    let cloud = Cloud::from_wire(&cloud).ok_or("context.cloud is not public, usgov or china")?;
    let mode = c.mode.ok_or("context.mode is missing")?;
    let mode =
        Mode::from_wire(&mode).ok_or("context.mode is not public-ip, no-public-ip or auto")?;
    let region = match c.region {
        Some(r) => Some(
            crate::context::parse_region(&r)
                .map_err(|_| "context.region is not an Azure region name".to_string())?,
        ),
        None => None,
    };
    let storage_account = match c.storage_account {
        Some(a) if is_account(&a) => Some(a),
        Some(_) => return Err("context.storage_account is not a storage account name".into()),
        None => None,
    };
    let workspace_name = match c.workspace_name {
        Some(w) if is_resource_name(&w) => Some(w),
        Some(_) => return Err("context.workspace_name is not a workspace name".into()),
        None => None,
    };
    let results = raw
        .results
        .ok_or("results is missing")?
        .into_iter()
        .enumerate()
        .map(|(i, r)| result(r).map_err(|e| format!("results[{i}].{e}")))
        .collect::<Result<_, _>>()?;
    Ok(Findings {
        cloud,
        region,
        mode,
        storage_account,
        workspace_name,
        results,
    })
}

fn result(r: RawResult) -> Result<Finding, String> {
    let id = r.id.ok_or("id is missing")?;
    if !is_check_id(&id) {
        return Err(format!("id is not a check id ({CHECK_ID_CHARS})"));
    }
    let (status, reason) = read::state(r.status, r.reason)?;
    let kind = match r.kind.ok_or("kind is missing")? {
        k if crate::catalog::Kind::ALL.iter().any(|x| x.as_str() == k) => k,
        _ => return Err("kind is not a check kind".into()),
    };
    let target = r.target.ok_or("target is missing")?;
    let udp = match target.transport.as_deref() {
        Some("tcp") => false,
        Some("udp") => true,
        Some(_) => return Err("target.transport is neither tcp nor udp".into()),
        None => return Err("target.transport is missing".into()),
    };
    let given = target.host.ok_or("target.host is missing")?;
    // Checks of the node itself have no host to reach.
    let host = match kind.as_str() {
        "host" => String::new(),
        _ if is_host(&given, false) => given.to_ascii_lowercase(),
        _ => return Err("target.host is not a host name".into()),
    };
    let stands_for = match r.stands_for {
        Some(w) if is_host(&w, true) => Some(w.to_ascii_lowercase()),
        Some(_) => return Err("stands_for is not a host name or wildcard".into()),
        None => None,
    };
    let service_tag = match r.service_tag {
        Some(t) if is_tag(&t) => Some(t),
        Some(_) => return Err("service_tag is not a service tag".into()),
        None => None,
    };
    let doc = r.doc.unwrap_or_default();
    Ok(Finding {
        id,
        kind,
        host,
        port: target.port,
        udp,
        stands_for,
        stand_in: r.stand_in.unwrap_or_default(),
        service_tag,
        status,
        reason,
        remediation: r
            .remediation
            .unwrap_or_default()
            .chars()
            .take(TEXT_LIMIT)
            .collect(),
        doc: if is_doc(&doc) { doc } else { String::new() },
    })
}

/// A DNS name of letters, digits, '-' and '_' (at least two labels), or with `wildcard`, also
/// one whose first label is `*`.
pub fn is_host(s: &str, wildcard: bool) -> bool {
    let name = s.strip_suffix('.').unwrap_or(s);
    let name = match name.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        _ => name,
    };
    (1..=253).contains(&name.len())
        && name.contains('.')
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

/// A service tag: `AzureMachineLearning`, `Storage.westeurope`.
pub fn is_tag(s: &str) -> bool {
    (1..=80).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

/// A storage account name, as `--storage-account` takes it.
pub fn is_account(s: &str) -> bool {
    crate::context::parse_storage_account(s).is_ok()
}

/// A document link: https, and nothing a shell, a string or a comment would read as syntax.
fn is_doc(s: &str) -> bool {
    s.len() <= 300
        && s.starts_with("https://")
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b'.' | b'-' | b'_' | b'#' | b'?' | b'=' | b':' | b'%' | b'&' | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(results: &str) -> String {
        format!(
            r#"{{"schema_version": 1, "tool": {{"name": "amlprobe", "version": "0.1.0"}},
            "context": {{"cloud": "public", "region": "westeurope", "mode": "no-public-ip",
            "storage_account": "amlstore1", "workspace_name": "ws-one"}},
            "results": [{results}]}}"#
        )
    }

    const UDP: &str = r#"{"id": "tundra-udp-5831", "kind": "udp", "required": true,
        "target": {"host": "westeurope.tundra.azureml.ms", "port": 5831, "transport": "udp"},
        "service_tag": "AzureMachineLearning", "status": "fail", "reason": "udp_unreachable",
        "remediation": "allow it", "doc": "https://learn.microsoft.com/x"}"#;

    #[test]
    fn a_report_check_writes_reads() {
        let r = parse(report(UDP).as_bytes()).unwrap();
        assert_eq!(r.cloud, Cloud::Public);
        assert_eq!(r.region.as_deref(), Some("westeurope"));
        assert_eq!(r.results.len(), 1);
        let u = &r.results[0];
        assert!(u.udp);
        assert_eq!(u.port, Some(5831));
        assert_eq!(u.reason, Reason::UdpUnreachable);
        assert_eq!(u.service_tag.as_deref(), Some("AzureMachineLearning"));
    }

    #[test]
    fn foreign_and_hostile_files_are_refused_with_the_field() {
        let cases = [
            ("{}".to_string(), "not a report amlprobe wrote"),
            ("[1,2]".to_string(), "not a report amlprobe wrote"),
            (
                report(UDP).replace("\"amlprobe\", \"version\"", "\"other\", \"version\""),
                "tool.name",
            ),
            (
                report(UDP).replace("\"schema_version\": 1", "\"schema_version\": 2"),
                "schema_version 2",
            ),
            (
                report(UDP).replace("westeurope.tundra", "a;reboot.tundra"),
                "results[0].target.host",
            ),
            (
                report(UDP).replace("AzureMachineLearning", "Azure ML"),
                "results[0].service_tag",
            ),
            (
                report(UDP).replace("udp_unreachable", "nope"),
                "results[0].reason",
            ),
            (
                report(UDP).replace("\"transport\": \"udp\"", "\"transport\": \"sctp\""),
                "results[0].target.transport",
            ),
            (
                report(UDP).replace("\"region\": \"westeurope\"", "\"region\": \"west europe\""),
                "context.region",
            ),
            (
                report(UDP).replace("amlstore1", "AML$(x)"),
                "context.storage_account",
            ),
            (
                report(UDP)[..100].to_string(),
                "not a report amlprobe wrote",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
            assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn a_document_link_with_syntax_in_it_is_dropped() {
        let text = report(UDP).replace("https://learn.microsoft.com/x", "https://x/'$(reboot)'");
        assert_eq!(parse(text.as_bytes()).unwrap().results[0].doc, "");
    }

    #[test]
    fn names_are_checked_for_their_shape() {
        assert!(is_host("a.example", false));
        assert!(!is_host("*.example.com", false));
        assert!(is_host("*.example.com", true));
        assert!(!is_host("example", false));
        assert!(!is_host("a..b", false));
        assert!(!is_host("-a.b", false));
        assert!(!is_host(&format!("{}.b", "a".repeat(64)), false));
        assert!(is_tag("BatchNodeManagement.westeurope"));
        assert!(!is_tag("*"));
        assert!(!is_tag("0.0.0.0/0"));
        assert!(is_account("amlstore1"));
        assert!(!is_account("AmlStore"));
        assert!(is_resource_name("rg-ml_1.(a)"));
        assert!(!is_resource_name("rg ml"));
        assert!(!is_resource_name("rg'"));
    }
}
