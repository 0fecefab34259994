//! Data element contents: literal bytes, or deterministic pseudo-random bytes generated on the fly
//! so a 1 GiB attachment costs no memory.

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Size of the chunks generated content is streamed in.
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

/// What a data element contains.
#[derive(Clone, PartialEq, Eq)]
pub enum DataContent {
    /// These exact bytes.
    Bytes(Vec<u8>),
    /// `size` deterministic pseudo-random bytes derived from `seed`, produced while streaming
    /// (O(1) memory whatever the size). The same `(size, seed)` always gives the same bytes.
    Generated {
        /// Number of bytes.
        size: u64,
        /// Seed of the generator.
        seed: u64,
    },
}

impl std::fmt::Debug for DataContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataContent::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            DataContent::Generated { size, seed } => {
                write!(f, "Generated {{ size: {size}, seed: {seed} }}")
            }
        }
    }
}

/// The stored form of [`DataContent`]: literal bytes are kept as [`Bytes`] so serving them
/// clones a reference count, not the data.
#[derive(Clone)]
pub(crate) enum StoredContent {
    Bytes(Bytes),
    Generated { size: u64, seed: u64 },
}

impl From<DataContent> for StoredContent {
    fn from(content: DataContent) -> Self {
        match content {
            DataContent::Bytes(bytes) => StoredContent::Bytes(Bytes::from(bytes)),
            DataContent::Generated { size, seed } => StoredContent::Generated { size, seed },
        }
    }
}

impl StoredContent {
    pub(crate) fn size(&self) -> u64 {
        match self {
            StoredContent::Bytes(bytes) => bytes.len() as u64,
            StoredContent::Generated { size, .. } => *size,
        }
    }

    /// A stream of the content in chunks of at most [`CHUNK_SIZE`] bytes.
    pub(crate) fn stream(&self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let chunks = ContentChunks::new(self.clone());
        futures_util::stream::iter(chunks.map(Ok))
    }

    /// All bytes in memory: only for small elements.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.size()).unwrap_or(0));
        for chunk in ContentChunks::new(self.clone()) {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// `(sha256 hex, md5 base64)` of the content, computed by streaming it once.
    pub(crate) fn digests(&self) -> (String, String) {
        let mut sha256 = Sha256::new();
        let mut md5 = Md5::new();
        for chunk in ContentChunks::new(self.clone()) {
            sha256.update(&chunk);
            md5.update(&chunk);
        }
        (
            hex::encode(sha256.finalize()),
            STANDARD.encode(md5.finalize()),
        )
    }
}

/// Iterator over the chunks of a content.
struct ContentChunks {
    content: StoredContent,
    offset: u64,
    generator: SplitMix64,
}

impl ContentChunks {
    fn new(content: StoredContent) -> Self {
        let seed = match content {
            StoredContent::Generated { seed, .. } => seed,
            StoredContent::Bytes(_) => 0,
        };
        ContentChunks {
            content,
            offset: 0,
            generator: SplitMix64(seed),
        }
    }
}

impl Iterator for ContentChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let size = self.content.size();
        if self.offset >= size {
            return None;
        }
        let len =
            usize::try_from((size - self.offset).min(CHUNK_SIZE as u64)).unwrap_or(CHUNK_SIZE);
        let chunk = match &self.content {
            StoredContent::Bytes(bytes) => {
                let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
                bytes.slice(start..start + len)
            }
            StoredContent::Generated { .. } => {
                // CHUNK_SIZE is a multiple of 8, so chunk boundaries never split a generator word
                // and the byte sequence does not depend on how it is chunked.
                let mut buf = BytesMut::with_capacity(len.next_multiple_of(8));
                while buf.len() < len {
                    buf.extend_from_slice(&self.generator.next_u64().to_le_bytes());
                }
                buf.truncate(len);
                buf.freeze()
            }
        };
        self.offset += len as u64;
        Some(chunk)
    }
}

/// SplitMix64: tiny, fast, and good enough to make attachment bytes look random (and
/// incompressible, so nobody's transport accidentally shrinks them).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A small but well-formed PDF (correct cross-reference offsets) showing one line of text.
pub(crate) fn minimal_pdf(text: &str) -> Vec<u8> {
    let escaped: String = text
        .chars()
        .filter(char::is_ascii)
        .flat_map(|c| match c {
            '(' | ')' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let stream = format!("BT /F1 18 Tf 72 720 Td ({escaped}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
    }
    let xref_offset = pdf.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        xref.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.extend_from_slice(xref.as_bytes());
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_content_is_deterministic_and_sized() {
        let content = StoredContent::Generated {
            size: 200_003,
            seed: 7,
        };
        let a = content.to_vec();
        let b = content.to_vec();
        assert_eq!(a.len(), 200_003);
        assert_eq!(a, b);
        let other = StoredContent::Generated {
            size: 200_003,
            seed: 8,
        }
        .to_vec();
        assert_ne!(a, other);
        // A prefix of a longer element is the shorter element: generation does not depend on size.
        let short = StoredContent::Generated {
            size: 1000,
            seed: 7,
        }
        .to_vec();
        assert_eq!(&a[..1000], &short[..]);
    }

    #[test]
    fn digests_match_known_values() {
        let content = StoredContent::Bytes(Bytes::from_static(b"abc"));
        let (sha, md5) = content.digests();
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(md5, "kAFQmDzST7DWlj99KOF/cg==");
    }

    #[test]
    fn pdf_has_valid_xref_offsets() {
        let pdf = minimal_pdf("Kvittering (test)");
        let text = String::from_utf8(pdf.clone()).expect("ascii");
        assert!(text.starts_with("%PDF-1.4"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|tail| tail.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(text[startxref..].starts_with("xref"));
        let offset_of_obj_3 = text.find("3 0 obj").expect("object 3");
        assert!(text.contains(&format!("{offset_of_obj_3:010} 00000 n")));
    }
}
