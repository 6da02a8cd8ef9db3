//! Facts about networks and HTTP that more than one stage reads: which addresses are private,
//! Azure DNS's address, and the HTTP response head (the probes read it from endpoints, proxies
//! and WebSocket fallbacks; discovery from IMDS).

use std::net::IpAddr;

/// Azure's virtual DNS server, reachable only from inside a VNet.
pub const AZURE_DNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(168, 63, 129, 16);

/// RFC 1918, RFC 6598 and IPv6 ULA; everything else counts as public.
pub fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64..=127).contains(&o[1]))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(&IpAddr::V4(v4)),
            None => (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    }
}

/// The most of a response head amlprobe reads before calling the peer broken.
pub const MAX_HEAD: usize = 16 * 1024;

/// The parts of a response head the report uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
    pub reason: String,
    pub server: Option<String>,
    pub location: Option<String>,
    /// `Date`, as sent.
    pub date: Option<String>,
    /// Azure Storage's `x-ms-error-code`.
    pub error_code: Option<String>,
    /// `Content-Length`, when given and a number.
    pub content_length: Option<u64>,
    /// `WWW-Authenticate`: the challenge a service's own 401 carries.
    pub www_authenticate: Option<String>,
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// The whole object's length a partial answer's `Content-Range` gives (`bytes 0-9/TOTAL`).
    pub range_total: Option<u64>,
    /// How many bytes of the body came in the reads that brought the head.
    pub body_with_head: usize,
    /// The start of the body of an error answer (400 and above), up to `BODY_LIMIT` bytes: a
    /// firewall says why it refused there. Empty for other answers.
    pub body: Vec<u8>,
}

/// The most of an error answer's body kept: enough for a firewall's one-line reason.
pub const BODY_LIMIT: usize = 1024;

/// The most of a `Location` kept: a signed download URL is a few hundred bytes.
const LOCATION_LIMIT: usize = 4096;

/// The total of `bytes FIRST-LAST/TOTAL`; none for `*`.
fn range_total(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.trim().parse().ok()
}

/// Why no head could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Nothing complete before the deadline; `bytes` arrived.
    Timeout {
        bytes: usize,
    },
    /// The peer closed first.
    Closed {
        bytes: usize,
    },
    /// Not HTTP: what httparse said, and the first bytes, printable.
    NotHttp {
        what: String,
        sample: String,
    },
    TooLong,
    /// More header lines than are read (64): no Azure endpoint sends so many.
    TooManyHeaders,
    Io(String),
}

/// Parse a complete head from `buf`; `Ok(None)` while more bytes are needed. An error answer
/// keeps the start of the body that follows in `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    Ok(parse_head_at(buf)?.map(|(mut head, len)| {
        if head.status >= 400 {
            head.body = buf[len..].iter().take(BODY_LIMIT).copied().collect();
        }
        head
    }))
}

/// A complete head and the bytes it took.
pub fn parse_head_at(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            // A header's value, at most `max` bytes of it.
            let find_at_most = |name: &str, max: usize| {
                resp.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| printable(h.value, max))
            };
            let find = |name: &str| find_at_most(name, 120);
            let head = Head {
                minor_version: resp.version.unwrap_or(1),
                status: resp.code.unwrap_or(0),
                reason: resp.reason.unwrap_or("").to_string(),
                server: find("server"),
                // Whole: a download's path is longer than a line of a message.
                location: find_at_most("location", LOCATION_LIMIT),
                date: find("date"),
                error_code: find("x-ms-error-code"),
                content_length: find("content-length").and_then(|v| v.trim().parse().ok()),
                www_authenticate: find("www-authenticate"),
                content_type: find("content-type"),
                range_total: find("content-range").and_then(|v| range_total(&v)),
                body_with_head: buf.len() - len,
                body: Vec::new(),
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooManyHeaders),
        Err(e) => Err(HeadError::NotHttp {
            what: e.to_string(),
            sample: printable(buf, 40),
        }),
    }
}

/// Whether `name` is `zone` or a name under it (`x.privatelink.azurecr.io` in
/// `privatelink.azurecr.io`).
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// At most `max` bytes of `b`, with anything unprintable shown as `.`.
pub fn printable(b: &[u8], max: usize) -> String {
    b.iter()
        .take(max)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A download's redirect is kept whole (its path is the request), other headers at the
    /// length a message quotes; a partial answer's range gives the object's length.
    #[test]
    fn a_location_is_kept_whole_and_a_range_gives_the_total() {
        let url = format!(
            "https://vscode.download.prss.microsoft.com/dbazure/download/stable/{}/vscode-server-linux-x64.tar.gz",
            "0f3a8d52".repeat(5)
        );
        let raw = format!(
            "HTTP/1.1 302 Found\r\nLocation: {url}\r\nServer: {}\r\n\r\n",
            "s".repeat(200)
        );
        let head = parse_head(raw.as_bytes()).unwrap().unwrap();
        assert!(url.len() > 120);
        assert_eq!(head.location.as_deref(), Some(url.as_str()));
        assert_eq!(head.server.map(|s| s.len()), Some(120));
        let partial = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1048575/52428800\r\nContent-Type: application/gzip\r\n\r\nabc";
        let head = parse_head(partial).unwrap().unwrap();
        assert_eq!(head.range_total, Some(52_428_800));
        assert_eq!(head.content_type.as_deref(), Some("application/gzip"));
        assert_eq!(head.body_with_head, 3);
        assert_eq!(range_total("bytes */100"), Some(100));
        assert_eq!(range_total("bytes 0-9/*"), None);
    }

    #[test]
    fn a_name_is_in_a_zone_only_at_a_label_boundary() {
        assert!(in_zone("privatelink.azurecr.io", "privatelink.azurecr.io"));
        assert!(in_zone(
            "myacr.privatelink.azurecr.io",
            "privatelink.azurecr.io"
        ));
        assert!(!in_zone(
            "myacrprivatelink.azurecr.io",
            "privatelink.azurecr.io"
        ));
        assert!(!in_zone("azurecr.io", "privatelink.azurecr.io"));
    }

    #[test]
    fn private_means_rfc1918_rfc6598_and_ula() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "fd00::1",
            "fc00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(&ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "172.15.0.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "8.8.8.8",
            "2001:db8::1",
            "fe80::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(&ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn heads_parse_with_status_server_and_location() {
        let h = parse_head(b"HTTP/1.0 302 Found\r\nServer: Contoso-Firewall\r\nLocation: https://login.example/\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!((h.minor_version, h.status), (0, 302));
        assert_eq!(h.server.as_deref(), Some("Contoso-Firewall"));
        assert_eq!(h.location.as_deref(), Some("https://login.example/"));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nServer: x"), Ok(None));
        assert!(matches!(
            parse_head(b"\x16\x03\x01garbage\r\n\r\n"),
            Err(HeadError::NotHttp { .. })
        ));
    }
}
