//! The subject and issuer of a DER certificate, as the TLS report prints them: a reader of just
//! the fields that hold the names. Chains come from any server, verified or not, so every read
//! is bounds-checked and a malformed certificate gives `None`, never a panic.
//!
//! Names are written `CN=a, O=b` (RDNs joined by `, `, the values of a multi-valued RDN by
//! ` + `): a common attribute by its abbreviation, another known one by its short name, any
//! other as `OID(dotted)`; a value that is not a string is shown in upper-case hexadecimal.

use std::fmt::Write;

/// One element: the tag's number (its class kept apart), whether it is constructed, and
/// its contents.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    class: u8,
    constructed: bool,
    tag: u32,
    contents: &'a [u8],
}

const CONTEXT: u8 = 2;
const INTEGER: u32 = 2;
const BIT_STRING: u32 = 3;
const SEQUENCE: u32 = 16;
const SET: u32 = 17;

/// Reads the element at the start of `input`; returns it and what follows it. DER only:
/// an indefinite length is refused.
fn element(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&first, mut rest) = input.split_first()?;
    let mut tag = u32::from(first & 0x1f);
    if tag == 0x1f {
        // A high tag number: base 128, at most five bytes, as wide as a u32 holds.
        tag = 0;
        for count in 1.. {
            let (&b, after) = rest.split_first()?;
            if count > 5 {
                return None;
            }
            rest = after;
            tag = (tag << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&len, mut rest) = rest.split_first()?;
    let len = if len < 0x80 {
        usize::from(len)
    } else {
        let n = usize::from(len & 0x7f);
        if n == 0 || n > 8 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(n)?;
        rest = after;
        let len = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        usize::try_from(len).ok()?
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    let e = Element {
        class: first >> 6,
        constructed: first & 0x20 != 0,
        tag,
        contents,
    };
    Some((e, rest))
}

/// The element at the start of `input` if its tag number is `tag`. The class is not looked at,
/// as x509-parser, which printed these names before, did not: the same certificates read the
/// same.
fn expect(input: &[u8], tag: u32) -> Option<(&[u8], &[u8])> {
    let (e, rest) = element(input)?;
    (e.tag == tag).then_some((e.contents, rest))
}

/// An attribute of a name: its type's encoded OID and its value.
#[derive(Debug)]
struct Attribute<'a> {
    oid: &'a [u8],
    value: Element<'a>,
}

/// The RDNs of a name, each a non-empty list of attributes.
type Name<'a> = Vec<Vec<Attribute<'a>>>;

/// A Name's contents: RDNs up to the first that does not read (what follows it is dropped);
/// in an RDN, attributes up to the first that does not read, and at least one.
fn name(contents: &[u8]) -> Name<'_> {
    let mut rdns = Vec::new();
    let mut rest = contents;
    while let Some((set, after)) = expect(rest, SET) {
        let rdn = rdn(set);
        if rdn.is_empty() {
            break;
        }
        rdns.push(rdn);
        rest = after;
    }
    rdns
}

fn rdn(mut rest: &[u8]) -> Vec<Attribute<'_>> {
    let mut attributes = Vec::new();
    while let Some((sequence, after)) = expect(rest, SEQUENCE) {
        let Some(attribute) = attribute(sequence) else {
            break;
        };
        attributes.push(attribute);
        rest = after;
    }
    attributes
}

/// `SEQUENCE { type OBJECT IDENTIFIER, value ANY }`; the type is taken from any primitive
/// element, as x509-parser took it.
fn attribute(contents: &[u8]) -> Option<Attribute<'_>> {
    let (oid, rest) = element(contents)?;
    if oid.constructed {
        return None;
    }
    let (value, _) = element(rest)?;
    Some(Attribute {
        oid: oid.contents,
        value,
    })
}

/// The issuer and subject names of a certificate whose outline is sound:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }` and
/// `TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
/// validity, subject, subjectPublicKeyInfo, ... }`. Fields other than the names are only
/// required to be there.
fn names(der: &[u8]) -> Option<(Name<'_>, Name<'_>)> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, rest) = expect(certificate, SEQUENCE)?;
    let (_, rest) = expect(rest, SEQUENCE)?;
    expect(rest, BIT_STRING)?;
    let mut fields = tbs;
    if let Some((e, after)) = element(fields) {
        if e.class == CONTEXT && e.tag == 0 {
            expect(e.contents, INTEGER)?;
            fields = after;
        }
    }
    let (_, fields) = expect(fields, INTEGER)?;
    let (_, fields) = expect(fields, SEQUENCE)?;
    let (issuer, fields) = expect(fields, SEQUENCE)?;
    let (_, fields) = expect(fields, SEQUENCE)?;
    let (subject, fields) = expect(fields, SEQUENCE)?;
    expect(fields, SEQUENCE)?;
    Some((name(issuer), name(subject)))
}

/// Subject and issuer of a DER certificate, as one-line distinguished names.
pub fn names_of(der: &[u8]) -> Option<(String, String)> {
    let (issuer, subject) = names(der)?;
    Some((
        render(&subject, attribute_label),
        render(&issuer, attribute_label),
    ))
}

/// The organisations (O=) of the certificate's issuer that are plain strings.
pub fn issuer_orgs_of(der: &[u8]) -> Vec<String> {
    let Some((issuer, _)) = names(der) else {
        return Vec::new();
    };
    let organization = encode_oid("2.5.4.10");
    issuer
        .iter()
        .flatten()
        .filter(|a| a.oid == organization.as_slice())
        // UTF8String, NumericString, PrintableString, IA5String: what an organisation is
        // compared as; other types are not what `expected_issuers` names.
        .filter(|a| matches!(a.value.tag, 12 | 18 | 19 | 22))
        .filter_map(|a| std::str::from_utf8(a.value.contents).ok().map(String::from))
        .collect()
}

/// What stands in for a name with a value that is not valid text in its own string type.
const INVALID_NAME: &str = "<X509Error: Invalid X.509 name>";

/// `label` names an attribute type from its encoded OID.
fn render(name: &Name<'_>, label: fn(&[u8]) -> String) -> String {
    let mut rdns = Vec::with_capacity(name.len());
    for rdn in name {
        let mut parts = Vec::with_capacity(rdn.len());
        for a in rdn {
            let Some(value) = value_text(&a.value) else {
                return INVALID_NAME.to_string();
            };
            parts.push(format!("{}={value}", label(a.oid)));
        }
        rdns.push(parts.join(" + "));
    }
    rdns.join(", ")
}

/// A value as text: the string types as they are (`None` when they are not what their type
/// says), anything else as upper-case hexadecimal of its contents.
fn value_text(value: &Element<'_>) -> Option<String> {
    match value.tag {
        // ObjectDescriptor, UTF8String, NumericString, PrintableString, T61String,
        // VideotexString, IA5String, GraphicString, VisibleString, GeneralString: read as UTF-8.
        7 | 12 | 18 | 19 | 20 | 21 | 22 | 25 | 26 | 27 => {
            std::str::from_utf8(value.contents).ok().map(String::from)
        }
        // BMPString: UTF-16, big-endian; a lone last byte counts as a unit of its own.
        30 => {
            let units: Vec<u16> = value
                .contents
                .chunks(2)
                .map(|c| c.iter().fold(0u16, |acc, &b| (acc << 8) | u16::from(b)))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => {
            let mut hex = String::with_capacity(value.contents.len() * 2);
            for b in value.contents {
                let _ = write!(hex, "{b:02X}");
            }
            Some(hex)
        }
    }
}

/// Attribute types by their usual label: abbreviations first, then short names.
const LABELS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.2.840.113549.1.9.1", "Email"),
    ("2.5.4.0", "objectClass"),
    ("2.5.4.1", "aliasedEntryName"),
    ("2.5.4.2", "knowledgeInformation"),
    ("2.5.4.4", "surname"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.9", "streetAddress"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.14", "searchGuide"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "givenName"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "uniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("0.9.2342.19200300.100.1.1", "uid"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.3.6.1.4.1.311.60.2.1.1", "msJurisdictionLocality"),
    ("1.3.6.1.4.1.311.60.2.1.2", "msJurisdictionStateOrProvince"),
    ("1.3.6.1.4.1.311.60.2.1.3", "msJurisdictionCountry"),
];

fn attribute_label(oid: &[u8]) -> String {
    LABELS
        .iter()
        .find(|(dotted, _)| encode_oid(dotted) == oid)
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| format!("OID({})", dotted_oid(oid)))
}

/// The DER contents of a dotted OID from the table above (first two arcs in one byte).
fn encode_oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut out = Vec::new();
    if let [first, second, rest @ ..] = arcs.as_slice() {
        out.push((first * 40 + second) as u8);
        for &arc in rest {
            let mut groups = vec![(arc & 0x7f) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                groups.push((v & 0x7f) as u8 | 0x80);
                v >>= 7;
            }
            out.extend(groups.iter().rev());
        }
    }
    out
}

/// An OID's contents in dotted form. The first byte gives the first two arcs (its value
/// divided by 40, and the remainder); an arc wider than 64 bits makes the whole OID print as
/// its bytes in hexadecimal, space-separated; a last arc without its end bit is taken as is.
fn dotted_oid(oid: &[u8]) -> String {
    let Some((&first, rest)) = oid.split_first() else {
        return String::new();
    };
    // Only arcs that end count towards the width, as they are the ones a reader would print.
    let mut widest = 0;
    let mut current = 0;
    for b in rest {
        current += 7;
        if b & 0x80 == 0 {
            widest = widest.max(current);
            current = 0;
        }
    }
    if widest > 64 {
        let bytes: Vec<String> = oid.iter().map(|b| format!("{b:02x}")).collect();
        return bytes.join(" ");
    }
    let mut arcs = vec![u64::from(first / 40)];
    if !(first == 0 && rest.is_empty()) {
        arcs.push(u64::from(first % 40));
    }
    let mut value = 0u64;
    let mut open = false;
    for b in rest {
        value = (value << 7) | u64::from(b & 0x7f);
        open = true;
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
            open = false;
        }
    }
    if open {
        arcs.push(value);
    }
    let arcs: Vec<String> = arcs.iter().map(u64::to_string).collect();
    arcs.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64), so a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(contents);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    fn oid(dotted: &str) -> Vec<u8> {
        tlv(0x06, &encode_oid(dotted))
    }

    /// One attribute of a name, from its OID contents and its value element.
    fn attr(oid_contents: &[u8], value: Vec<u8>) -> Vec<u8> {
        seq(&[tlv(0x06, oid_contents), value])
    }

    fn rdn(attrs: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x31, &attrs.concat())
    }

    /// A certificate with these names and well-formed other fields (the signature is not one).
    fn certificate(issuer: &[Vec<u8>], subject: &[Vec<u8>]) -> Vec<u8> {
        let algorithm = seq(&[oid("1.2.840.113549.1.1.11"), tlv(0x05, &[])]);
        let validity = seq(&[tlv(0x17, b"200101000000Z"), tlv(0x17, b"300101000000Z")]);
        let key = seq(&[
            seq(&[oid("1.2.840.113549.1.1.1"), tlv(0x05, &[])]),
            tlv(0x03, &[0, 0x30, 0x03, 0x02, 0x01, 0x05]),
        ]);
        let tbs = seq(&[
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[0x01, 0x23]),
            algorithm.clone(),
            seq(issuer),
            validity,
            seq(subject),
            key,
        ]);
        seq(&[tbs, algorithm, tlv(0x03, &[0, 1, 2, 3])])
    }

    fn utf8(s: &str) -> Vec<u8> {
        tlv(0x0c, s.as_bytes())
    }

    #[test]
    fn names_read_as_one_line_distinguished_names() {
        let issuer = [
            rdn(&[attr(&encode_oid("2.5.4.6"), tlv(0x13, b"US"))]),
            rdn(&[attr(&encode_oid("2.5.4.10"), utf8("Microsoft Corporation"))]),
            rdn(&[attr(
                &encode_oid("2.5.4.3"),
                utf8("Microsoft Azure RSA TLS Issuing CA 04"),
            )]),
        ];
        let subject = [
            rdn(&[
                attr(&encode_oid("2.5.4.3"), utf8("graph.windows.net")),
                attr(&encode_oid("2.5.4.11"), tlv(0x1e, &[0, b'I', 0, b'T'])),
            ]),
            rdn(&[attr(&encode_oid("2.5.4.5"), tlv(0x13, b"0123"))]),
            rdn(&[attr(&encode_oid("1.2.3.4"), tlv(0x04, &[0xde, 0xad]))]),
        ];
        let der = certificate(&issuer, &subject);
        let (s, i) = names_of(&der).unwrap();
        assert_eq!(
            s,
            "CN=graph.windows.net + OU=IT, serialNumber=0123, OID(1.2.3.4)=DEAD"
        );
        assert_eq!(
            i,
            "C=US, O=Microsoft Corporation, CN=Microsoft Azure RSA TLS Issuing CA 04"
        );
        assert_eq!(issuer_orgs_of(&der), ["Microsoft Corporation"]);

        let bad = [rdn(&[attr(&encode_oid("2.5.4.3"), tlv(0x0c, &[0xff]))])];
        let (s, _) = names_of(&certificate(&issuer, &bad)).unwrap();
        assert_eq!(s, INVALID_NAME);
        assert_eq!(
            names_of(&certificate(&[], &[])).unwrap(),
            (String::new(), String::new())
        );
    }

    #[test]
    fn oids_print_as_readers_print_them() {
        assert_eq!(
            dotted_oid(&encode_oid("1.3.6.1.4.1.311.60.2.1.3")),
            "1.3.6.1.4.1.311.60.2.1.3"
        );
        assert_eq!(dotted_oid(&[]), "");
        assert_eq!(dotted_oid(&[0]), "0");
        assert_eq!(dotted_oid(&[0x2a, 0x86]), "1.2.6");
        assert_eq!(
            dotted_oid(&[0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            "2a ff ff ff ff ff ff ff ff ff 7f"
        );
    }

    /// Hostile bytes: random input, every prefix of a real certificate and random damage to it
    /// read as `None` or as names, and never panic.
    #[test]
    fn hostile_certificates_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5_000 {
            let n = rng.below(64);
            let input = rng.bytes(n);
            let _ = names_of(&input);
            let _ = issuer_orgs_of(&input);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["graph.windows.net".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "graph.windows.net");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Microsoft Corporation");
        let real = params.self_signed(&key).unwrap().der().to_vec();
        assert!(names_of(&real).is_some());
        for len in 0..real.len() {
            assert_eq!(names_of(&real[..len]), None, "prefix of {len} bytes");
            assert!(issuer_orgs_of(&real[..len]).is_empty());
        }
        for _ in 0..5_000 {
            let mut damaged = real.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(damaged.len());
                match rng.below(3) {
                    0 => damaged[at] = rng.next() as u8,
                    1 => {
                        damaged.remove(at);
                    }
                    _ => damaged.insert(at, rng.next() as u8),
                }
            }
            let _ = names_of(&damaged);
            let _ = issuer_orgs_of(&damaged);
        }
    }

    /// A random name: known and unknown attribute types (not the algorithm and extension OIDs
    /// x509-parser also had short names for, which no name holds and print here as `OID(…)`), every string type and others, text
    /// that is and is not what its type says, multi-valued RDNs.
    fn random_name(rng: &mut Rng) -> Vec<Vec<u8>> {
        let types: Vec<Vec<u8>> = LABELS
            .iter()
            .map(|(dotted, _)| encode_oid(dotted))
            .chain([
                encode_oid("2.5.4.97"),
                encode_oid("1.2.3.4"),
                vec![],
                vec![0],
                vec![0x55, 0x04, 0x80],
                vec![0x2a, 0x86],
                vec![0x81, 0x01, 0x02],
                vec![
                    0x2a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
                ],
            ])
            .collect();
        let tags = [
            0x0c, 0x12, 0x13, 0x14, 0x15, 0x16, 0x19, 0x1a, 0x1b, 0x07, 0x1e, 0x1c, 0x02, 0x04,
            0x30, 0x8c, 0x05,
        ];
        (0..rng.below(5))
            .map(|_| {
                let attrs: Vec<Vec<u8>> = (0..1 + rng.below(3))
                    .map(|_| {
                        let kind = types[rng.below(types.len())].clone();
                        let tag = tags[rng.below(tags.len())];
                        let text = match rng.below(4) {
                            0 => {
                                let n = rng.below(6);
                                rng.bytes(n)
                            }
                            1 => "Contoso Ltd"
                                .encode_utf16()
                                .flat_map(u16::to_be_bytes)
                                .collect(),
                            2 => "Zürich".as_bytes().to_vec(),
                            _ => b"graph.windows.net".to_vec(),
                        };
                        attr(&kind, tlv(tag, &text))
                    })
                    .collect();
                rdn(&attrs)
            })
            .collect()
    }

    /// What the crate this reader replaced made of the same bytes.
    fn reference(der: &[u8]) -> Option<(String, String, Vec<String>)> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let orgs = cert
            .issuer()
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(String::from))
            .collect();
        Some((cert.subject().to_string(), cert.issuer().to_string(), orgs))
    }

    /// x509-parser's short names for the OIDs that are no attribute type, where this reader
    /// writes `OID(…)`: damage to a name's OID can make one of them.
    fn registry_label(oid: &[u8]) -> String {
        let ours = LABELS.iter().any(|(dotted, _)| encode_oid(dotted) == oid);
        let key = x509_parser::oid_registry::Oid::new(oid.into());
        match x509_parser::objects::oid_registry().get(&key) {
            Some(entry) if !ours => entry.sn().to_string(),
            _ => attribute_label(oid),
        }
    }

    /// Wherever x509-parser read a certificate, these names are its names, to the byte; on
    /// certificates it refused, only not panicking is asked.
    #[test]
    fn names_are_what_x509_parser_printed() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut compared = 0;
        for round in 0..5_000 {
            let issuer = random_name(&mut rng);
            let subject = random_name(&mut rng);
            let mut der = certificate(&issuer, &subject);
            if round % 2 == 1 {
                let at = rng.below(der.len());
                der[at] = rng.next() as u8;
            }
            let ours = names(&der).map(|(issuer, subject)| {
                let (s, i) = (
                    render(&subject, registry_label),
                    render(&issuer, registry_label),
                );
                (s, i, issuer_orgs_of(&der))
            });
            if let Some(theirs) = reference(&der) {
                assert_eq!(ours.as_ref(), Some(&theirs), "{der:02x?}");
                compared += 1;
            } else if round % 2 == 0 {
                panic!("the reference refused a well-formed certificate: {der:02x?}");
            }
        }
        assert!(compared > 2_000, "only {compared} compared");
    }
}
