//! Just enough DER to pull an RSA public key out of a `PUBLIC KEY` PEM or an X.509 certificate
//! (the grant's `x5c`), so the simulator can check the key a certificate carries. It does not
//! validate certificates (chains, dates, extensions): see the crate docs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_VERSION: u8 = 0xA0; // [0] EXPLICIT in TBSCertificate

/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

/// Reads one TLV: `(tag, contents, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first_len, rest) = rest.split_first()?;
    let (len, rest) = if first_len < 0x80 {
        (usize::from(first_len), rest)
    } else {
        let octets = usize::from(first_len & 0x7F);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let len = rest[..octets]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[octets..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Reads one TLV and requires its tag.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = read_tlv(input)?;
    (found == tag).then_some((contents, rest))
}

/// The PKCS#1 `RSAPublicKey` inside a SubjectPublicKeyInfo, checking the algorithm is RSA and
/// the key parses as two INTEGERs.
pub(crate) fn rsa_key_from_spki(spki: &[u8]) -> Option<&[u8]> {
    let (contents, _) = expect(spki, TAG_SEQUENCE)?;
    let (algorithm, rest) = expect(contents, TAG_SEQUENCE)?;
    let (oid, _) = expect(algorithm, TAG_OID)?;
    if oid != OID_RSA_ENCRYPTION {
        return None;
    }
    let (bits, _) = expect(rest, TAG_BIT_STRING)?;
    let (&unused_bits, key) = bits.split_first()?;
    if unused_bits != 0 {
        return None;
    }
    let (sequence, _) = expect(key, TAG_SEQUENCE)?;
    let (_modulus, after) = expect(sequence, TAG_INTEGER)?;
    let (_exponent, _) = expect(after, TAG_INTEGER)?;
    Some(key)
}

/// The PKCS#1 `RSAPublicKey` of an X.509 certificate (DER).
pub(crate) fn rsa_key_from_certificate(certificate: &[u8]) -> Option<&[u8]> {
    let (cert, _) = expect(certificate, TAG_SEQUENCE)?;
    let (tbs, _) = expect(cert, TAG_SEQUENCE)?;
    let mut rest = tbs;
    // version [0] is optional (absent = v1).
    if let Some((TAG_VERSION, _, after)) = read_tlv(rest) {
        rest = after;
    }
    let (_serial, rest) = expect(rest, TAG_INTEGER)?;
    let (_signature_algorithm, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_issuer, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_validity, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_subject, rest) = expect(rest, TAG_SEQUENCE)?;
    // Re-read the SubjectPublicKeyInfo with its header so rsa_key_from_spki sees a whole TLV.
    let (tag, contents, _) = read_tlv(rest)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let spki = &rest[..header_size(rest)? + contents.len()];
    rsa_key_from_spki(spki)
}

/// Length of the tag and length octets of the TLV at the start of `input`.
fn header_size(input: &[u8]) -> Option<usize> {
    let first_len = *input.get(1)?;
    Some(if first_len < 0x80 {
        2
    } else {
        2 + usize::from(first_len & 0x7F)
    })
}

/// The DER inside the first PEM block with this label.
pub(crate) fn pem_to_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TEST_CLIENT_CERT_PEM, TEST_CLIENT_PUBLIC_KEY_PEM};

    #[test]
    fn certificate_and_public_key_pem_carry_the_same_rsa_key() {
        let spki = pem_to_der(TEST_CLIENT_PUBLIC_KEY_PEM, "PUBLIC KEY").expect("public key pem");
        let cert = pem_to_der(TEST_CLIENT_CERT_PEM, "CERTIFICATE").expect("certificate pem");
        let from_spki = rsa_key_from_spki(&spki).expect("rsa key in spki");
        let from_cert = rsa_key_from_certificate(&cert).expect("rsa key in cert");
        assert_eq!(from_spki, from_cert);
        assert!(from_spki.len() > 256, "a 2048-bit modulus at least");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(rsa_key_from_certificate(b"\x30\x03\x02\x01\x01").is_none());
        assert!(rsa_key_from_spki(&[]).is_none());
        assert!(read_tlv(&[0x30, 0x85, 1, 2, 3, 4, 5]).is_none());
        assert!(pem_to_der("nothing here", "CERTIFICATE").is_none());
    }
}
