//! The Azure Instance Metadata Service: where the node is (region, cloud, public IP). Plain HTTP
//! to 169.254.169.254 with `Metadata: true`, never through a proxy, under a short deadline of its
//! own so a machine without it costs well under a second.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::context::Cloud;
use crate::net::{parse_head, HeadError};

/// An address, not a string: a string would link the system resolver (getaddrinfo, and with
/// it NSS and the dynamic loader) into the static binary for a name it never looks up.
pub const ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(169, 254, 169, 254), 80));
pub const PATH: &str = "/metadata/instance?api-version=2021-02-01";
/// IMDS answers in milliseconds where it exists.
pub const DEADLINE: Duration = Duration::from_millis(600);
const MAX_BODY: usize = 256 * 1024;

/// What the node learns about itself. Subscription and resource group in IMDS belong to the
/// Batch host, not the workspace, so they are not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub location: Option<String>,
    pub cloud: Option<Cloud>,
    pub public_ip: Option<bool>,
    /// The virtual machine's name (`compute.name`): what tells a cluster's nodes apart.
    pub vm_name: Option<String>,
    /// Values that were present but unusable.
    pub warnings: Vec<String>,
}

/// Why there are no facts: nothing answered (normal off Azure), or something answered badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Unavailable(String),
    Malformed(String),
}

/// Fetch and read the instance document.
pub async fn discover() -> Result<Facts, Problem> {
    let body = fetch().await?;
    parse(&body).map_err(Problem::Malformed)
}

/// The facts for discovery, whatever IMDS did: nothing answering is normal off Azure and only
/// a note, a bad answer is a warning. `answer` is `None` when IMDS was not asked (`--offline`).
pub fn facts(
    answer: Option<Result<Facts, Problem>>,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Facts {
    match answer {
        Some(Ok(facts)) => {
            warnings.extend(facts.warnings.iter().cloned());
            return facts;
        }
        Some(Err(Problem::Unavailable(why))) => {
            notes.push(format!("instance metadata (IMDS) unavailable: {why}"));
        }
        Some(Err(Problem::Malformed(why))) => warnings.push(format!(
            "instance metadata (IMDS) answered badly: {why}; ignored"
        )),
        None => notes.push("instance metadata (IMDS) not asked (--offline)".into()),
    }
    Facts::default()
}

/// Fetch the instance document.
pub async fn fetch() -> Result<String, Problem> {
    let bad = |e: String| Problem::Malformed(e);
    let exchange = async {
        let mut s = TcpStream::connect(ADDRESS)
            .await
            .map_err(|e| Problem::Unavailable(format!("not reachable ({e})")))?;
        let req = format!("GET {PATH} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| bad(e.to_string()))?;
        let mut body = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| bad(e.to_string()))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
            if body.len() > MAX_BODY {
                return Err(bad(format!("answer larger than {} KiB", MAX_BODY / 1024)));
            }
        }
        Ok(body)
    };
    let raw = timeout(DEADLINE, exchange).await.map_err(|_| {
        Problem::Unavailable(format!("no answer within {} ms", DEADLINE.as_millis()))
    })??;
    let head = parse_head(&raw)
        .map_err(|e| bad(not_http(&e)))?
        .ok_or_else(|| bad("an incomplete HTTP answer".into()))?;
    if head.status != 200 {
        return Err(bad(format!("HTTP status {}", head.status)));
    }
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(raw.len());
    let head_text = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
    let body = match head_text.contains("transfer-encoding: chunked") {
        true => dechunk(&raw[at..]).ok_or_else(|| bad("a broken chunked answer".into()))?,
        false => raw[at..].to_vec(),
    };
    String::from_utf8(body).map_err(|_| bad("the answer is not UTF-8".into()))
}

/// A chunked body, decoded; `None` when the chunks do not add up. Extensions after a chunk's
/// size are ignored, and so are trailers.
pub(crate) fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::with_capacity(rest.len());
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        let chunk = rest.get(..size)?;
        body.extend_from_slice(chunk);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// What was wrong with an answer that is not HTTP, never quoting it: the metadata document
/// names the subscription, and whatever answers at this address may echo it.
fn not_http(e: &HeadError) -> String {
    match e {
        HeadError::NotHttp { what, .. } => format!("not HTTP ({what})"),
        HeadError::TooLong => "not HTTP (a header block over 16 KiB)".into(),
        HeadError::TooManyHeaders => "more than 64 header lines".into(),
        HeadError::Timeout { .. } | HeadError::Closed { .. } => "an incomplete HTTP answer".into(),
        HeadError::Io(why) => format!("not HTTP ({why})"),
    }
}

/// A virtual machine's name as Azure allows it: letters, digits, '-', '_' and '.', up to 64.
fn is_vm_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Read the facts from an instance document, tolerating anything malformed.
pub fn parse(body: &str) -> Result<Facts, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let compute = v.get("compute").ok_or("no \"compute\" section")?;
    let mut facts = Facts::default();
    match compute.get("location").and_then(Value::as_str) {
        Some(l) => match crate::context::parse_region(l) {
            Ok(r) => facts.location = Some(r),
            Err(_) => facts
                .warnings
                .push("IMDS compute.location is not a region name; ignored".into()),
        },
        None => facts.warnings.push("IMDS has no compute.location".into()),
    }
    if let Some(env) = compute.get("azEnvironment").and_then(Value::as_str) {
        match env.to_ascii_lowercase().as_str() {
            "azurepubliccloud" => facts.cloud = Some(Cloud::Public),
            "azureusgovernmentcloud" => facts.cloud = Some(Cloud::Usgov),
            "azurechinacloud" => facts.cloud = Some(Cloud::China),
            _ => facts
                .warnings
                .push("IMDS compute.azEnvironment is not a known cloud; ignored".into()),
        }
    }
    match compute.get("name").and_then(Value::as_str) {
        Some(n) if is_vm_name(n) => facts.vm_name = Some(n.to_string()),
        Some(_) => facts
            .warnings
            .push("IMDS compute.name is not a virtual machine name; ignored".into()),
        None => {}
    }
    let public = v
        .pointer("/network/interface")
        .and_then(Value::as_array)
        .map(|nics| {
            nics.iter().any(|nic| {
                nic.pointer("/ipv4/ipAddress")
                    .and_then(Value::as_array)
                    .is_some_and(|ips| {
                        ips.iter().any(|ip| {
                            ip.get("publicIpAddress")
                                .and_then(Value::as_str)
                                .is_some_and(|p| !p.is_empty())
                        })
                    })
            })
        });
    facts.public_ip = public;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vm_name_is_kept_only_when_it_is_one() {
        let f = parse(r#"{"compute":{"location":"westeurope","name":"tvmps_abc123_d"}}"#).unwrap();
        assert_eq!(f.vm_name.as_deref(), Some("tvmps_abc123_d"));
        let f = parse(r#"{"compute":{"location":"westeurope","name":"a b\u001b[2J"}}"#).unwrap();
        assert_eq!(f.vm_name, None);
        assert!(
            f.warnings.iter().any(|w| w.contains("compute.name")),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn a_compute_instance_document_gives_region_cloud_and_public_ip() {
        let doc = r#"{"compute":{"location":"westeurope","azEnvironment":"AzurePublicCloud",
            "subscriptionId":"batch-host-sub","resourceGroupName":"batch-host-rg"},
            "network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.4","publicIpAddress":""}]}}]}}"#;
        let f = parse(doc).unwrap();
        assert_eq!(f.location.as_deref(), Some("westeurope"));
        assert_eq!(f.cloud, Some(Cloud::Public));
        assert_eq!(f.public_ip, Some(false));
        assert!(f.warnings.is_empty());
        let doc = r#"{"compute":{"location":"usgovvirginia","azEnvironment":"AzureUSGovernmentCloud"},
            "network":{"interface":[{"ipv4":{"ipAddress":[{"publicIpAddress":"20.1.2.3"}]}}]}}"#;
        let f = parse(doc).unwrap();
        assert_eq!((f.cloud, f.public_ip), (Some(Cloud::Usgov), Some(true)));
    }

    #[test]
    fn malformed_documents_are_errors_or_warnings_never_panics() {
        for bad in ["", "{", "[]", "null", "{\"network\":{}}", "\"compute\""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let f = parse(
            r#"{"compute":{"location":42,"azEnvironment":"Mars"},"network":{"interface":"x"}}"#,
        )
        .unwrap();
        assert_eq!(f.location, None);
        assert_eq!(f.cloud, None);
        assert_eq!(f.warnings.len(), 2, "{:?}", f.warnings);
        let f = parse(r#"{"compute":{"location":"west europe!"}}"#).unwrap();
        assert!(f.location.is_none() && f.warnings[0].contains("not a region"));
    }

    #[test]
    fn chunked_answers_are_decoded() {
        assert_eq!(
            dechunk(b"4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        for broken in [
            &b"5\r\nab\r\n"[..],
            b"zz\r\n",
            b"",
            b"2\r\nabXX0\r\n\r\n",
            b"ffffffffffffffffff\r\n",
        ] {
            assert_eq!(dechunk(broken), None, "{broken:?}");
        }
    }
}
