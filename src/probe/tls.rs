//! TLS with rustls: SNI = the host, trust = the system store plus `--ca-file`. The verifier
//! wraps rustls' WebPKI verifier to keep the presented chain, since a failed handshake leaves
//! no peer certificates to read and the report must name the issuer.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsConnector;

use super::cert::{issuer_orgs_of, names_of};
use super::Failure;
use crate::reason::Reason;
use crate::result::Evidence;

/// Trust anchors and the verifier built from them, shared by every check.
pub struct Trust {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
}

/// Why no certificate can be verified: a file the person named (`CaFile`), or the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("no trusted CA certificates: install the system CA bundle (ca-certificates), set SSL_CERT_FILE, or give --ca-file PEM")]
    NoAnchors,
    #[error("--ca-file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("SSL_CERT_FILE {path}: {why}")]
    CertFile { path: String, why: String },
    /// A file in one of `SSL_CERT_DIR`'s directories.
    #[error("SSL_CERT_DIR {path}: {why}")]
    CertDir { path: String, why: String },
    /// With `--ca-file` given, the files' certificates are the likely cause.
    #[error("cannot build the certificate verifier: {why}")]
    Verifier { why: String, ca_files: bool },
}

impl Trust {
    /// The system store (honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus extra PEM files.
    pub fn load(extra_pem: &[std::path::PathBuf]) -> Result<Trust, TrustError> {
        // The system store reads SSL_CERT_FILE whole: look at it first.
        if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
            let path = Path::new(&file);
            // A missing file is the store's to report (no anchors): only what would hang or
            // exhaust the node is refused here.
            use crate::input::{read, Refused, CA_LIMIT};
            if let Err(why) = read(path, CA_LIMIT).or_else(|why| match why {
                Refused::Missing => Ok(Vec::new()),
                why => Err(why),
            }) {
                return Err(TrustError::CertFile {
                    path: path.display().to_string(),
                    why: why.to_string(),
                });
            }
        }
        cert_dir_files_bounded()?;
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        for path in extra_pem {
            add_pem_file(&mut roots, path)?;
        }
        if roots.is_empty() {
            return Err(TrustError::NoAnchors);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TrustError::Verifier {
                    why: e.to_string(),
                    ca_files: !extra_pem.is_empty(),
                })?;
        Ok(Trust { provider, verifier })
    }
}

/// The system store reads every regular file in each `SSL_CERT_DIR` directory whole, with no
/// bound: look at their sizes first, as at `SSL_CERT_FILE`. Only the size is looked at, so a
/// huge file is refused without being read. The store skips what is not a regular file (and
/// so never waits on a FIFO), and reports a directory it cannot read itself.
fn cert_dir_files_bounded() -> Result<(), TrustError> {
    use crate::input::{Refused, CA_LIMIT};
    let Some(dirs) = std::env::var_os("SSL_CERT_DIR") else {
        return Ok(());
    };
    for dir in std::env::split_paths(&dirs).filter(|d| !d.as_os_str().is_empty()) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            // Followed, as the store follows the links `openssl rehash` makes.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() > CA_LIMIT => {
                    return Err(TrustError::CertDir {
                        path: path.display().to_string(),
                        why: Refused::TooLarge(CA_LIMIT).to_string(),
                    })
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<usize, TrustError> {
    let bad = |why: String| TrustError::CaFile {
        path: path.display().to_string(),
        why,
    };
    let data = crate::input::read(path, crate::input::CA_LIMIT).map_err(|e| bad(e.to_string()))?;
    let mut count = 0;
    for item in rustls_pemfile::certs(&mut data.as_slice()) {
        let der = item.map_err(|e| bad(format!("not valid PEM: {e}")))?;
        roots.add(der).map_err(|e| {
            bad(format!(
                "a certificate is not usable as a trust anchor: {e}"
            ))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(bad("no PEM certificate found in the file".into()));
    }
    Ok(count)
}

/// Keeps what the server presented and what the WebPKI verifier said about it.
#[derive(Debug)]
struct ChainCapture {
    inner: Arc<WebPkiServerVerifier>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
    verdict: Mutex<Option<TlsError>>,
}

impl ServerCertVerifier for ChainCapture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if let Ok(mut chain) = self.chain.lock() {
            *chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let (Err(e), Ok(mut v)) = (&result, self.verdict.lock()) {
            *v = Some(e.clone());
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A completed, verified handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub version: String,
    pub subject: String,
    pub issuer: String,
    /// The organisations (O=) of the leaf's issuer: what the node verified it against.
    pub issuer_orgs: Vec<String>,
    /// The issuer at the top of the presented chain: the authority the node trusted.
    pub top_issuer: String,
}

/// A verified chain that no expected organisation issued was re-signed by a middlebox:
/// returns the issuer to name. `["*"]` expects anyone.
pub fn intercepted_by(h: &Handshake, expected: &[String]) -> Option<String> {
    if expected.iter().any(|e| e == "*") {
        return None;
    }
    let genuine = h
        .issuer_orgs
        .iter()
        .any(|o| expected.iter().any(|e| e.eq_ignore_ascii_case(o.trim())));
    (!genuine).then(|| h.top_issuer.clone())
}

/// A TCP stream that counts what went each way, so that a handshake that fails can tell a peer
/// that never sent a byte from one that spoke and then failed.
pub struct Counted {
    inner: TcpStream,
    read: u64,
    written: u64,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read += (buf.filled().len() - before) as u64;
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.written += *n as u64;
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A peer that took the ClientHello and ended the connection without a single byte back:
/// what a firewall that filters by the server name (SNI) does to a name it denies. A server
/// that refuses a handshake says so in a TLS alert; one that sent anything is not this.
fn unanswered(io: &Counted, e: &io::Error) -> Option<Evidence> {
    if io.read > 0 || io.written == 0 {
        return None;
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Some(Evidence::ClosedAfterHello),
        io::ErrorKind::ConnectionReset => Some(Evidence::ResetAfterHello),
        _ => None,
    }
}

pub type Stream = tokio_rustls::client::TlsStream<Counted>;

/// The handshake with `host` over `tcp`. A failure where the peer ended the connection after
/// the ClientHello without answering is also noted in `unanswered`.
pub async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    host: &str,
    trust: &Trust,
    deadline: Instant,
    unanswered_by: &Mutex<Option<Evidence>>,
) -> Result<(Stream, Handshake), Failure> {
    let capture = Arc::new(ChainCapture {
        inner: trust.verifier.clone(),
        chain: Mutex::new(Vec::new()),
        verdict: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(trust.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure {
            reason: Reason::TlsHandshakeFailed,
            message: format!("TLS setup: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    let server_name = ServerName::try_from(host.to_string()).map_err(|e| Failure {
        reason: Reason::TlsHandshakeFailed,
        message: format!("'{host}' cannot be a TLS server name: {e}"),
    })?;
    let connector = TlsConnector::from(Arc::new(config));
    let counted = Counted {
        inner: tcp,
        read: 0,
        written: 0,
    };
    let connect = connector.connect(server_name, counted).into_fallible();
    let outcome = timeout_at(deadline, connect).await;
    let chain = capture.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let verdict = capture.verdict.lock().ok().and_then(|mut v| v.take());
    match outcome {
        Ok(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            let version = conn
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .replace('_', ".")
                .replace("TLSv1.", "TLS 1.");
            let (subject, issuer) = chain
                .first()
                .and_then(|c| names_of(c))
                .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
            let top_issuer = chain
                .last()
                .and_then(|c| names_of(c))
                .map(|(_, i)| i)
                .unwrap_or_else(|| issuer.clone());
            // Only the leaf's issuer counts: extra certificates a server sends prove nothing.
            let issuer_orgs = chain.first().map(|c| issuer_orgs_of(c)).unwrap_or_default();
            let handshake = Handshake { version, subject, issuer, issuer_orgs, top_issuer };
            Ok((stream, handshake))
        }
        Ok(Err((e, io))) => {
            let tls_error = verdict.or_else(|| rustls_error_in(&e));
            if tls_error.is_none() {
                *super::lock(unanswered_by) = unanswered(&io, &e);
            }
            Err(describe_failure(host, peer, tls_error.as_ref(), &e, &chain))
        }
        Err(_) => Err(Failure {
            reason: Reason::TlsTimeout,
            message: format!("{peer}: TCP connected, but the TLS handshake with {host} did not finish before the deadline"),
        }),
    }
}

fn rustls_error_in(e: &io::Error) -> Option<TlsError> {
    e.get_ref()?.downcast_ref::<TlsError>().cloned()
}

/// The reason a rustls error stands for.
pub fn classify_tls_error(e: &TlsError) -> Reason {
    match e {
        TlsError::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Reason::TlsNameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Reason::TlsExpired,
            _ => Reason::TlsUntrusted,
        },
        _ => Reason::TlsHandshakeFailed,
    }
}

fn describe_failure(
    host: &str,
    peer: SocketAddr,
    tls: Option<&TlsError>,
    io: &io::Error,
    chain: &[CertificateDer<'static>],
) -> Failure {
    let reason = tls
        .map(classify_tls_error)
        .unwrap_or(Reason::TlsHandshakeFailed);
    let leaf = chain.first().and_then(|c| names_of(c));
    // The top of the presented chain names the authority the node would have to trust.
    let top_issuer = chain.last().and_then(|c| names_of(c)).map(|(_, i)| i);
    let message = match reason {
        Reason::TlsUntrusted => format!(
            "{host}: certificate chain not trusted: issued by {}{}",
            top_issuer.as_deref().unwrap_or("an unknown issuer"),
            leaf.as_ref()
                .map(|(s, i)| format!(" (leaf {s}, issuer {i})"))
                .unwrap_or_default()
        ),
        Reason::TlsNameMismatch => format!(
            "{host}: the certificate is not valid for this name ({})",
            leaf.as_ref()
                .map(|(s, _)| format!("it is for {s}"))
                .unwrap_or_else(|| "no subject".into())
        ),
        Reason::TlsExpired => format!(
            "{host}: the certificate is outside its validity ({})",
            tls.map(|e| e.to_string()).unwrap_or_default()
        ),
        _ => match tls {
            Some(e) => format!("{peer}: TLS handshake with {host} failed: {e}"),
            None => format!(
                "{peer}: TLS handshake with {host} failed: {}",
                describe_io(io)
            ),
        },
    };
    Failure { reason, message }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "the connection was reset during the handshake".into(),
        io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake".into()
        }
        _ => e.to_string(),
    }
}

/// A certificate authority for loopback test servers, and the trust that verifies its leaves.
#[cfg(test)]
pub(crate) fn test_authority() -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, Trust) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let pem = std::env::temp_dir().join(format!(
        "amlprobe-ca-{}-{:?}.pem",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&pem, ca.pem()).unwrap();
    let trust = Trust::load(std::slice::from_ref(&pem)).unwrap();
    let _ = std::fs::remove_file(&pem);
    (ca, trust)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a loopback peer ends a connection once it has read the ClientHello.
    #[derive(Clone, Copy)]
    enum Ends {
        Close,
        Reset,
        /// Sends bytes that are not TLS first, then closes.
        SpeaksFirst,
    }

    /// A handshake with a peer that reads the ClientHello and ends the connection as `how`
    /// says: the failure and what was noted of an unanswered hello.
    async fn hello_met_by(how: Ends) -> (Failure, Option<Evidence>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (_, trust) = test_authority();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut hello = [0u8; 4096];
            let _ = s.read(&mut hello).await;
            match how {
                Ends::Close => {
                    let _ = s.shutdown().await;
                }
                Ends::Reset => {
                    // Closed with a zero linger: a reset.
                    let _ = socket2::SockRef::from(&s).set_linger(Some(std::time::Duration::ZERO));
                    return;
                }
                Ends::SpeaksFirst => {
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                    let _ = s.shutdown().await;
                }
            }
            // Held until the client has seen the end.
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut hello)).await;
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let noted = Mutex::new(None);
        let failed = handshake(tcp, addr, "localhost", &trust, deadline, &noted)
            .await
            .err()
            .expect("the handshake fails");
        let noted = *noted.lock().unwrap();
        (failed, noted)
    }

    #[tokio::test]
    async fn a_hello_met_by_silence_and_an_end_is_noted_as_such() {
        let (f, noted) = hello_met_by(Ends::Close).await;
        assert_eq!(noted, Some(Evidence::ClosedAfterHello), "{}", f.message);
        assert_eq!(f.reason, Reason::TlsHandshakeFailed);
        let (f, noted) = hello_met_by(Ends::Reset).await;
        assert_eq!(noted, Some(Evidence::ResetAfterHello), "{}", f.message);
        // A peer that sent anything is a server that failed, not a refusal by name.
        let (f, noted) = hello_met_by(Ends::SpeaksFirst).await;
        assert_eq!(noted, None, "{}", f.message);
    }

    #[test]
    fn tls_errors_map_to_their_own_reasons() {
        use CertificateError as C;
        let table = [
            (
                TlsError::InvalidCertificate(C::UnknownIssuer),
                Reason::TlsUntrusted,
            ),
            (
                TlsError::InvalidCertificate(C::BadSignature),
                Reason::TlsUntrusted,
            ),
            (
                TlsError::InvalidCertificate(C::NotValidForName),
                Reason::TlsNameMismatch,
            ),
            (TlsError::InvalidCertificate(C::Expired), Reason::TlsExpired),
            (
                TlsError::InvalidCertificate(C::NotValidYet),
                Reason::TlsExpired,
            ),
            (
                TlsError::AlertReceived(rustls::AlertDescription::HandshakeFailure),
                Reason::TlsHandshakeFailed,
            ),
            (TlsError::HandshakeNotComplete, Reason::TlsHandshakeFailed),
        ];
        for (e, want) in table {
            assert_eq!(classify_tls_error(&e), want, "{e}");
        }
    }

    #[test]
    fn a_chain_from_an_unexpected_issuer_is_interception() {
        let h = |orgs: &[&str]| Handshake {
            version: "TLS 1.3".into(),
            subject: "CN=graph.windows.net".into(),
            issuer: "CN=Issuing CA".into(),
            issuer_orgs: orgs.iter().map(|s| s.to_string()).collect(),
            top_issuer: "CN=Contoso TLS Inspection CA, O=Contoso".into(),
        };
        let expected = vec![
            "Microsoft Corporation".to_string(),
            "DigiCert Inc".to_string(),
        ];
        assert_eq!(
            intercepted_by(&h(&["Microsoft Corporation"]), &expected),
            None
        );
        assert_eq!(intercepted_by(&h(&["digicert inc"]), &expected), None);
        assert_eq!(
            intercepted_by(&h(&["Contoso"]), &expected).as_deref(),
            Some("CN=Contoso TLS Inspection CA, O=Contoso")
        );
        assert!(intercepted_by(&h(&[]), &expected).is_some());
        assert_eq!(intercepted_by(&h(&["Contoso"]), &["*".to_string()]), None);
    }

    #[test]
    fn a_reset_without_a_tls_error_is_a_handshake_failure() {
        let io = io::Error::from(io::ErrorKind::ConnectionReset);
        let f = describe_failure(
            "graph.windows.net",
            "10.0.0.1:443".parse().unwrap(),
            None,
            &io,
            &[],
        );
        assert_eq!(f.reason, Reason::TlsHandshakeFailed);
        assert!(f.message.contains("reset"), "{}", f.message);
    }

    #[test]
    fn an_untrusted_chain_names_its_issuer() {
        let mut params = rcgen::CertificateParams::new(vec!["graph.windows.net".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "graph.windows.net");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let chain = vec![cert.der().clone()];
        let io = io::Error::other("x");
        let f = describe_failure(
            "graph.windows.net",
            "10.0.0.1:443".parse().unwrap(),
            Some(&TlsError::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            &io,
            &chain,
        );
        assert_eq!(f.reason, Reason::TlsUntrusted);
        assert!(
            f.message.contains("issued by CN=graph.windows.net"),
            "{}",
            f.message
        );
    }
}
