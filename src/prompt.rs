//! The prompt a worker session starts with: its task, its files, and the protocol it follows.
//!
//! Each section is a function of its own so it can be tested alone; `format` puts them in
//! order. The prompt's sha256 is recorded at spawn (`prompt_hash`), so the text must be a pure
//! function of its inputs.
use std::fmt::Write;

/// Everything a worker prompt is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerPrompt<'a> {
    pub bead_id: &'a str,
    pub epic_id: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub files: &'a [String],
    pub working_directory: &'a str,
    /// The worker's own branch, when it works in a git worktree.
    pub branch: Option<&'a str>,
    pub shared_context: Option<&'a str>,
    /// A retry: the attempt number and why the attempt before ended.
    pub retry: Option<(u32, &'a str)>,
}

impl WorkerPrompt<'_> {
    pub fn format(&self) -> String {
        [
            self.header(),
            self.task(),
            self.files_owned(),
            self.read_only(),
            self.success_criteria(),
            self.working_directory(),
            self.shared_context(),
            self.protocol(),
        ]
        .join("\n")
            + &self.retry_note()
    }

    /// Only on a retry: the worker knows an earlier attempt may have left changes.
    fn retry_note(&self) -> String {
        match self.retry {
            None => String::new(),
            Some((attempt, why)) => format!(
                "\n## This is attempt {attempt}\nThe attempt before ended without finishing: \
                 {why}. Its changes, if any, are still in your working directory: check them \
                 before you go on.\n"
            ),
        }
    }

    fn header(&self) -> String {
        format!(
            "# Apiary worker: {} (epic {})\n\nYou are a worker in an Apiary swarm. A coordinator \
             started you in the background and follows your progress through an event log; it \
             does not see this conversation. Work on your task alone and report through the \
             tools named below.\n",
            self.bead_id, self.epic_id
        )
    }

    fn task(&self) -> String {
        let mut s = format!("## Your task: {}\n", self.title.trim());
        if let Some(d) = self.description.map(str::trim).filter(|d| !d.is_empty()) {
            let _ = writeln!(s, "\n{d}");
        }
        s
    }

    fn files_owned(&self) -> String {
        let mut s = String::from("## Files you own (you may modify only these)\n");
        if self.files.is_empty() {
            s.push_str("None: do not modify any file; report what you find.\n");
        }
        for f in self.files {
            let _ = writeln!(s, "- `{f}`");
        }
        s
    }

    fn read_only(&self) -> String {
        "## Everything else is read-only\nRead any file you need, but do not modify files outside \
         the list above: other workers may own them. If your task needs such a change, say so \
         with status \"blocked\".\n"
            .to_string()
    }

    fn success_criteria(&self) -> String {
        format!(
            "## Success criteria\n- The task \"{}\" is done, within the files you own.\n- Your \
             changes build and their tests pass, where the project has them.\n- You called \
             `swarm_complete` with a summary a reviewer can act on.\n",
            self.title.trim()
        )
    }

    fn working_directory(&self) -> String {
        let mut s = format!(
            "## Working directory\n`{}`\n",
            self.working_directory.trim()
        );
        if let Some(branch) = self.branch {
            let _ = writeln!(
                s,
                "It is your own git worktree, on branch `{branch}`: work only there. Do not \
                 commit, push or switch branches; the coordinator merges your changes."
            );
        }
        s
    }

    fn shared_context(&self) -> String {
        match self.shared_context.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => format!("## Context from the coordinator\n{c}\n"),
            None => "## Context from the coordinator\nNone given.\n".to_string(),
        }
    }

    fn protocol(&self) -> String {
        let bead = self.bead_id;
        format!(
            "## Protocol (follow it exactly)\n\
             1. Report progress at each meaningful step: `swarm_progress {{ bead_id: \"{bead}\", \
             progress_percent: <0-100>, message: \"<what is done>\" }}`.\n\
             2. If you need an answer to go on, ask: `swarm_send {{ to: [\"coordinator\"], \
             subject: \"<question>\", body: \"<details>\", importance: \"high\" }}`, then end \
             your turn; the answer reaches you as a message. Check `swarm_inbox` when you start \
             and between steps. If you cannot go on at all (missing access, a file you do not \
             own), call `swarm_complete {{ bead_id: \"{bead}\", status: \"blocked\", summary: \
             \"<what you need>\", files_touched: [] }}`.\n\
             3. When done, call `swarm_complete {{ bead_id: \"{bead}\", summary: \"<what you \
             did>\", files_touched: [<files you changed>] }}`. Do not end your turn without it: \
             a worker that stops without it is reported as needing review.\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<String> {
        vec!["src/auth/**".into(), "tests/auth.rs".into()]
    }

    fn prompt(files: &[String]) -> WorkerPrompt<'_> {
        WorkerPrompt {
            branch: None,
            retry: None,
            bead_id: "bd-7",
            epic_id: "ep-auth",
            title: "Add login",
            description: Some("Implement POST /login.\nUse argon2."),
            files,
            working_directory: "/repo",
            shared_context: Some("The API uses axum."),
        }
    }

    #[test]
    fn the_header_names_the_bead_and_the_epic() {
        let f = files();
        assert!(prompt(&f)
            .header()
            .starts_with("# Apiary worker: bd-7 (epic ep-auth)"));
    }

    #[test]
    fn the_task_section_holds_the_title_and_the_whole_description() {
        let f = files();
        let s = prompt(&f).task();
        assert!(s.starts_with("## Your task: Add login\n"));
        assert!(s.contains("Implement POST /login.\nUse argon2."));
        let no_desc = WorkerPrompt {
            description: Some("  "),
            ..prompt(&f)
        };
        assert_eq!(no_desc.task(), "## Your task: Add login\n");
    }

    #[test]
    fn the_files_section_lists_each_owned_path() {
        let f = files();
        let s = prompt(&f).files_owned();
        assert!(s.contains("- `src/auth/**`\n- `tests/auth.rs`\n"));
        assert!(prompt(&[])
            .files_owned()
            .contains("None: do not modify any file"));
    }

    #[test]
    fn the_read_only_section_tells_the_worker_to_report_blocked_instead() {
        let f = files();
        assert!(prompt(&f).read_only().contains("status \"blocked\""));
    }

    #[test]
    fn the_success_criteria_require_swarm_complete() {
        let f = files();
        let s = prompt(&f).success_criteria();
        assert!(s.contains("\"Add login\""));
        assert!(s.contains("`swarm_complete`"));
    }

    #[test]
    fn the_working_directory_section_names_the_directory() {
        let f = files();
        assert_eq!(
            prompt(&f).working_directory(),
            "## Working directory\n`/repo`\n"
        );
    }

    #[test]
    fn in_a_worktree_the_worker_is_told_its_branch_and_to_leave_git_to_the_coordinator() {
        let f = files();
        let in_tree = WorkerPrompt {
            working_directory: "/repo/.apiary/worktrees/bd-7",
            branch: Some("apiary/bd-7"),
            ..prompt(&f)
        };
        let s = in_tree.working_directory();
        assert!(s.starts_with("## Working directory\n`/repo/.apiary/worktrees/bd-7`\n"));
        assert!(
            s.contains("your own git worktree, on branch `apiary/bd-7`"),
            "{s}"
        );
        assert!(s.contains("Do not commit, push or switch branches"), "{s}");
    }

    #[test]
    fn the_shared_context_section_says_when_there_is_none() {
        let f = files();
        assert!(prompt(&f).shared_context().contains("The API uses axum."));
        let none = WorkerPrompt {
            shared_context: None,
            ..prompt(&f)
        };
        assert!(none.shared_context().contains("None given."));
    }

    #[test]
    fn the_protocol_spells_out_the_calls_with_this_bead_id() {
        let f = files();
        let s = prompt(&f).protocol();
        assert!(s.contains("swarm_progress { bead_id: \"bd-7\""));
        assert!(s.contains("swarm_complete { bead_id: \"bd-7\", status: \"blocked\""));
        assert!(s.contains("swarm_complete { bead_id: \"bd-7\", summary:"));
    }

    /// The whole prompt, byte for byte. After an intended change, rewrite the golden file with
    /// `APIARY_UPDATE_GOLDEN=1 cargo test`.
    #[test]
    fn the_whole_prompt_matches_the_golden_file() {
        let f = files();
        let actual = prompt(&f).format();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/worker_prompt.md");
        if std::env::var_os("APIARY_UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(path).expect("golden file present");
        assert_eq!(actual, expected);
    }
}
