//! HTTP/1.1 over an established (TLS) stream, and the response-head reader shared with the
//! proxy CONNECT and the WebSocket fallback. Heads are parsed with httparse and bounded in size
//! and time, so a server that trickles or never stops sending headers costs at most the deadline
//! and a few kilobytes.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use super::Failure;
use crate::catalog::{FirewallAnswer, HttpSpec};
use crate::net::{parse_head_at, printable, Head, HeadError, BODY_LIMIT, MAX_HEAD};
use crate::reason::Reason;

/// Read one response head, past any interim `1xx` answer (`100 Continue`) but not `101`, which
/// is the answer to an upgrade.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Instant,
) -> Result<Head, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let want = chunk.len().min(MAX_HEAD + 1 - buf.len());
        let n = step(stream.read(&mut chunk[..want]), deadline, buf.len()).await?;
        buf.extend_from_slice(&chunk[..n]);
        while let Some((mut head, len)) = parse_head_at(&buf)? {
            if final_head(&head) {
                head.body_with_head = buf.len() - len;
                if head.status >= 400 {
                    buf.drain(..len);
                    head.body = error_body(stream, buf, &head, deadline).await;
                }
                return Ok(head);
            }
            buf.drain(..len);
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLong);
        }
    }
}

/// One read of a head under the deadline: how many bytes it gave, or how the head failed with
/// `bytes` of it read. Nothing read is the peer's close, and so is TLS closed without
/// close_notify, whatever the TLS library calls it.
async fn step(
    read: impl std::future::Future<Output = std::io::Result<usize>>,
    deadline: Instant,
    bytes: usize,
) -> Result<usize, HeadError> {
    match timeout_at(deadline, read).await {
        Err(_) => Err(HeadError::Timeout { bytes }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(HeadError::Closed { bytes })
        }
        Ok(Err(e)) => Err(HeadError::Io(e.to_string())),
        Ok(Ok(0)) => Err(HeadError::Closed { bytes }),
        Ok(Ok(n)) => Ok(n),
    }
}

/// Whether a head ends the answer: not an interim `1xx`, except `101`, the answer to an upgrade.
fn final_head(head: &Head) -> bool {
    !(100..200).contains(&head.status) || head.status == 101
}

/// Where a head ends in `bytes`: just past its blank line, `\r\n\r\n` or, as httparse also
/// reads them, bare `\n` line ends.
fn head_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| match &bytes[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// Read one response head from a plain TCP stream and nothing after it: a CONNECT tunnel's
/// first bytes must stay in the socket. What the socket holds is peeked, and only bytes up to
/// the head's end are taken; bytes without the end in them are taken whole, so the next peek
/// waits for more. The head is parsed once it is whole: a long or trickled head costs reads of
/// what arrived, not a parse a byte.
pub async fn read_head_exact(
    stream: &mut tokio::net::TcpStream,
    deadline: Instant,
) -> Result<Head, HeadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = step(stream.peek(&mut chunk), deadline, buf.len()).await?;
        // The end may straddle what was taken and what is peeked.
        let kept = buf.len().min(3);
        let mut window = buf[buf.len() - kept..].to_vec();
        window.extend_from_slice(&chunk[..n]);
        let take = head_end(&window).map_or(n, |end| end - kept);
        let mut taken = vec![0u8; take];
        step(stream.read_exact(&mut taken), deadline, buf.len()).await?;
        buf.extend_from_slice(&taken);
        match parse_head_at(&buf)? {
            Some((head, _)) if final_head(&head) => return Ok(head),
            Some((_, len)) => {
                buf.drain(..len);
            }
            None if buf.len() > MAX_HEAD => return Err(HeadError::TooLong),
            None => {}
        }
    }
}

/// How long the rest of a 403's body is awaited.
const FORBIDDEN_BODY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

async fn error_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut body: Vec<u8>,
    head: &Head,
    deadline: Instant,
) -> Vec<u8> {
    // A firewall's 470 and a service's own 403 say why in their body; a 403 that holds its
    // body back costs a moment, not the deadline, as most checks accept a 403 as it is.
    let (want, until) = match (head.status, head.content_length) {
        (470, Some(n)) => (n, deadline),
        (403, Some(n)) => (n, deadline.min(Instant::now() + FORBIDDEN_BODY_WAIT)),
        _ => (0, deadline),
    };
    let want = usize::try_from(want).unwrap_or(BODY_LIMIT).min(BODY_LIMIT);
    let mut chunk = [0u8; 512];
    while body.len() < want {
        match step(stream.read(&mut chunk), until, body.len()).await {
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    body.truncate(BODY_LIMIT);
    body
}

/// What a failed head read means for an HTTP check.
pub fn head_failure(e: HeadError, who: &str) -> Failure {
    let (reason, message) = match e {
        HeadError::Timeout { bytes: 0 } => (Reason::HttpTimeout, format!("{who}: no HTTP answer before the deadline")),
        HeadError::Timeout { bytes } => (
            Reason::HttpTimeout,
            format!("{who}: only {bytes} bytes of an HTTP answer before the deadline (a server trickling bytes?)"),
        ),
        HeadError::Closed { bytes: 0 } => (Reason::HttpBadResponse, format!("{who}: closed the connection without answering")),
        HeadError::Closed { bytes } => (
            Reason::HttpBadResponse,
            format!("{who}: closed the connection after {bytes} bytes, before a complete HTTP answer"),
        ),
        HeadError::NotHttp { what, sample } => (
            Reason::HttpBadResponse,
            format!("{who}: the answer is not HTTP ({what}); it starts with \"{sample}\""),
        ),
        HeadError::TooLong => (
            Reason::HttpBadResponse,
            format!("{who}: the HTTP headers go on past {} KiB", MAX_HEAD / 1024),
        ),
        HeadError::TooManyHeaders => (
            Reason::HttpBadResponse,
            format!("{who}: the answer has more than 64 header lines"),
        ),
        HeadError::Io(e) => (Reason::HttpBadResponse, format!("{who}: {e}")),
    };
    Failure { reason, message }
}

/// Send the entry's request and judge the answer's status.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    spec: &HttpSpec,
    deadline: Instant,
) -> Result<Head, Failure> {
    let head = exchange(stream, host, spec, deadline).await?;
    accepted(host, spec, &head)?;
    Ok(head)
}

/// Send the entry's request and read the answer's head, whatever its status.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    spec: &HttpSpec,
    deadline: Instant,
) -> Result<Head, Failure> {
    let mut req = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: amlprobe/{}\r\nAccept: */*\r\nConnection: close\r\n",
        spec.method,
        spec.path,
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in &spec.headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    match timeout_at(deadline, stream.write_all(req.as_bytes())).await {
        Err(_) => return Err(head_failure(HeadError::Timeout { bytes: 0 }, host)),
        Ok(Err(e)) => return Err(head_failure(HeadError::Io(e.to_string()), host)),
        Ok(Ok(())) => {}
    }
    read_head(stream, deadline)
        .await
        .map_err(|e| head_failure(e, host))
}

/// Whether the entry accepts the answer's status.
pub fn accepted(host: &str, spec: &HttpSpec, head: &Head) -> Result<(), Failure> {
    if spec.accepts(head.status) {
        return Ok(());
    }
    Err(Failure {
        reason: Reason::HttpStatus,
        message: format!(
            "{host}: {} {} {}{}, not an accepted answer",
            spec.method,
            spec.path,
            head.status,
            head.server
                .as_ref()
                .map(|s| format!(" from server \"{s}\""))
                .unwrap_or_default()
        ),
    })
}

/// An egress firewall's refusal, quoted: status 470 (Azure Firewall's answer for a name its
/// application rules deny), or an error answer whose body says `Action: Deny`. Older firewalls
/// put their log line in the body, so only the status and that phrase are matched, never the
/// whole body.
pub fn egress_denial(head: &Head) -> Option<String> {
    let body = printable(&head.body, 200);
    let says_deny = body.contains("Action: Deny");
    if head.status != 470 && !(head.status >= 400 && says_deny) {
        return None;
    }
    let status = format!(
        "HTTP/1.{} {} {}",
        head.minor_version,
        head.status,
        printable(head.reason.as_bytes(), 60)
    );
    Some(match says_deny {
        true => format!("{} / {}", status.trim_end(), body.trim()),
        false => status.trim_end().to_string(),
    })
}

/// The answer a service's own firewall gives an anonymous request it rejects, if this is one.
/// Any other answer means the path to the service is open.
pub fn firewall_denial(service: FirewallAnswer, host: &str, head: &Head) -> Option<Failure> {
    match service {
        FirewallAnswer::Storage => (head.status == 403
            && head.error_code.as_deref() == Some("AuthorizationFailure"))
        .then(|| Failure {
            reason: Reason::StorageFirewallDenied,
            message: format!(
                "{host}: HTTP 403 {} (x-ms-error-code: AuthorizationFailure): the storage account's own firewall rejects requests from this node's address",
                head.reason
            ),
        }),
        FirewallAnswer::Registry => registry_answer(host, head),
    }
}

/// A container registry's own answers to an anonymous `GET /v2/`: 401 with a `WWW-Authenticate`
/// challenge is the registry asking for sign-in; its firewall's refusal is a 403 whose body says
/// the client's IP is not allowed access (`DENIED` alone is also the answer to a denied pull, so
/// the message is matched, not the code). A 401 without a challenge came from something else.
fn registry_answer(host: &str, head: &Head) -> Option<Failure> {
    let body = printable(&head.body, 400);
    match head.status {
        403 if body.contains("is not allowed access") || body.contains("aka.ms/acr/firewall") => {
            let said = body
                .split("\"message\":\"")
                .nth(1)
                .and_then(|m| m.split('"').next())
                .unwrap_or(body.trim());
            Some(Failure {
                reason: Reason::RegistryFirewallDenied,
                message: format!(
                    "{host}: HTTP 403 \"{said}\": the registry's own firewall rejects requests from this node's address"
                ),
            })
        }
        401 if head.www_authenticate.is_none() => Some(Failure {
            reason: Reason::HttpStatus,
            message: format!(
                "{host}: GET /v2/ 401 without a WWW-Authenticate challenge{}: not a registry's own answer (a proxy or firewall in its place?)",
                head.server
                    .as_ref()
                    .map(|s| format!(" from server \"{s}\""))
                    .unwrap_or_default()
            ),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_head;
    use std::time::Duration;

    #[test]
    fn only_a_403_authorization_failure_is_the_storage_firewall() {
        let head = |raw: &[u8]| parse_head(raw).unwrap().unwrap();
        let denied = head(b"HTTP/1.1 403 This request is not authorized to perform this operation.\r\nx-ms-error-code: AuthorizationFailure\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\n\r\n");
        assert_eq!(
            denied.date.as_deref(),
            Some("Thu, 26 Nov 2026 10:00:00 GMT")
        );
        let f = firewall_denial(
            FirewallAnswer::Storage,
            "st1.blob.core.windows.net",
            &denied,
        )
        .unwrap();
        assert_eq!(f.reason, Reason::StorageFirewallDenied);
        assert!(f.message.contains("AuthorizationFailure"), "{}", f.message);
        for open in [
            &b"HTTP/1.1 401 Server failed to authenticate the request.\r\nx-ms-error-code: NoAuthenticationInformation\r\n\r\n"[..],
            b"HTTP/1.1 403 Forbidden\r\nx-ms-error-code: AuthenticationFailed\r\n\r\n",
            b"HTTP/1.1 403 Forbidden\r\n\r\n",
            b"HTTP/1.1 409 Public access is not permitted\r\nx-ms-error-code: PublicAccessNotPermitted\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nx-ms-error-code: AuthorizationFailure\r\n\r\n",
        ] {
            assert!(firewall_denial(FirewallAnswer::Storage, "h", &head(open)).is_none());
        }
    }

    /// A registry's own firewall is told by its message, not by `DENIED` alone; its 401 must
    /// carry the challenge to be its own.
    #[test]
    fn a_registry_answers_with_a_challenge_or_its_firewalls_message() {
        let head = |raw: &[u8]| parse_head(raw).unwrap().unwrap();
        let denied = head(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\r\n{\"errors\":[{\"code\":\"DENIED\",\"message\":\"client with IP '10.0.1.4' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.\"}]}");
        let f = firewall_denial(FirewallAnswer::Registry, "myacr.azurecr.io", &denied).unwrap();
        assert_eq!(f.reason, Reason::RegistryFirewallDenied);
        assert!(
            f.message.contains("\"client with IP '10.0.1.4' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.\""),
            "{}",
            f.message
        );
        let bare = head(b"HTTP/1.1 401 Unauthorized\r\nServer: squid\r\n\r\n");
        let f = firewall_denial(FirewallAnswer::Registry, "myacr.azurecr.io", &bare).unwrap();
        assert_eq!(f.reason, Reason::HttpStatus);
        assert!(f
            .message
            .contains("without a WWW-Authenticate challenge from server \"squid\""));
        for open in [
            &b"HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Bearer realm=\"https://myacr.azurecr.io/oauth2/token\",service=\"myacr.azurecr.io\"\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 403 Forbidden\r\n\r\n{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource is denied\"}]}",
        ] {
            assert!(firewall_denial(FirewallAnswer::Registry, "h", &head(open)).is_none());
        }
    }

    #[test]
    fn a_firewall_refusal_is_its_status_470_or_its_action_deny() {
        let answer = |raw: &[u8]| parse_head(raw).unwrap().unwrap();
        let denied = answer(b"HTTP/1.1 470 status code 470\r\nDate: Sun, 03 Sep 2023 12:27:41 GMT\r\nContent-Length: 70\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAction: Deny. Reason: No rule matched. Proceeding with default action.");
        assert_eq!(
            egress_denial(&denied).as_deref(),
            Some("HTTP/1.1 470 status code 470 / Action: Deny. Reason: No rule matched. Proceeding with default action.")
        );
        // Older firewalls put their log line in the body; the status alone is enough.
        let old = answer(b"HTTP/1.1 470 status code 470\r\nContent-Length: 144\r\n\r\nHTTP  request from 10.0.1.4:53460 to www.microsoft.com:80. Url: www.microsoft.com. Action: Deny. No rule matched. Proceeding with default action");
        assert!(egress_denial(&old)
            .unwrap()
            .contains("Action: Deny. No rule matched"));
        let bare = answer(b"HTTP/1.1 470 status code 470\r\n\r\n");
        assert_eq!(
            egress_denial(&bare).as_deref(),
            Some("HTTP/1.1 470 status code 470")
        );
        let other = answer(b"HTTP/1.1 403 Forbidden\r\n\r\nAction: Deny. Policy: p. Rule: block");
        assert!(egress_denial(&other)
            .unwrap()
            .starts_with("HTTP/1.1 403 Forbidden / Action: Deny."));
        for open in [
            &b"HTTP/1.1 403 Forbidden\r\n\r\nnot today"[..],
            b"HTTP/1.1 200 OK\r\n\r\nAction: Deny is a phrase on this page",
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://x/\r\n\r\n",
        ] {
            assert_eq!(
                egress_denial(&answer(open)),
                None,
                "{}",
                printable(open, 80)
            );
        }
    }

    #[tokio::test]
    async fn a_470_body_that_follows_its_head_is_read_within_the_deadline() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut req = [0u8; 512];
            let _ = server.read(&mut req).await;
            let _ = server
                .write_all(b"HTTP/1.1 470 status code 470\r\nContent-Length: 70\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = server
                .write_all(
                    b"Action: Deny. Reason: No rule matched. Proceeding with default action.",
                )
                .await;
            // The connection stays open, as the firewall leaves it.
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let started = Instant::now();
        let deadline = started + Duration::from_secs(2);
        let head = exchange(&mut client, "h", &HttpSpec::default(), deadline)
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "read no more than the body"
        );
        assert!(egress_denial(&head).unwrap().ends_with("default action."));
        // A body the check does not judge is not waited for.
        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut req = [0u8; 512];
            let _ = server.read(&mut req).await;
            let _ = server
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 900\r\n\r\nabc")
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let started = Instant::now();
        let head = exchange(
            &mut client,
            "h",
            &HttpSpec::default(),
            started + Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!((head.status, head.body.as_slice()), (404, &b"abc"[..]));
    }

    #[test]
    fn failures_map_to_http_reasons() {
        let table = [
            (HeadError::Timeout { bytes: 0 }, Reason::HttpTimeout),
            (HeadError::Timeout { bytes: 30 }, Reason::HttpTimeout),
            (HeadError::Closed { bytes: 0 }, Reason::HttpBadResponse),
            (HeadError::TooLong, Reason::HttpBadResponse),
            (
                HeadError::NotHttp {
                    what: "x".into(),
                    sample: "y".into(),
                },
                Reason::HttpBadResponse,
            ),
            (HeadError::Io("reset".into()), Reason::HttpBadResponse),
        ];
        for (e, want) in table {
            assert_eq!(head_failure(e.clone(), "h").reason, want, "{e:?}");
        }
    }

    /// A server's answer, then whatever the stream ends with.
    struct Answer(Vec<u8>, Option<std::io::ErrorKind>);

    impl tokio::io::AsyncRead for Answer {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0.is_empty() {
                return std::task::Poll::Ready(match self.1 {
                    Some(kind) => Err(std::io::Error::new(kind, "peer closed connection without sending TLS close_notify: https://docs.rs/rustls/")),
                    None => Ok(()),
                });
            }
            let n = self.0.len().min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0.drain(..n);
            std::task::Poll::Ready(Ok(()))
        }
    }

    async fn head_of(bytes: &[u8], end: Option<std::io::ErrorKind>) -> Result<Head, Failure> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut answer = Answer(bytes.to_vec(), end);
        read_head(&mut answer, deadline)
            .await
            .map_err(|e| head_failure(e, "h"))
    }

    #[tokio::test]
    async fn answers_are_worded_as_a_person_reads_them() {
        // Interim answers are skipped; the final one counts.
        let head = head_of(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\n",
            None,
        );
        assert_eq!(head.await.unwrap().status, 401);
        // 101 is an answer in itself.
        let head = head_of(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", None);
        assert_eq!(head.await.unwrap().status, 101);
        // A TLS close without close_notify is a close, with no library's URL in it.
        let f = head_of(b"HTTP/1.1 2", Some(std::io::ErrorKind::UnexpectedEof))
            .await
            .unwrap_err();
        assert!(
            f.message.contains("closed the connection after 10 bytes"),
            "{}",
            f.message
        );
        assert!(!f.message.contains("https://"), "{}", f.message);
        // Many headers are many headers, not "not HTTP".
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..70 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let f = head_of(&many, None).await.unwrap_err();
        assert!(
            f.message.contains("more than 64 header lines"),
            "{}",
            f.message
        );
        assert!(!f.message.contains("not HTTP"), "{}", f.message);
    }

    #[tokio::test]
    async fn an_endless_header_is_cut_off_and_a_status_is_judged() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut req = [0u8; 512];
            let _ = server.read(&mut req).await;
            let _ = server.write_all(b"HTTP/1.1 200 OK\r\nX-Endless: ").await;
            let filler = [b'a'; 1024];
            while server.write_all(&filler).await.is_ok() {}
        });
        let deadline = Instant::now() + Duration::from_secs(2);
        let f = request(&mut client, "h", &HttpSpec::default(), deadline)
            .await
            .unwrap_err();
        assert_eq!(f.reason, Reason::HttpBadResponse);
        assert!(f.message.contains("16 KiB"), "{}", f.message);

        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut req = [0u8; 512];
            let _ = server.read(&mut req).await;
            let _ = server
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nServer: gw\r\n\r\n")
                .await;
        });
        let f = request(&mut client, "h", &HttpSpec::default(), deadline)
            .await
            .unwrap_err();
        assert_eq!(f.reason, Reason::HttpStatus);
        assert!(
            f.message.contains("503") && f.message.contains("gw"),
            "{}",
            f.message
        );
    }

    /// A loopback server that writes `parts` in turn, `gap` apart, then holds the connection;
    /// and the client's end of it.
    async fn serving(
        parts: Vec<Vec<u8>>,
        gap: Duration,
    ) -> (tokio::net::TcpStream, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            for part in parts {
                if s.write_all(&part).await.is_err() {
                    return;
                }
                tokio::time::sleep(gap).await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        (tokio::net::TcpStream::connect(at).await.unwrap(), server)
    }

    #[tokio::test]
    async fn a_connect_answer_leaves_the_tunnel_bytes_in_the_socket() {
        for head in [
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\n\r\n"[..],
            b"HTTP/1.0 200 OK\n\n",
        ] {
            // The head trickles in three pieces, the end split across two of them.
            let cut = head.len() - 2;
            let parts = vec![
                head[..5].to_vec(),
                head[5..cut].to_vec(),
                [&head[cut..], b"\x16\x03tunnel"].concat(),
            ];
            let (mut stream, server) = serving(parts, Duration::from_millis(20)).await;
            let deadline = Instant::now() + Duration::from_secs(2);
            let got = read_head_exact(&mut stream, deadline).await.unwrap();
            assert_eq!(got.status, 200);
            let mut rest = [0u8; 8];
            stream.read_exact(&mut rest).await.unwrap();
            assert_eq!(&rest, b"\x16\x03tunnel");
            server.abort();
        }
    }

    /// A head that never ends costs the reads of what arrived, not a parse a byte: a megabyte
    /// of header is refused as too long at once, well before the deadline.
    #[tokio::test]
    async fn an_endless_connect_answer_is_too_long_at_once() {
        let mut head = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
        head.resize(1 << 20, b'a');
        let (mut stream, server) = serving(vec![head], Duration::ZERO).await;
        let started = Instant::now();
        let got = read_head_exact(&mut stream, started + Duration::from_secs(5)).await;
        assert_eq!(got, Err(HeadError::TooLong));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        server.abort();
    }
}
