//! PKCS#1 `RSAPrivateKey` DER (RFC 8017 A.1.2): the small encoder that turns a JWK into it, and
//! the shape check a key passes at start-up.
//!
//! aws-lc's own check (`RSA_check_key`: the primes, exponents and CRT values agree) costs more
//! than the rest of the archiver's init together, so it runs when the key first signs
//! (`MaskinportenKey`). What can go wrong with a key in practice, a truncated copy, a certificate
//! or public key in its place, a key that is too small, shows in its shape, which this module
//! checks without arithmetic on the key's values.

use super::AuthError;

/// The modulus sizes aws-lc-rs accepts for RS256 signing.
const MODULUS_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// The largest public exponent aws-lc accepts, in bits.
const MAX_EXPONENT_BITS: usize = 33;

/// Checks that `der` is a two-prime `RSAPrivateKey ::= SEQUENCE { version 0, n, e, d, p, q, dp,
/// dq, qi }` that aws-lc can load for RS256: positive, minimally encoded integers, nothing
/// after them, a modulus of 2048 to 8192 bits, odd modulus and primes, an odd public exponent
/// above 1, primes whose sizes add up to the modulus's, and private values no longer than what
/// they are reduced by. Errors name the part and its size, never its value.
pub(super) fn check_private_key_shape(der: &[u8]) -> Result<(), AuthError> {
    let not_pkcs1 = |what: &str| {
        AuthError::Invalid(format!(
            "the RSA private key is not a PKCS#1 RSAPrivateKey: {what}"
        ))
    };
    let (body, after) = der_element(der, SEQUENCE).ok_or_else(|| not_pkcs1("no DER SEQUENCE"))?;
    if !after.is_empty() {
        return Err(not_pkcs1("bytes after the key"));
    }
    let (version, mut rest) = der_element(body, INTEGER).ok_or_else(|| not_pkcs1("no version"))?;
    if version != [0] {
        return Err(not_pkcs1(
            "version is not 0 (multi-prime keys are not supported)",
        ));
    }
    let mut parts: [&[u8]; 8] = [&[]; 8];
    for (index, name) in PART_NAMES.iter().enumerate() {
        let (contents, next) = der_element(rest, INTEGER)
            .ok_or_else(|| not_pkcs1(&format!("`{name}` is missing or not an INTEGER")))?;
        parts[index] = positive_magnitude(contents).ok_or_else(|| {
            not_pkcs1(&format!(
                "`{name}` is not a positive, minimally encoded INTEGER"
            ))
        })?;
        rest = next;
    }
    if !rest.is_empty() {
        return Err(not_pkcs1("more than the nine INTEGERs of a two-prime key"));
    }
    let [n, e, d, p, q, dp, dq, qi] = parts;
    let modulus_bits = bit_length(n);
    if !MODULUS_BITS.contains(&modulus_bits) {
        return Err(AuthError::Invalid(format!(
            "the RSA modulus has {modulus_bits} bits; RS256 keys need {} to {}",
            MODULUS_BITS.start(),
            MODULUS_BITS.end()
        )));
    }
    let inconsistent =
        |what: &str| AuthError::Invalid(format!("the RSA private key's parts disagree: {what}"));
    if !is_odd(n) || !is_odd(p) || !is_odd(q) {
        return Err(inconsistent("the modulus and both primes must be odd"));
    }
    if !is_odd(e) || e == [1] || bit_length(e) > MAX_EXPONENT_BITS {
        return Err(inconsistent(
            "the public exponent must be odd, above 1 and at most 33 bits",
        ));
    }
    // p · q = n: the primes' bit lengths add up to n's, or to one more.
    let prime_bits = bit_length(p) + bit_length(q);
    if prime_bits != modulus_bits && prime_bits != modulus_bits + 1 {
        return Err(inconsistent(
            "the primes' sizes do not multiply to the modulus",
        ));
    }
    for (value, bound, what) in [
        (d, n, "d is longer than the modulus"),
        (dp, p, "dp is longer than p"),
        (dq, q, "dq is longer than q"),
        (qi, p, "qi is longer than p"),
    ] {
        if bit_length(value) > bit_length(bound) {
            return Err(inconsistent(what));
        }
    }
    Ok(())
}

/// The members after `version`, in order.
const PART_NAMES: [&str; 8] = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;

/// Splits one DER element with tag `tag` off the front of `input`: its contents and what
/// follows. `None` for another tag, an indefinite or non-minimal length, or too few bytes.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        // 0: indefinite length (BER, not DER). More than 4 bytes: no key is that long.
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (octets, rest) = rest.split_at(count);
        let length = octets
            .iter()
            .fold(0usize, |length, octet| (length << 8) | usize::from(*octet));
        if octets[0] == 0 || length < 0x80 {
            return None;
        }
        (length, rest)
    };
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// The big-endian magnitude of a DER INTEGER that is positive and minimally encoded: without
/// its sign octet, first octet non-zero.
fn positive_magnitude(contents: &[u8]) -> Option<&[u8]> {
    match contents {
        [first, ..] if first & 0x80 != 0 => None,
        [0, next, ..] if next & 0x80 != 0 => Some(&contents[1..]),
        [0, ..] | [] => None,
        _ => Some(contents),
    }
}

/// The number of significant bits of a magnitude whose first octet is non-zero.
fn bit_length(magnitude: &[u8]) -> usize {
    magnitude.len() * 8 - magnitude[0].leading_zeros() as usize
}

fn is_odd(magnitude: &[u8]) -> bool {
    magnitude.last().is_some_and(|octet| octet & 1 == 1)
}

/// DER length octets: short form below 128, else long form.
fn der_length(length: usize) -> Vec<u8> {
    if length < 0x80 {
        return vec![length as u8];
    }
    let bytes = length.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let significant = &bytes[first..];
    let mut out = Vec::with_capacity(1 + significant.len());
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
    out
}

/// A DER INTEGER from an unsigned big-endian magnitude: leading zeros stripped, one zero byte
/// added when the high bit is set (so the value stays positive).
pub(super) fn der_unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let first = magnitude.iter().position(|b| *b != 0);
    let trimmed: &[u8] = match first {
        Some(index) => &magnitude[index..],
        None => &[0],
    };
    let pad = trimmed[0] & 0x80 != 0;
    let content_length = trimmed.len() + usize::from(pad);
    let mut out = vec![INTEGER];
    out.extend(der_length(content_length));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

/// A DER SEQUENCE around already-encoded members.
pub(super) fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![SEQUENCE];
    out.extend(der_length(content.len()));
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const PKCS1: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs1.pem");
    const SMALL: &str = include_str!("../../tests/fixtures/client-key-1024.pkcs1.pem");

    fn pem_der(pem: &str) -> Vec<u8> {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD.decode(body).unwrap()
    }

    /// The test key's nine INTEGERs' magnitudes, in order (version first).
    fn members(der: &[u8]) -> Vec<Vec<u8>> {
        let (mut body, _) = der_element(der, SEQUENCE).unwrap();
        let mut out = Vec::new();
        while !body.is_empty() {
            let (contents, rest) = der_element(body, INTEGER).unwrap();
            out.push(contents.to_vec());
            body = rest;
        }
        out
    }

    /// The key again from `members`, each re-encoded minimally.
    fn encode(members: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = members
            .iter()
            .flat_map(|member| der_unsigned_integer(member))
            .collect();
        der_sequence(&body)
    }

    fn refusal(der: &[u8]) -> String {
        check_private_key_shape(der).unwrap_err().to_string()
    }

    #[test]
    fn der_lengths_use_short_and_long_form() {
        assert_eq!(der_length(0), vec![0]);
        assert_eq!(der_length(127), vec![127]);
        assert_eq!(der_length(128), vec![0x81, 128]);
        assert_eq!(der_length(255), vec![0x81, 255]);
        assert_eq!(der_length(256), vec![0x82, 1, 0]);
        assert_eq!(der_length(1190), vec![0x82, 0x04, 0xa6]);
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(der_unsigned_integer(&[0]), vec![0x02, 1, 0]);
        assert_eq!(der_unsigned_integer(&[0, 0, 5]), vec![0x02, 1, 5]);
        assert_eq!(
            der_unsigned_integer(&[0x01, 0x00, 0x01]),
            vec![0x02, 3, 1, 0, 1]
        );
        assert_eq!(der_unsigned_integer(&[0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(der_unsigned_integer(&[]), vec![0x02, 1, 0]);
        let big = vec![0xff; 256];
        let encoded = der_unsigned_integer(&big);
        assert_eq!(&encoded[..5], &[0x02, 0x82, 0x01, 0x01, 0x00]);
        assert_eq!(encoded.len(), 5 + 256);
    }

    #[test]
    fn elements_are_read_back_as_written() {
        let written = der_sequence(&der_unsigned_integer(&[0x80; 200]));
        let (body, after) = der_element(&written, SEQUENCE).unwrap();
        assert!(after.is_empty());
        let (contents, rest) = der_element(body, INTEGER).unwrap();
        assert!(rest.is_empty());
        assert_eq!(positive_magnitude(contents), Some(&[0x80; 200][..]));

        // Wrong tag, cut short, indefinite, non-minimal long form.
        assert_eq!(der_element(&written, INTEGER), None);
        assert_eq!(der_element(&written[..written.len() - 1], SEQUENCE), None);
        assert_eq!(der_element(&[SEQUENCE, 0x80, 0, 0], SEQUENCE), None);
        assert_eq!(
            der_element(&[INTEGER, 0x81, 0x05, 1, 2, 3, 4, 5], INTEGER),
            None
        );
        assert_eq!(der_element(&[INTEGER, 0x82, 0, 0x80], INTEGER), None);
    }

    #[test]
    fn only_positive_minimal_integers_have_a_magnitude() {
        assert_eq!(positive_magnitude(&[0x05]), Some(&[0x05][..]));
        assert_eq!(positive_magnitude(&[0x00, 0x80]), Some(&[0x80][..]));
        assert_eq!(positive_magnitude(&[0x80]), None, "negative");
        assert_eq!(positive_magnitude(&[0x00]), None, "zero");
        assert_eq!(positive_magnitude(&[0x00, 0x05]), None, "not minimal");
        assert_eq!(positive_magnitude(&[]), None);
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
        assert_eq!(bit_length(&[0x80]), 8);
    }

    #[test]
    fn the_test_key_has_the_shape() {
        check_private_key_shape(&pem_der(PKCS1)).unwrap();
        // The same key re-encoded from its members: the round trip the JWK path takes.
        check_private_key_shape(&encode(&members(&pem_der(PKCS1)))).unwrap();
    }

    #[test]
    fn damaged_keys_are_refused_by_shape() {
        let der = pem_der(PKCS1);
        assert!(refusal(&der[..der.len() / 2]).contains("no DER SEQUENCE"));
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(refusal(&trailing).contains("bytes after the key"));
        assert!(refusal(b"not a key at all").contains("not a PKCS#1"));

        let good = members(&der);
        let mut multi_prime = good.clone();
        multi_prime[0] = vec![1];
        assert!(refusal(&encode(&multi_prime)).contains("version is not 0"));

        let mut missing_qi = good.clone();
        missing_qi.pop();
        assert!(refusal(&encode(&missing_qi)).contains("`qi` is missing"));

        let mut extra = good.clone();
        extra.push(vec![3]);
        assert!(refusal(&encode(&extra)).contains("more than the nine"));

        let mut zero_d = good.clone();
        zero_d[3] = vec![0];
        assert!(refusal(&encode(&zero_d)).contains("`d` is not a positive"));
    }

    #[test]
    fn sizes_and_parities_that_cannot_belong_together_are_refused() {
        let good = members(&pem_der(PKCS1));
        let changed = |index: usize, value: Vec<u8>| {
            let mut members = good.clone();
            members[index] = value;
            refusal(&encode(&members))
        };
        let magnitude = |index: usize| positive_magnitude(&good[index]).unwrap().to_vec();

        let mut even_n = magnitude(1);
        *even_n.last_mut().unwrap() &= 0xfe;
        assert!(changed(1, even_n).contains("must be odd"));
        assert!(changed(2, vec![1]).contains("public exponent"));
        assert!(changed(2, vec![0x01, 0, 0, 0, 0, 1]).contains("public exponent"));

        // A prime from a key of another size.
        let short_p = magnitude(4)[8..].to_vec();
        assert!(changed(4, short_p).contains("do not multiply"));
        let mut long_d = magnitude(1);
        long_d.insert(0, 0x01);
        assert!(changed(3, long_d).contains("d is longer"));
        let mut long_qi = magnitude(4);
        long_qi.insert(0, 0x01);
        assert!(changed(8, long_qi).contains("qi is longer"));
    }

    #[test]
    fn small_keys_are_refused_with_their_size() {
        let error = refusal(&pem_der(SMALL));
        assert!(error.contains("1024 bits"), "{error}");
        assert!(error.contains("2048 to 8192"), "{error}");
    }

    #[test]
    fn refusals_never_contain_key_material() {
        let der = pem_der(PKCS1);
        let good = members(&der);
        let mut long_d = positive_magnitude(&good[1]).unwrap().to_vec();
        long_d.insert(0, 0x01);
        let mut members = good.clone();
        members[3] = long_d;
        let error = refusal(&encode(&members));
        let d_hex: String = good[3][1..9].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!error.contains(&d_hex), "{error}");
        assert!(!error.contains(&STANDARD.encode(&good[3][1..9])), "{error}");
    }
}
