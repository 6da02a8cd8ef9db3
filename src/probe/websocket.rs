//! The WebSocket upgrade Jupyter needs, with tokio-tungstenite over the already verified TLS
//! stream. Every byte tungstenite reads is also recorded, so an answer it refuses to parse (a
//! firewall's HTTP/1.0 block page) still yields its status and server for the report.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use super::http::head_failure;
use super::Failure;
use crate::net::{parse_head, Head, HeadError, MAX_HEAD};
use crate::reason::Reason;

/// Passes reads and writes through, keeping a copy of what was read; refuses to read past
/// a bound so a server that never ends its headers cannot grow memory.
struct Recording<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

const READ_LIMIT: usize = 4 * MAX_HEAD;

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let fresh = &buf.filled()[before..];
            if let Ok(mut seen) = self.seen.lock() {
                if seen.len() + fresh.len() > READ_LIMIT {
                    return Poll::Ready(Err(io::Error::other("the answer's head is too long")));
                }
                seen.extend_from_slice(fresh);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the upgrade showed: the answer's head (when there was one) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub head: Option<Head>,
    pub reason: Reason,
    pub message: String,
}

/// Whether a redirect's target (host and path: never its query, which any page may fill with
/// such words) is a sign-in page.
fn looks_like_sign_in(location: &str) -> bool {
    let target = location.split(['?', '#']).next().unwrap_or("");
    let l = target.to_ascii_lowercase();
    [
        "login",
        "signin",
        "sign-in",
        "oauth",
        "microsoftonline",
        "/auth",
    ]
    .iter()
    .any(|w| l.contains(w))
}

/// Judge an answer that did not upgrade. Sign-in answers mean the upgrade reached the
/// service; an HTTP/1.0 answer is a middlebox speaking, whatever its status.
pub fn judge(host: &str, head: &Head, handshake_error: Option<&str>) -> (Reason, String) {
    let server = head
        .server
        .as_ref()
        .map(|s| format!(" (server \"{s}\")"))
        .unwrap_or_default();
    let service = head.minor_version >= 1;
    match head.status {
        101 => (
            Reason::WsNotUpgraded,
            format!(
                "{host}: 101 Switching Protocols{server}, but not a valid WebSocket handshake: {}",
                handshake_error.unwrap_or("unknown")
            ),
        ),
        401 | 403 if service => (
            Reason::WsAuthRequired,
            format!("{host}: the upgrade reached the service, which asks for sign-in ({}){server}", head.status),
        ),
        300..=399 if service && head.location.as_deref().is_some_and(looks_like_sign_in) => (
            Reason::WsAuthRequired,
            format!(
                "{host}: the upgrade reached the service, which redirects to sign-in ({} to {}){server}",
                head.status,
                // As much of it as a message quotes of a header.
                head.location.as_deref().unwrap_or("").chars().take(120).collect::<String>()
            ),
        ),
        status => (
            Reason::WsNotUpgraded,
            format!(
                "{host}: answered HTTP/1.{} {status} {}{server} without upgrading to WebSocket{}",
                head.minor_version,
                head.reason,
                if service { "" } else { "; an HTTP/1.0 answer comes from a proxy or firewall, not Azure ML" }
            ),
        ),
    }
}

pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    path: &str,
    deadline: Instant,
) -> Result<Upgrade, Failure> {
    let request = format!("wss://{host}{path}")
        .into_client_request()
        .map_err(|e| Failure {
            reason: Reason::WsNotUpgraded,
            message: format!("cannot form a WebSocket request for {host}{path}: {e}"),
        })?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recording = Recording {
        inner: stream,
        seen: seen.clone(),
    };
    let outcome = timeout_at(
        deadline,
        tokio_tungstenite::client_async(request, recording),
    )
    .await;
    let recorded = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let parsed = parse_head(&recorded);
    match outcome {
        Ok(Ok((mut ws, _response))) => {
            let _ = timeout_at(deadline, ws.close(None)).await;
            let head = parsed.ok().flatten();
            Ok(Upgrade {
                head,
                reason: Reason::Ok,
                message: format!("{host}: WebSocket upgrade accepted (101 Switching Protocols)"),
            })
        }
        Ok(Err(e)) => {
            let detail = match &e {
                WsError::Http(_) => None,
                other => Some(other.to_string()),
            };
            match parsed {
                Ok(Some(head)) => {
                    let (reason, message) = judge(host, &head, detail.as_deref());
                    Ok(Upgrade {
                        head: Some(head),
                        reason,
                        message,
                    })
                }
                Ok(None) if recorded.len() > MAX_HEAD => {
                    Err(head_failure(HeadError::TooLong, host))
                }
                Ok(None) => Err(head_failure(
                    HeadError::Closed {
                        bytes: recorded.len(),
                    },
                    host,
                )),
                Err(e) => Err(head_failure(e, host)),
            }
        }
        Err(_) => Err(head_failure(
            HeadError::Timeout {
                bytes: recorded.len(),
            },
            host,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(minor: u8, status: u16, location: Option<&str>) -> Head {
        Head {
            minor_version: minor,
            status,
            reason: "R".into(),
            server: Some("srv".into()),
            location: location.map(String::from),
            ..Head::default()
        }
    }

    #[test]
    fn answers_without_an_upgrade_are_judged() {
        let table = [
            (head(1, 401, None), Reason::WsAuthRequired),
            (head(1, 403, None), Reason::WsAuthRequired),
            (
                head(1, 302, Some("https://login.microsoftonline.com/x")),
                Reason::WsAuthRequired,
            ),
            (
                head(1, 302, Some("https://elsewhere.example/")),
                Reason::WsNotUpgraded,
            ),
            (head(1, 200, None), Reason::WsNotUpgraded),
            (head(1, 400, None), Reason::WsNotUpgraded),
            (head(0, 403, None), Reason::WsNotUpgraded),
            (head(1, 101, None), Reason::WsNotUpgraded),
        ];
        for (h, want) in table {
            let (reason, message) = judge("ci.example", &h, Some("bad accept key"));
            assert_eq!(reason, want, "{h:?}: {message}");
            assert!(
                message.contains(&h.status.to_string()) && message.contains("srv"),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn an_http10_block_page_is_read_after_tungstenite_refuses_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let mut req = [0u8; 2048];
            let _ = server.read(&mut req).await;
            let _ = server
                .write_all(
                    b"HTTP/1.0 503 Service Unavailable\r\nServer: Contoso-Firewall\r\n\r\nblocked",
                )
                .await;
        });
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let up = upgrade(client, "ci.example", "/", deadline).await.unwrap();
        assert_eq!(up.reason, Reason::WsNotUpgraded);
        assert!(
            up.message.contains("503") && up.message.contains("Contoso-Firewall"),
            "{}",
            up.message
        );
    }

    #[test]
    fn only_a_sign_in_page_counts_as_sign_in() {
        assert!(looks_like_sign_in(
            "https://login.microsoftonline.com/x/oauth2/authorize"
        ));
        assert!(looks_like_sign_in("/hub/oauth_login?next=%2F"));
        assert!(!looks_like_sign_in(
            "https://blocked.example/deny?from=oauth&user=login"
        ));
        assert!(!looks_like_sign_in("/blockpage#signin"));
    }
}
