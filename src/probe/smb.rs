//! SMB on 445: an SMB2 NEGOTIATE, and only a well-formed SMB2 negotiate response passes, so a
//! port that accepts TCP but is not SMB (or a middlebox answering in its place) does not.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::Failure;
use crate::reason::Reason;

/// Dialects offered, oldest first: 2.0.2, 2.1, 3.0, 3.0.2, 3.1.1.
pub const DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
const HEADER_LEN: usize = 64;
/// The largest negotiate response accepted (they are a few hundred bytes).
const MAX_REPLY: usize = 64 * 1024;

/// The NEGOTIATE request, with its 4-byte NetBIOS session header. 3.1.1 requires negotiate
/// contexts: SHA-512 pre-authentication integrity and AES-128-GCM/CCM encryption.
pub fn negotiate_request() -> Vec<u8> {
    let mut m = Vec::with_capacity(180);
    // SMB2 header.
    m.extend_from_slice(b"\xFESMB");
    m.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&0u16.to_le_bytes()); // CreditCharge
    m.extend_from_slice(&0u32.to_le_bytes()); // Status
    m.extend_from_slice(&0u16.to_le_bytes()); // Command: NEGOTIATE
    m.extend_from_slice(&1u16.to_le_bytes()); // CreditRequest
    m.extend_from_slice(&0u32.to_le_bytes()); // Flags
    m.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    m.extend_from_slice(&0u64.to_le_bytes()); // MessageId
    m.extend_from_slice(&0xFEFFu32.to_le_bytes()); // Reserved (process id)
    m.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    m.extend_from_slice(&0u64.to_le_bytes()); // SessionId
    m.extend_from_slice(&[0u8; 16]); // Signature
                                     // NEGOTIATE request.
    let contexts_at = (HEADER_LEN + 36 + 2 * DIALECTS.len()).next_multiple_of(8);
    m.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&(DIALECTS.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    m.extend_from_slice(&0x45u32.to_le_bytes()); // Capabilities: DFS, large MTU, encryption
    m.extend_from_slice(b"amlprobe-client!"); // ClientGuid
    m.extend_from_slice(&(contexts_at as u32).to_le_bytes()); // NegotiateContextOffset
    m.extend_from_slice(&2u16.to_le_bytes()); // NegotiateContextCount
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved2
    for d in DIALECTS {
        m.extend_from_slice(&d.to_le_bytes());
    }
    m.resize(contexts_at, 0);
    // SMB2_PREAUTH_INTEGRITY_CAPABILITIES: one hash (SHA-512), a 32-byte salt.
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&38u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&32u16.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&[0x5a; 32]);
    m.resize(m.len().next_multiple_of(8), 0);
    // SMB2_ENCRYPTION_CAPABILITIES: AES-128-GCM, AES-128-CCM.
    m.extend_from_slice(&2u16.to_le_bytes());
    m.extend_from_slice(&6u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&2u16.to_le_bytes());
    m.extend_from_slice(&2u16.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    let mut framed = Vec::with_capacity(m.len() + 4);
    framed.push(0);
    framed.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
    framed.extend_from_slice(&m);
    framed
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub fn dialect_name(d: u16) -> String {
    match d {
        0x0202 => "2.0.2".into(),
        0x0210 => "2.1".into(),
        0x0300 => "3.0".into(),
        0x0302 => "3.0.2".into(),
        0x0311 => "3.1.1".into(),
        other => format!("0x{other:04x}"),
    }
}

/// Length of the SMB message announced by a NetBIOS session header.
pub fn frame_length(header: [u8; 4]) -> Result<usize, String> {
    if header[0] != 0 {
        return Err(format!(
            "the answer is not SMB: it starts with \"{}\", not an SMB session header",
            crate::net::printable(&header, 4)
        ));
    }
    let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
    if !(HEADER_LEN..=MAX_REPLY).contains(&len) {
        return Err(format!(
            "an SMB message of {len} bytes cannot be a negotiate response"
        ));
    }
    Ok(len)
}

/// Check an SMB message (after the NetBIOS header) is a successful SMB2 negotiate response;
/// returns the dialect chosen.
pub fn parse_negotiate_response(m: &[u8]) -> Result<u16, String> {
    if m.starts_with(b"\xFFSMB") {
        return Err("the server answered in SMB1 only".into());
    }
    if !m.starts_with(b"\xFESMB") {
        return Err("the answer is not SMB2".into());
    }
    let short = || format!("truncated SMB2 answer ({} bytes)", m.len());
    if u16_at(m, 4).ok_or_else(short)? != 64 {
        return Err("malformed SMB2 header".into());
    }
    let status = u32_at(m, 8).ok_or_else(short)?;
    let command = u16_at(m, 12).ok_or_else(short)?;
    let flags = u32_at(m, 16).ok_or_else(short)?;
    if command != 0 {
        return Err(format!("SMB2 command {command} in answer to NEGOTIATE"));
    }
    if flags & 1 == 0 {
        return Err("an SMB2 request, not a response".into());
    }
    if status != 0 {
        return Err(format!(
            "the server refused to negotiate (NTSTATUS 0x{status:08x})"
        ));
    }
    if u16_at(m, HEADER_LEN).ok_or_else(short)? != 65 {
        return Err("malformed SMB2 negotiate response".into());
    }
    let dialect = u16_at(m, HEADER_LEN + 4).ok_or_else(short)?;
    if m.len() < HEADER_LEN + 64 {
        return Err(short());
    }
    if !DIALECTS.contains(&dialect) {
        return Err(format!(
            "the server chose dialect {}, which was not offered",
            dialect_name(dialect)
        ));
    }
    Ok(dialect)
}

/// Negotiate over an open connection; the dialect on success.
pub async fn negotiate(tcp: &mut TcpStream, who: &str, deadline: Instant) -> Result<u16, Failure> {
    let bad = |what: String| Failure {
        reason: Reason::SmbBadReply,
        message: format!("{who}: {what}"),
    };
    let exchange = async {
        tcp.write_all(&negotiate_request())
            .await
            .map_err(|e| format!("sending NEGOTIATE: {e}"))?;
        let mut header = [0u8; 4];
        tcp.read_exact(&mut header)
            .await
            .map_err(|e| closed_or(e, "no SMB answer"))?;
        let len = frame_length(header)?;
        let mut m = vec![0u8; len];
        tcp.read_exact(&mut m)
            .await
            .map_err(|e| closed_or(e, "a truncated SMB answer"))?;
        parse_negotiate_response(&m)
    };
    match timeout_at(deadline, exchange).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(what)) => Err(bad(what)),
        Err(_) => Err(bad(
            "TCP connected, but no SMB answer before the deadline".into()
        )),
    }
}

fn closed_or(e: std::io::Error, what: &str) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("the connection closed with {what}")
    } else {
        format!("{what}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(dialect: u16, status: u32) -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN + 64];
        m[..4].copy_from_slice(b"\xFESMB");
        m[4..6].copy_from_slice(&64u16.to_le_bytes());
        m[8..12].copy_from_slice(&status.to_le_bytes());
        m[16..20].copy_from_slice(&1u32.to_le_bytes());
        m[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&65u16.to_le_bytes());
        m[HEADER_LEN + 4..HEADER_LEN + 6].copy_from_slice(&dialect.to_le_bytes());
        m
    }

    #[test]
    fn the_request_is_a_framed_smb2_negotiate_with_contexts() {
        let r = negotiate_request();
        assert_eq!(r[0], 0);
        let len = u32::from_be_bytes([0, r[1], r[2], r[3]]) as usize;
        assert_eq!(len, r.len() - 4);
        let m = &r[4..];
        assert_eq!(&m[..4], b"\xFESMB");
        assert_eq!(u16_at(m, 12), Some(0), "command NEGOTIATE");
        assert_eq!(u16_at(m, HEADER_LEN), Some(36));
        assert_eq!(u16_at(m, HEADER_LEN + 2), Some(DIALECTS.len() as u16));
        for (i, d) in DIALECTS.iter().enumerate() {
            assert_eq!(u16_at(m, HEADER_LEN + 36 + 2 * i), Some(*d));
        }
        let ctx = u32_at(m, HEADER_LEN + 28).unwrap() as usize;
        assert_eq!(ctx % 8, 0);
        assert_eq!(
            u16_at(m, ctx),
            Some(1),
            "pre-authentication integrity first"
        );
        assert_eq!(u16_at(m, HEADER_LEN + 32), Some(2), "two contexts");
        assert_eq!(m.len(), 174);
    }

    #[test]
    fn a_well_formed_response_gives_its_dialect() {
        assert_eq!(parse_negotiate_response(&response(0x0311, 0)), Ok(0x0311));
        assert_eq!(dialect_name(0x0311), "3.1.1");
        assert_eq!(frame_length([0, 0, 0, 128]), Ok(128));
    }

    #[test]
    fn bad_truncated_and_hostile_responses_are_rejected() {
        let ok = response(0x0302, 0);
        for cut in 0..ok.len() {
            assert!(
                parse_negotiate_response(&ok[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut smb1 = ok.clone();
        smb1[..4].copy_from_slice(b"\xFFSMB");
        assert!(parse_negotiate_response(&smb1)
            .unwrap_err()
            .contains("SMB1"));
        assert!(parse_negotiate_response(&response(0x0311, 0xC000_0022))
            .unwrap_err()
            .contains("0xc0000022"));
        assert!(parse_negotiate_response(&response(0x02FF, 0))
            .unwrap_err()
            .contains("not offered"));
        let mut request = ok.clone();
        request[16] = 0;
        assert!(parse_negotiate_response(&request).is_err());
        assert!(
            parse_negotiate_response(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .unwrap_err()
                .contains("not SMB2")
        );
        assert!(frame_length([0x85, 0, 0, 0]).is_err());
        assert!(
            frame_length([0, 0xff, 0xff, 0xff]).is_err(),
            "16 MiB is refused before reading"
        );
        assert!(frame_length([0, 0, 0, 10]).is_err());
        // Arbitrary bytes never panic.
        let mut x: u32 = 0x1234_5678;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let mut framed = b"\xFESMB".to_vec();
            framed.extend_from_slice(&junk);
            let _ = parse_negotiate_response(&junk);
            let _ = parse_negotiate_response(&framed);
        }
    }
}
