//! The vocabulary every ely crate shares, at the bottom of the crate graph: the object
//! ([`Object`], Weaviate's REST object shape, with [`Vector`]s of float32), float32 numbers
//! as text (shortest form out, correctly rounded in, never through f64), UUIDs, RFC 3339
//! dates, and base64. The stream, the stores and the transfer machinery all speak it, so a
//! rule (what counts as a UUID, how a date is read) is written once.
//!
//! Kept crates do the general work (`uuid`, `jiff`, `base64`, `ryu`); what is written by hand
//! here is what Weaviate's rules need exactly (which UUID and date forms it accepts) and the
//! float32 number reader, which is on every hot path and measured faster than the standard
//! library's (`cargo bench -p ely-vocab`, see [`float`]).

pub mod date;
pub mod float;
pub mod human;
pub mod id;
pub mod json;
mod object;

pub use json::ObjectLine;
pub use object::{parse_vector, Object, Vector};

/// `data` in base64, the standard padded alphabet (RFC 4648 section 4).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The bytes of base64 text (standard alphabet, padded or not, whitespace between lines
/// allowed), or why it is not base64.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let compact: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(compact)
    .map_err(|e| format!("not base64: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
            assert_eq!(super::base64_decode(o).unwrap(), i.as_bytes());
        }
        assert_eq!(super::base64_decode("Zm9v\nYmE").unwrap(), b"fooba");
        assert!(super::base64_decode("Zm9v!").is_err());
    }
}
