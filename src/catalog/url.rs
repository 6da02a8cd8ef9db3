//! HTTPS URLs in the catalog and in redirects: the host must be a DNS name, and a URL never
//! carries credentials.

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
