//! The integrity chain: every line ends with `"h"`, the first 8 bytes of
//! sha256(previous line's h, as hex ‖ this line without its h), in hex.
//!
//! A changed line breaks its own link; a missing line breaks the next one; so damage anywhere
//! in the middle is found and named by line. The hash is cut to 64 bits: enough to catch
//! accidents at 24 bytes a line, not meant to resist forgery. v1 lines carry no `h`: the chain
//! runs through them (their link is computed, not checked), so a v2 line after them still
//! covers them.
use sha2::{Digest, Sha256};

use crate::text::hex;

/// `,"h":"` + 16 hex digits + `"}`.
const SUFFIX_LEN: usize = 24;
const SUFFIX_HEAD: &str = ",\"h\":\"";

fn link(prev: &str, body_without_brace: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(body_without_brace.as_bytes());
    hasher.update(b"}");
    hex(&hasher.finalize()[..8])
}

/// Seals an encoded JSON object (ending in `}`) with its link; returns the line and its h.
pub fn seal(prev: &str, object: &str) -> (String, String) {
    let open = object
        .strip_suffix('}')
        .expect("an encoded object ends with }");
    let h = link(prev, open);
    (format!("{open}{SUFFIX_HEAD}{h}\"}}"), h)
}

/// The h a line carries, if it has one.
pub fn stored(line: &str) -> Option<&str> {
    let tail = line.get(line.len().checked_sub(SUFFIX_LEN)?..)?;
    let h = tail.strip_prefix(SUFFIX_HEAD)?.strip_suffix("\"}")?;
    h.bytes().all(|b| b.is_ascii_hexdigit()).then_some(h)
}

/// Checks a line's link and returns its h (computed, for a line that carries none).
pub fn verify(prev: &str, line: &str, must_carry: bool) -> Result<String, String> {
    match stored(line) {
        Some(h) => {
            let expected = link(prev, &line[..line.len() - SUFFIX_LEN]);
            if h == expected {
                Ok(expected)
            } else {
                Err(
                    "checksum mismatch: this line was changed, or a line before it is missing"
                        .to_string(),
                )
            }
        }
        None if must_carry => Err("missing checksum field `h`".to_string()),
        None => Ok(link(prev, line.strip_suffix('}').unwrap_or(line))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_verifies_and_links_to_the_next() {
        let (a, ha) = seal("", r#"{"seq":1,"x":1}"#);
        assert!(a.ends_with(&format!(",\"h\":\"{ha}\"}}")));
        assert_eq!(verify("", &a, true), Ok(ha.clone()));
        let (b, hb) = seal(&ha, r#"{"seq":2}"#);
        assert_eq!(verify(&ha, &b, true), Ok(hb));
    }

    #[test]
    fn a_changed_byte_breaks_the_link() {
        let (a, _) = seal("", r#"{"seq":1,"x":1}"#);
        let changed = a.replacen("\"x\":1", "\"x\":2", 1);
        assert!(verify("", &changed, true)
            .unwrap_err()
            .starts_with("checksum mismatch"));
    }

    #[test]
    fn a_missing_line_breaks_the_next_link() {
        let (_, ha) = seal("", r#"{"seq":1}"#);
        let (b, hb) = seal(&ha, r#"{"seq":2}"#);
        let (c, _) = seal(&hb, r#"{"seq":3}"#);
        assert!(verify(&ha, &b, true).is_ok());
        assert!(verify(&ha, &c, true).is_err());
    }

    #[test]
    fn a_line_without_h_is_linked_but_not_checked_unless_required() {
        let legacy = r#"{"seq":1,"v":1}"#;
        let h = verify("", legacy, false).unwrap();
        assert_eq!(h.len(), 16);
        assert!(verify("", legacy, true).is_err());
        let (next, _) = seal(&h, r#"{"seq":2}"#);
        assert!(verify(&h, &next, true).is_ok());
    }

    #[test]
    fn stored_h_needs_the_exact_suffix() {
        assert_eq!(
            stored(r#"{"a":1,"h":"0123456789abcdef"}"#),
            Some("0123456789abcdef")
        );
        assert_eq!(stored(r#"{"a":1,"h":"0123456789abcdeg"}"#), None);
        assert_eq!(stored("{}"), None);
    }
}
