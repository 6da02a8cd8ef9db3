//! The scenario's certificates: a test root standing in for Azure's issuers, a trusted
//! inspection CA, an untrusted one, and a leaf for each way a server's certificate can be wrong.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A server certificate, by what is wrong with it.
#[derive(Debug, Clone, Copy)]
pub enum Leaf {
    Good,
    Expired,
    /// For another name than the server's.
    WrongName,
    /// From a CA outside the trust bundle.
    Untrusted,
    /// From the TLS-inspection CA, which the bundle trusts.
    Intercepted,
    SelfSigned,
}

/// A certificate chain file and its key file.
pub type Pair = (PathBuf, PathBuf);

pub struct Certs {
    /// The trust bundle: the test root and the (trusted) inspection CA.
    pub ca: PathBuf,
    good: Pair,
    expired: Pair,
    wrong_name: Pair,
    intercepted: Pair,
    untrusted: Pair,
    self_signed: Pair,
}

impl Certs {
    /// Everything under `dir`; the leaves are for `hosts`.
    pub fn make(dir: &Path, hosts: &[String]) -> Certs {
        // The test root stands in for Azure's issuers, so it carries Microsoft's organisation name.
        let root = authority("amlprobe test root", "Microsoft Corporation");
        let inspector = authority("Contoso TLS Inspection CA", "Contoso");
        let stranger = authority("Fabrikam Untrusted CA", "Fabrikam");
        let elsewhere = ["elsewhere.example.net".to_string()];
        Certs {
            ca: write(dir, "ca.pem", root.pem() + &inspector.pem()),
            good: leaf(dir, "good", hosts, &root, false),
            expired: leaf(dir, "expired", hosts, &root, true),
            wrong_name: leaf(dir, "wrong-name", &elsewhere, &root, false),
            intercepted: leaf(dir, "intercepted", hosts, &inspector, false),
            untrusted: leaf(dir, "untrusted", hosts, &stranger, false),
            self_signed: self_signed(dir, hosts),
        }
    }

    pub fn leaf(&self, which: Leaf) -> &Pair {
        match which {
            Leaf::Good => &self.good,
            Leaf::Expired => &self.expired,
            Leaf::WrongName => &self.wrong_name,
            Leaf::Untrusted => &self.untrusted,
            Leaf::Intercepted => &self.intercepted,
            Leaf::SelfSigned => &self.self_signed,
        }
    }
}

fn authority(cn: &str, org: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, org);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, text: String) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A leaf for `sans`, its chain (leaf, then issuer) and key written as NAME.pem and NAME.key.
fn leaf(
    dir: &Path,
    name: &str,
    sans: &[String],
    issuer: &CertifiedIssuer<'_, KeyPair>,
    expired: bool,
) -> Pair {
    let mut p = CertificateParams::new(sans.to_vec()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, sans[0].clone());
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (
        write(dir, &format!("{name}.pem"), cert.pem() + &issuer.pem()),
        write(dir, &format!("{name}.key"), key.serialize_pem()),
    )
}

fn self_signed(dir: &Path, hosts: &[String]) -> Pair {
    let mut p = CertificateParams::new(hosts.to_vec()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "self-signed.example.net");
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    (
        write(dir, "self-signed.pem", cert.pem()),
        write(dir, "self-signed.key", key.serialize_pem()),
    )
}
