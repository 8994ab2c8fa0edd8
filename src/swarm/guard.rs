//! Files a worker owns, enforced: the plugin's `tool.execute.before` hook hands every edit,
//! write and patch call here before it runs, and a worker's call on a file outside the paths
//! and globs it was given is refused with what it owns. Reading is never checked; sessions
//! that are not workers (the coordinator, the user's own) are left alone.
use super::Apiary;
use crate::error::ToolError;
use crate::glob::{owns, relative_to};
use crate::host::Host;
use crate::json::json_fields;
use crate::projection::Worker;

/// The tools that change files, by their OpenCode names.
pub const WRITE_TOOLS: &[&str] = &["edit", "write", "multiedit", "patch", "apply_patch"];

/// The arguments of a writing tool that name files.
#[derive(Debug, Default)]
pub struct WriteArgs {
    pub file_path: Option<String>,
    pub patch_text: Option<String>,
}

// The tools' own names; their other arguments are passed over.
json_fields!(WriteArgs {
    opt file_path = "filePath",
    opt patch_text = "patchText",
});

/// The files a call names: `filePath`, and every file a patch adds, updates, deletes or moves.
fn named_files(args: &WriteArgs) -> Vec<String> {
    let mut out: Vec<String> = args.file_path.iter().cloned().collect();
    for line in args.patch_text.as_deref().unwrap_or_default().lines() {
        let named = [
            "*** Add File: ",
            "*** Update File: ",
            "*** Delete File: ",
            "*** Move to: ",
        ]
        .iter()
        .find_map(|p| line.strip_prefix(p));
        if let Some(path) = named {
            out.push(path.trim().to_string());
        }
    }
    out
}

/// Why the worker may not write `path`, if it may not.
fn refusal(w: &Worker, root: &str, path: &str) -> Option<String> {
    let owned = if w.files.is_empty() {
        "no files".to_string()
    } else {
        format!("only {}", w.files.join(", "))
    };
    let Some(relative) = relative_to(root, path) else {
        return Some(format!(
            "{} owns {owned}; {path} is outside its working directory {root}",
            w.bead_id
        ));
    };
    if w.files.iter().any(|p| owns(p, &relative)) {
        return None;
    }
    Some(format!(
        "{} owns {owned}; {relative} is not one of them",
        w.bead_id
    ))
}

impl<H: Host> Apiary<H> {
    /// Refuses a worker's writing tool call on a file it does not own.
    pub async fn guard_write(
        &self,
        session_id: &str,
        tool: &str,
        args: &WriteArgs,
    ) -> Result<(), ToolError> {
        if !self.options.enforce_files || !WRITE_TOOLS.contains(&tool) {
            return Ok(());
        }
        if self.log().swarm().session(session_id).is_none() {
            self.refresh().await?;
        }
        let Some(w) = self.log().swarm().session(session_id).cloned() else {
            return Ok(());
        };
        let Some(root) = w.directory.clone() else {
            return Ok(());
        };
        let files = named_files(args);
        if files.is_empty() {
            return Err(ToolError::Refused(format!(
                "{tool} names no file Apiary can check; {} may change only its own files",
                w.bead_id
            )));
        }
        for path in files {
            if let Some(why) = refusal(&w, &root, &path) {
                return Err(ToolError::Refused(format!(
                    "{why}. Nothing was changed. Read any file you need; to change one you do \
                     not own, finish with swarm_complete status \"blocked\" and name it."
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, FromJson};

    fn read(text: &str) -> Result<WriteArgs, String> {
        Ok(WriteArgs::from_json(&parse(text)?)?)
    }

    #[test]
    fn a_writing_calls_file_and_patch_are_read_by_the_tools_names_and_the_rest_passed_over() {
        let args = read(r#"{"filePath":"/r/a.rs","oldString":"x","newString":"y"}"#).unwrap();
        assert_eq!(args.file_path.as_deref(), Some("/r/a.rs"));
        assert_eq!(args.patch_text, None);
        let args = read(r#"{"patchText":"*** Add File: b.rs","file_path":7}"#).unwrap();
        assert_eq!(named_files(&args), ["b.rs"]);
        assert_eq!(
            read(r#"{"filePath":["a"]}"#).unwrap_err(),
            "`filePath`: expected a string, got a list"
        );
    }
}
