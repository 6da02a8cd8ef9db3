//! HTTP CONNECT proxies: `--proxy URL`, else `HTTPS_PROXY`/`https_proxy` with `NO_PROXY`.
//! The tunnel is opened here and its answer parsed with httparse, then TLS (and the HTTP or
//! WebSocket check) runs through it. Credentials in the URL are sent, never shown.

use std::net::{IpAddr, SocketAddr};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::http::{head_failure, read_head_exact};
use super::{dns, tcp, Failure};
use crate::net::HeadError;
use crate::reason::Reason;

#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    credentials: Option<String>,
    no_proxy: Vec<String>,
    /// Where the setting came from: `flag`, `env:HTTPS_PROXY`, ….
    pub source: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// A proxy setting that cannot be used: the person's flag or variables must change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProxyError(String);

impl Proxy {
    /// `http://[user:password@]host[:port][/]`; the port defaults to 80 (3128 is common).
    pub fn parse(url: &str, source: &str) -> Result<Proxy, ProxyError> {
        let what = |w: &str| ProxyError(format!("proxy '{}' ({source}): {w}", redact(url)));
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.contains("://") {
            return Err(what(
                "only http:// proxies are supported (CONNECT over plain HTTP)",
            ));
        } else {
            url
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(what("a proxy URL has no path"));
        }
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(percent_decode(c)), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| what("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(what("junk after the address")),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(what(
                        "an IPv6 proxy address needs brackets: http://[fd00::8]:3128",
                    ))
                }
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| what("bad port"))?,
            None => 80,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
            return Err(what("no host"));
        }
        Ok(Proxy {
            host,
            port,
            credentials,
            no_proxy: Vec::new(),
            source: source.into(),
        })
    }

    /// The proxy from the flag, else from the environment as `var` reads it (empty values
    /// count as unset).
    pub fn configure(
        flag: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, ProxyError> {
        let env = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let (url, source) = match flag {
            Some(u) => (u.to_string(), "flag".to_string()),
            None => match ["HTTPS_PROXY", "https_proxy"]
                .iter()
                .find_map(|k| env(k).map(|v| (v, format!("env:{k}"))))
            {
                Some(found) => found,
                None => return Ok(None),
            },
        };
        let mut proxy = Proxy::parse(url.trim(), &source)?;
        if let Some(list) = env("NO_PROXY").or_else(|| env("no_proxy")) {
            proxy.no_proxy = list
                .split(',')
                .map(|s| {
                    let s = s.trim().trim_start_matches("*.").trim_start_matches('.');
                    // `host:port` entries name the host; the port does not narrow it here.
                    let s = match s.rsplit_once(':') {
                        Some((h, p))
                            if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            h
                        }
                        _ => s,
                    };
                    s.to_ascii_lowercase()
                })
                .filter(|s| !s.is_empty())
                .collect();
        }
        Ok(Some(proxy))
    }

    /// Whether `host` goes through the proxy (not listed in `NO_PROXY`).
    pub fn applies_to(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        !self
            .no_proxy
            .iter()
            .any(|n| n == "*" || host == *n || host.ends_with(&format!(".{n}")))
    }

    /// `http://host:port`, with any credentials shown only as `***`.
    pub fn display(&self) -> String {
        let creds = if self.credentials.is_some() {
            "***@"
        } else {
            ""
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("http://{creds}{host}:{}", self.port)
    }

    /// Open a CONNECT tunnel to `host:port`.
    pub async fn connect(
        &self,
        resolvers: &dns::Resolvers,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<(TcpStream, SocketAddr), Failure> {
        let me = self.display();
        let refused = |m: String| Failure {
            reason: Reason::ProxyRefused,
            message: format!("proxy {me}: {m}"),
        };
        let addrs: Vec<IpAddr> = match self.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                resolvers
                    .resolve(&self.host, deadline)
                    .await
                    .map_err(|f| refused(f.message))?
                    .addresses
            }
        };
        let (mut stream, peer) = tcp::connect(&addrs, self.port, deadline)
            .await
            .map_err(|f| refused(f.message))?;
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut req = format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: amlprobe/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(c) = &self.credentials {
            let token = data_encoding::BASE64.encode(c.as_bytes());
            req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        req.push_str("\r\n");
        match timeout_at(deadline, stream.write_all(req.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(refused(format!("sending CONNECT: {e}"))),
            Err(_) => {
                return Err(refused(
                    "no room to send CONNECT before the deadline".into(),
                ))
            }
        }
        let answer = read_head_exact(&mut stream, deadline).await;
        let scrub = |said: &str| self.scrub(said);
        match answer {
            Ok(head) if (200..300).contains(&head.status) => Ok((stream, peer)),
            Ok(head) => Err(Failure {
                reason: Reason::ProxyDenied,
                message: format!(
                    "proxy {me} refused CONNECT {authority}: {} {}{}",
                    head.status,
                    scrub(&head.reason),
                    if head.status == 407 {
                        " (the proxy wants credentials: http://user:password@host:port)"
                    } else {
                        ""
                    }
                ),
            }),
            Err(HeadError::Timeout { .. }) => Err(refused(format!(
                "no answer to CONNECT {authority} before the deadline"
            ))),
            Err(e) => {
                let who = format!("proxy {me}: CONNECT {authority}");
                let said = head_failure(e, &who).message;
                Err(Failure {
                    reason: Reason::ProxyDenied,
                    message: scrub(&said),
                })
            }
        }
    }

    /// What a proxy said back, without the credentials it was sent: one that copies the request
    /// into its answer must not put them into the report. The header's base64 form, the pair
    /// and the password alone are all hidden.
    pub(crate) fn scrub(&self, said: &str) -> String {
        let Some(pair) = &self.credentials else {
            return said.to_string();
        };
        let token = data_encoding::BASE64.encode(pair.as_bytes());
        let password = pair.split_once(':').map(|(_, p)| p).unwrap_or("");
        let mut out = said.replace(&token, "***").replace(pair.as_str(), "***");
        if !password.is_empty() {
            out = out.replace(password, "***");
        }
        out
    }
}

/// A URL with any `user:password@` replaced by `***@`, for messages.
pub fn redact(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return url.to_string();
    };
    let start = url
        .find("://")
        .filter(|&s| {
            s < at
                && !url[..s].is_empty()
                && url[..s]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        })
        .map(|s| s + 3)
        .unwrap_or(0);
    format!("{}***{}", &url[..start], &url[at..])
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_and_never_show_credentials() {
        let p = Proxy::parse("http://alice:s3cr%40t@proxy.contoso.example:3128/", "flag").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.contoso.example", 3128));
        assert_eq!(p.credentials.as_deref(), Some("alice:s3cr@t"));
        assert_eq!(p.display(), "http://***@proxy.contoso.example:3128");
        assert!(!format!("{p:?}").contains("s3cr"));
        assert_eq!(
            Proxy::parse("10.0.0.8", "env:HTTPS_PROXY").unwrap().port,
            80
        );
        assert_eq!(
            Proxy::parse("http://[fd00::8]:3128", "flag").unwrap().host,
            "fd00::8"
        );
        for bad in [
            "https://p:3128",
            "socks5://p:1080",
            "http://p:0",
            "http://p:http",
            "http://p/x",
            "http://",
            "http://[fd00::8",
        ] {
            let e = Proxy::parse(bad, "flag").unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
        let e = Proxy::parse("https://bob:hunter2@p:3128", "flag")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(redact("http://u:p@h:1"), "http://***@h:1");
        assert_eq!(redact("u:p://x@h:1"), "***@h:1");
        assert_eq!(redact("http://u:a@b@h:1"), "http://***@h:1");
        let p = Proxy::parse("http://u:%aé%zz%41@p:3128", "flag").unwrap();
        assert_eq!(p.credentials.as_deref(), Some("u:%aé%zzA"));
        assert!(Proxy::parse("http://fd00::8", "flag")
            .unwrap_err()
            .to_string()
            .contains("brackets"));
        assert_eq!(redact("http://h:1"), "http://h:1");
    }

    #[test]
    fn no_proxy_matches_hosts_and_domains() {
        let mut p = Proxy::parse("http://p:3128", "flag").unwrap();
        p.no_proxy = vec!["core.windows.net".into(), "graph.windows.net".into()];
        assert!(!p.applies_to("amlstore1.blob.core.windows.net"));
        assert!(!p.applies_to("graph.windows.net"));
        assert!(p.applies_to("management.azure.com"));
        assert!(p.applies_to("xcore.windows.net"));
        let vars = |k: &str| {
            (k == "NO_PROXY").then(|| "graph.windows.net:443, .core.windows.net".to_string())
        };
        let q = Proxy::configure(Some("http://p:3128"), vars)
            .unwrap()
            .unwrap();
        assert!(!q.applies_to("graph.windows.net") && !q.applies_to("a.blob.core.windows.net"));
        p.no_proxy = vec!["*".into()];
        assert!(!p.applies_to("anything.example"));
    }

    /// A proxy that copies the request into its answer: neither the header's base64 nor the
    /// password reaches the message. Only loopback is used.
    #[tokio::test]
    async fn a_reflecting_proxy_cannot_leak_the_credentials() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for garbage in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let reflect = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let asked = String::from_utf8_lossy(&buf[..n]).replace("\r\n", " ");
                let answer = match garbage {
                    false => format!("HTTP/1.1 407 {asked}\r\n\r\n"),
                    true => format!("\u{1}{asked}\r\n\r\n"),
                };
                let _ = s.write_all(answer.as_bytes()).await;
            });
            let p = Proxy::parse(&format!("http://bob:hunter22@127.0.0.1:{port}"), "flag").unwrap();
            let resolvers = dns::Resolvers::from_servers(
                &["127.0.0.1:53".parse().unwrap()],
                std::time::Duration::from_secs(1),
            )
            .unwrap();
            let deadline = Instant::now() + std::time::Duration::from_secs(5);
            let f = p
                .connect(&resolvers, "graph.windows.net", 443, deadline)
                .await
                .unwrap_err();
            reflect.await.unwrap();
            assert_eq!(f.reason, Reason::ProxyDenied, "{}", f.message);
            assert!(f.message.contains("***"), "{}", f.message);
            for secret in ["hunter22", "Ym9iOmh1bnRlcjIy"] {
                assert!(!f.message.contains(secret), "{}", f.message);
            }
        }
    }
}
