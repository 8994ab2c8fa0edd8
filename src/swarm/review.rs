//! `swarm_review`: what merging a worker would bring, before the coordinator merges
//! it, read without changing anything: the worker's outcome, its diffstat against the commit
//! it started from, the files it changed outside its reserved `files` (the write guard sees
//! only OpenCode's writing tools, not a shell's writes), and whether it merges cleanly into
//! the coordinator's HEAD (a dry run: `git merge-tree`). The report stays under 2 KB whatever
//! the worker touched: lists are cut, with how many more.
use super::worktree::inspect::{Change, Look};
use super::worktree::list_of;
use super::Apiary;
use crate::api::{ReviewArgs, ReviewReply};
use crate::error::ToolError;
use crate::event::CompletionStatus;
use crate::glob::owns;
use crate::host::Host;
use crate::projection::WorkerState;
use crate::text::excerpt;

/// Files shown with their line counts, and names shown in the other lists.
const SHOWN_CHANGES: usize = 8;
const SHOWN_NAMES: usize = 4;
/// The longest path shown (in bytes), summary and list of owned files (in characters): with
/// the longest of each, and every list full, a report stays under 2 KB.
const PATH_BYTES: usize = 60;
const SUMMARY_CHARS: usize = 120;
const OWNED_CHARS: usize = 60;

/// `path`, cut at its start when long: the file's own name is at its end.
fn shown(path: &str) -> String {
    if path.len() <= PATH_BYTES {
        return path.to_string();
    }
    let mut start = path.len() - PATH_BYTES + 3;
    while !path.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &path[start..])
}

/// Up to `SHOWN_NAMES` paths, cut, then how many more.
fn names(paths: &[String]) -> String {
    let cut: Vec<String> = paths.iter().map(|p| shown(p)).collect();
    list_of(
        &cut.iter().map(String::as_str).collect::<Vec<_>>(),
        SHOWN_NAMES,
    )
}

fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// The diffstat: its total line, then one line per file up to `SHOWN_CHANGES`.
fn diffstat(changes: &[Change]) -> String {
    let (mut added, mut deleted) = (0, 0);
    for c in changes {
        // `-` for a binary file: no lines.
        added += c.added.parse::<u64>().unwrap_or(0);
        deleted += c.deleted.parse::<u64>().unwrap_or(0);
    }
    let mut out = format!(
        "changes against its base: {}, +{added} -{deleted}",
        plural(changes.len(), "file"),
    );
    for c in changes.iter().take(SHOWN_CHANGES) {
        out += &match c.added.as_str() {
            "-" => format!("\n  {} binary", shown(&c.path)),
            _ => format!("\n  {} +{} -{}", shown(&c.path), c.added, c.deleted),
        };
    }
    if changes.len() > SHOWN_CHANGES {
        out += &format!("\n  and {} more", changes.len() - SHOWN_CHANGES);
    }
    out
}

impl<H: Host> Apiary<H> {
    pub async fn worktree_review(&self, args: &ReviewArgs) -> Result<ReviewReply, ToolError> {
        self.widen();
        let (w, _, _) = self.worker_with_worktree(&args.bead_id).await?;
        let bead = &w.bead_id;
        let state = w.state.name();
        let said = w.error.as_deref().or(w.summary.as_deref()).unwrap_or("");
        let mut output = format!("{bead} {state}");
        if !said.is_empty() {
            output += &format!(": {}", excerpt(said, SUMMARY_CHARS));
        }
        let work = match self.inspect(&w, None, Look::All).await? {
            Ok(work) => work,
            Err(why) => {
                return Ok(ReviewReply {
                    title: format!("{bead}: not on origin"),
                    output: format!("{output}\n{why}"),
                    files: Vec::new(),
                    outside: Vec::new(),
                    conflicts: Vec::new(),
                    blocked: Vec::new(),
                })
            }
        };
        let changes = &work.changes;
        let files: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        let outside: Vec<String> = files
            .iter()
            .filter(|f| !w.files.iter().any(|p| owns(p, f)))
            .cloned()
            .collect();
        let (conflicts, blocked) = (work.conflicts, work.blocked);

        output += &format!("\n{}", diffstat(changes));
        if let Some(n) = &work.snapshot {
            output += &format!(
                "\nbase: your HEAD + {} (not counted above, not merged)",
                plural(n.parse().unwrap_or(0), "uncommitted file")
            );
        }
        let owned = if w.files.is_empty() {
            "it owns none".to_string()
        } else {
            excerpt(&w.files.join(", "), OWNED_CHARS)
        };
        output += &format!("\noutside its files ({owned}): ");
        output += &match outside.len() {
            0 => "none".to_string(),
            _ => names(&outside),
        };
        output += "\nmerge into your HEAD: ";
        output += &match conflicts.len() {
            0 => "clean".to_string(),
            n => format!("{}: {}", plural(n, "conflict"), names(&conflicts)),
        };
        if !blocked.is_empty() {
            output += &format!(
                "\nthe merge is refused while your tree has uncommitted changes to: {}",
                names(&blocked)
            );
        }
        let verdict = match conflicts.len() {
            0 => format!("clean, {}", plural(files.len(), "file")),
            n => plural(n, "conflict"),
        };
        let succeeded = w.state == WorkerState::Completed(CompletionStatus::Success);
        let mut title = format!("{bead}: {verdict}");
        if !succeeded {
            title = format!("{bead} {state}: {verdict}");
        }
        if !outside.is_empty() {
            title += &format!(", {} outside", outside.len());
        }
        Ok(ReviewReply {
            title,
            output,
            files,
            outside,
            conflicts,
            blocked,
        })
    }
}
