//! Validation of the identifiers and free text a coordinator passes to the tools.
//!
//! Bead and epic ids end up in session titles, prompts, and later in branch and worktree
//! names, so they are held to a conservative alphabet: nothing that could escape a path.
use crate::error::ToolError;

pub const MAX_ID_LEN: usize = 64;

/// Checks a short identifier such as `bd-12.3` or `epic_auth`.
pub fn check_id(field: &'static str, value: &str) -> Result<(), ToolError> {
    if value.is_empty() {
        return Err(ToolError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(ToolError::invalid(
            field,
            format!("is {} bytes long; the limit is {MAX_ID_LEN}", value.len()),
        ));
    }
    if value.contains("..") {
        return Err(ToolError::invalid(
            field,
            format!("{value:?} contains `..`"),
        ));
    }
    if value.starts_with('.') || value.starts_with('-') {
        return Err(ToolError::invalid(
            field,
            format!("{value:?} must start with a letter, digit or `_`"),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        let shown = if bad.is_control() {
            format!("control character U+{:04X}", bad as u32)
        } else {
            format!("{bad:?}")
        };
        return Err(ToolError::invalid(
            field,
            format!("{value:?} contains {shown}; allowed are letters, digits and - _ . :"),
        ));
    }
    Ok(())
}

/// Checks free text (titles, descriptions, summaries): bounded, and free of control characters
/// other than newlines and tabs, which would garble the prompt or the log's readability.
pub fn check_text(
    field: &'static str,
    value: &str,
    max_len: usize,
    required: bool,
) -> Result<(), ToolError> {
    if required && value.trim().is_empty() {
        return Err(ToolError::invalid(field, "must not be empty"));
    }
    if value.len() > max_len {
        return Err(ToolError::invalid(
            field,
            format!("is {} bytes long; the limit is {max_len}", value.len()),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(ToolError::invalid(
            field,
            format!("contains control character U+{:04X}", bad as u32),
        ));
    }
    Ok(())
}

/// Checks the length of a list argument.
pub fn check_count(field: &'static str, len: usize, max: usize) -> Result<(), ToolError> {
    if len > max {
        return Err(ToolError::invalid(
            field,
            format!("has {len} entries; the limit is {max}"),
        ));
    }
    Ok(())
}

/// Checks a file path or glob a worker owns: relative to the repository, inside it.
pub fn check_file_pattern(value: &str) -> Result<(), ToolError> {
    const FIELD: &str = "files";
    if value.trim().is_empty() {
        return Err(ToolError::invalid(FIELD, "contains an empty path"));
    }
    if value.len() > 512 {
        return Err(ToolError::invalid(FIELD, "a path is longer than 512 bytes"));
    }
    if value.starts_with('/') || value.starts_with('\\') || value.get(1..2) == Some(":") {
        return Err(ToolError::invalid(
            FIELD,
            format!("{value:?} is absolute; give paths relative to the repository"),
        ));
    }
    if value.split(['/', '\\']).any(|part| part == "..") {
        return Err(ToolError::invalid(
            FIELD,
            format!("{value:?} leaves the repository (`..`)"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            FIELD,
            format!("{value:?} contains a control character"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_bead_ids_are_accepted() {
        for id in ["bd-1", "bd-xxx.0", "epic_auth", "E42", "task:7"] {
            assert_eq!(check_id("bead_id", id), Ok(()), "{id}");
        }
    }

    #[test]
    fn ids_that_could_escape_a_path_are_refused() {
        for id in ["a/b", "..", "a..b", "../x", "a\\b", ".hidden", "-rf"] {
            let err = check_id("bead_id", id).unwrap_err().to_string();
            assert!(err.starts_with("invalid argument `bead_id`"), "{id}: {err}");
        }
    }

    #[test]
    fn control_characters_in_ids_are_named() {
        let err = check_id("epic_id", "e\u{7}1").unwrap_err().to_string();
        assert!(err.contains("U+0007"), "{err}");
    }

    #[test]
    fn empty_and_overlong_ids_are_refused() {
        assert!(check_id("epic_id", "").is_err());
        assert!(check_id("epic_id", &"a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(check_id("epic_id", &"a".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn text_allows_newlines_but_not_other_control_characters() {
        assert!(check_text("title", "a\nb\tc", 100, true).is_ok());
        assert!(check_text("title", "a\u{0}b", 100, true).is_err());
        assert!(check_text("title", "  ", 100, true).is_err());
        assert!(check_text("description", "", 100, false).is_ok());
    }

    #[test]
    fn file_patterns_must_stay_inside_the_repository() {
        for ok in ["src/**", "src/a.rs", "*.md", "./docs/x.md"] {
            assert!(check_file_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["/etc/passwd", "../x", "src/../../x", "C:\\x", ""] {
            assert!(check_file_pattern(bad).is_err(), "{bad}");
        }
    }
}
