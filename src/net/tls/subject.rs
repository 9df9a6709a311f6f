//! A client certificate's subject as Java's `X500Principal.getName()` prints it.

use rustls::ServerConnection;
use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::*;

/// The subject DN of the verified client certificate in RFC 2253 form, as Java's
/// `X500Principal.getName()` prints it, or `None` if the client sent no certificate; a
/// certificate that cannot be parsed is an error (the connection fails closed, never
/// anonymous).
pub fn try_peer_subject(conn: &ServerConnection) -> Result<Option<String>, TlsError> {
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return Ok(None);
    };
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TlsError::PeerCertificate(e.to_string()))?;
    Ok(Some(rfc2253(cert.subject())))
}

/// Formats a name like Java's `X500Name.getRFC2253Name()`: RDNs from the last in DER (most
/// specific) to the first, AVAs of a multi-valued RDN joined with '+' in DER order.
pub(super) fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| rdn.iter().map(ava).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// One AVA as OpenJDK's `sun.security.x509.AVA.toRFC2253String` prints it: only the
/// RFC 2253 keywords of `AVAKeyword` (CN C L ST O OU STREET DC UID) are names; any other type,
/// emailAddress (1.2.840.113549.1.9.1) included, is its dotted OID with `#` and the value's DER
/// in lowercase hex, as is a keyword type whose value is not a string type.
pub(super) fn ava(ava: &AttributeTypeAndValue<'_>) -> String {
    let oid = ava.attr_type().to_id_string();
    let keyword = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.9" => Some("STREET"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    let value = ava.attr_value();
    // AVA.isDerString(value, false); Java then decodes the content bytes as UTF-8 whatever the
    // string type.
    let is_string = value.header.class() == Class::Universal
        && value.header.is_primitive()
        && [
            Tag::PrintableString,
            Tag::T61String,
            Tag::Ia5String,
            Tag::GeneralString,
            Tag::BmpString,
            Tag::Utf8String,
        ]
        .contains(&value.header.tag());
    match keyword {
        Some(keyword) if is_string => {
            format!("{keyword}={}", escape(&String::from_utf8_lossy(value.data)))
        }
        _ => {
            let hex: String = der(value).iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", keyword.unwrap_or(&oid))
        }
    }
}

/// Java's escaping: `,=+<>#;"\` get a backslash anywhere, NUL becomes `\00`, and leading or
/// trailing spaces and CRs get a backslash each.
pub(super) fn escape(value: &str) -> String {
    let mut chars = Vec::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => chars.extend(['\\', c]),
            '\0' => chars.extend(['\\', '0', '0']),
            _ => chars.push(c),
        }
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, c) in chars.into_iter().enumerate() {
        if i < lead || i >= trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// DER encoding (tag, length, content) of a parsed value.
pub(super) fn der(value: &Any<'_>) -> Vec<u8> {
    let header = &value.header;
    let mut out = Vec::with_capacity(value.data.len() + 6);
    match header.raw_tag() {
        Some(raw) => out.extend_from_slice(raw),
        None => {
            let id = ((header.class() as u8) << 6) | if header.is_constructed() { 0x20 } else { 0 };
            let tag = header.tag().0;
            if tag < 31 {
                out.push(id | tag as u8);
            } else {
                out.push(id | 0x1f);
                let groups = (0..5).rev().map(|i| (tag >> (7 * i)) as u8 & 0x7f);
                let groups: Vec<u8> = groups.skip_while(|g| *g == 0).collect();
                let last = groups.len() - 1;
                out.extend(
                    groups
                        .iter()
                        .enumerate()
                        .map(|(i, g)| if i < last { g | 0x80 } else { *g }),
                );
            }
        }
    }
    let len = value.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value.data);
    out
}
