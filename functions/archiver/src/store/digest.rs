//! Digests, metadata and filename encoding of stored objects.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::{ElementUpload, UploadError};

/// Everything but RFC 3986's unreserved characters is encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest percent-encoded filename kept in metadata (S3 allows 2 KiB of user metadata).
const MAX_ENCODED_FILENAME: usize = 1024;

/// SHA-256, MD5 and length of a body, computed as it streams past.
#[derive(Default)]
pub(crate) struct BodyDigest {
    sha256: Sha256,
    md5: Md5,
    size: u64,
}

impl BodyDigest {
    /// The digests of a body already in memory.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut digest = BodyDigest::default();
        digest.sha256.update(bytes);
        digest.md5.update(bytes);
        digest.size = bytes.len() as u64;
        digest
    }

    /// Adds a chunk; fails as soon as the body is longer than `expected`.
    pub(crate) fn update<E>(&mut self, chunk: &[u8], expected: u64) -> Result<(), UploadError<E>> {
        self.size += chunk.len() as u64;
        if self.size > expected {
            return Err(UploadError::TooLong { expected });
        }
        self.sha256.update(chunk);
        self.md5.update(chunk);
        Ok(())
    }

    /// The body's length and MD5 against the element's.
    pub(crate) fn verify<E>(&self, upload: &ElementUpload<'_>) -> Result<(), UploadError<E>> {
        if self.size != upload.size {
            return Err(UploadError::SizeMismatch {
                expected: upload.size,
                actual: self.size,
            });
        }
        if let Some(expected) = upload.md5 {
            let actual: [u8; 16] = self.md5.clone().finalize().into();
            if actual != expected {
                return Err(UploadError::Md5Mismatch {
                    expected: BASE64.encode(expected),
                    actual: BASE64.encode(actual),
                });
            }
        }
        Ok(())
    }

    /// (SHA-256 hex, SHA-256 base64, MD5 base64).
    pub(crate) fn finish(self) -> (String, String, String) {
        let sha256 = self.sha256.finalize();
        (
            hex::encode(sha256),
            BASE64.encode(sha256),
            BASE64.encode(self.md5.finalize()),
        )
    }
}

/// The element's user metadata; `sha256` and `md5` only once the body is verified.
pub(super) fn element_metadata(
    upload: &ElementUpload<'_>,
    digests: Option<(&str, &str)>,
) -> Vec<(&'static str, String)> {
    let mut metadata = vec![("datatype", percent_encode(upload.data_type))];
    if let Some(filename) = upload.filename {
        metadata.push(("filename", encoded_filename(filename)));
    }
    if let Some(last_changed) = upload.last_changed {
        metadata.push(("lastchanged", percent_encode(last_changed)));
    }
    if let Some((sha256, md5)) = digests {
        metadata.push(("sha256", sha256.to_owned()));
        metadata.push(("md5", md5.to_owned()));
    }
    metadata
}

/// `attachment; filename*=UTF-8''…` (RFC 6266 with the RFC 8187 encoding).
pub(super) fn content_disposition(filename: &str) -> String {
    format!(
        "attachment; filename*=UTF-8''{}",
        encoded_filename(filename)
    )
}

/// The percent-encoded filename, cut to whole characters within `MAX_ENCODED_FILENAME`
/// (1,024 bytes).
pub fn encoded_filename(filename: &str) -> String {
    let mut encoded = String::new();
    for c in filename.chars() {
        let mut utf8 = [0u8; 4];
        let piece = percent_encode(c.encode_utf8(&mut utf8));
        if encoded.len() + piece.len() > MAX_ENCODED_FILENAME {
            break;
        }
        encoded.push_str(&piece);
    }
    encoded
}

/// RFC 3986 percent-encoding of UTF-8: `A-Z a-z 0-9 - . _ ~` stay, every other byte is `%XX`.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// The inverse of [`percent_encode`] (for readers of the metadata, and tests); `None` when the
/// bytes are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

pub(super) fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_percent_encoded_ascii_and_round_trip() {
        let name = "Søknad om støtte (endelig) 100%.pdf";
        let encoded = encoded_filename(name);
        assert!(encoded.is_ascii());
        assert_eq!(
            encoded,
            "S%C3%B8knad%20om%20st%C3%B8tte%20%28endelig%29%20100%25.pdf"
        );
        assert_eq!(percent_decode(&encoded).unwrap(), name);
        assert_eq!(
            content_disposition("a b.pdf"),
            "attachment; filename*=UTF-8''a%20b.pdf"
        );
    }

    #[test]
    fn long_filenames_are_cut_at_whole_characters() {
        let name = "å".repeat(1000);
        let encoded = encoded_filename(&name);
        assert!(encoded.len() <= MAX_ENCODED_FILENAME);
        assert_eq!(encoded.len() % 6, 0, "each å is %C3%A5");
        assert!(percent_decode(&encoded).is_some());
    }

    #[test]
    fn digest_checks_length_and_md5() {
        let upload = ElementUpload {
            key: "k",
            content_type: "text/plain",
            filename: None,
            data_type: "t",
            size: 5,
            md5: Some(Md5::digest(b"hello").into()),
            last_changed: None,
        };
        let mut digest = BodyDigest::default();
        digest.update::<()>(b"hel", 5).unwrap();
        assert!(matches!(
            digest.verify::<()>(&upload),
            Err(UploadError::SizeMismatch {
                expected: 5,
                actual: 3
            })
        ));
        digest.update::<()>(b"lo", 5).unwrap();
        digest.verify::<()>(&upload).unwrap();
        assert!(matches!(
            digest.update::<()>(b"!", 5),
            Err(UploadError::TooLong { expected: 5 })
        ));

        let mut other = BodyDigest::default();
        other.update::<()>(b"HELLO", 5).unwrap();
        assert!(matches!(
            other.verify::<()>(&upload),
            Err(UploadError::Md5Mismatch { .. })
        ));
        let (sha_hex, _, md5) = other.finish();
        assert!(is_sha256_hex(&sha_hex));
        assert_eq!(md5.len(), 24);
    }
}
