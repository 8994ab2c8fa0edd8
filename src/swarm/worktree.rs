//! Git worktrees: each worker edits its own checkout, on its own branch, in
//! `<repository>/.apiary/worktrees/<bead>` (a folder git is told to ignore), so that parallel
//! workers never write into each other's files or into the coordinator's tree.
//! `swarm_worktree_merge` brings a finished worker's branch back; `swarm_worktree_cleanup`
//! removes what was merged, and what has nothing to merge. `swarm_review` (`review`)
//! tells what a merge would bring, beforehand.
use std::future::Future;

use sha2::{Digest, Sha256};

use super::Apiary;
use crate::api::{CleanupArgs, MergeArgs, MergeReply, Reply};
use crate::error::{HostError, ToolError};
use crate::event::CompletionStatus;
use crate::event::{BranchMark, EventBody, WorktreeRemoved};
use crate::host::{GitOutput, Host};
use crate::ids::check_id;
use crate::projection::{Worker, WorkerState};
use crate::text::{excerpt, hex};

pub(super) mod inspect;
use inspect::Look;
pub(super) mod pool;
pub(super) mod script;

/// Where the worktrees live, relative to the repository's top level.
pub(crate) const WORKTREES: &str = ".apiary/worktrees";

/// Where a worker's session runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Placement {
    pub directory: String,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    pub links: Vec<String>,
    /// Why the worker shares the coordinator's directory, when worktrees are on.
    pub note: Option<String>,
    /// The server a new worktree was made on for this start (not one an earlier attempt left).
    pub made_on: Option<String>,
}

impl Placement {
    /// A worker in the worktree at `path`, on `branch`.
    pub(super) fn in_worktree(
        path: String,
        branch: String,
        links: Vec<String>,
        made_on: Option<String>,
    ) -> Self {
        Placement {
            directory: path.clone(),
            worktree: Some(path),
            branch: Some(branch),
            links,
            note: None,
            made_on,
        }
    }
}

/// The folder and branch name of a bead's worktree. Bead ids are already held to letters,
/// digits and `- _ . :`; the few that git refuses in a branch name (`:`, a trailing `.` or
/// `.lock`) get a readable name plus a hash of the id, so two ids never share a worktree.
pub(crate) fn worktree_name(bead: &str) -> String {
    if !bead.contains(':') && !bead.ends_with('.') && !bead.ends_with(".lock") {
        return bead.to_string();
    }
    let readable = bead.replace(':', "_");
    let digest = hex(&Sha256::digest(bead.as_bytes()));
    format!("{}-{}", readable.trim_end_matches('.'), &digest[..8])
}

/// `stdout` of a git command that succeeded, trimmed; its first error line otherwise.
pub(super) fn ok(out: GitOutput, what: &'static str) -> Result<String, ToolError> {
    if out.code == 0 {
        return Ok(out.stdout.trim().to_string());
    }
    let why = out
        .stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    Err(HostError::new(what, format!("exit {}: {why}", out.code)).into())
}

/// The repository a worktree belongs to: the path before `/.apiary/worktrees/<name>`.
pub(super) fn root_of(worktree: &str) -> &str {
    worktree
        .rsplit_once(&format!("/{WORKTREES}/"))
        .map_or(worktree, |(root, _)| root)
}

impl<H: Host> Apiary<H> {
    pub(super) async fn git(&self, cwd: &str, args: &[&str]) -> Result<GitOutput, ToolError> {
        Ok(self.host.git(cwd, args).await?)
    }

    /// Gives a bead its worktree (new, or the one an earlier attempt left), or says why the
    /// worker shares the coordinator's directory.
    pub(super) async fn place(&self, directory: &str, bead: &str) -> Result<Placement, ToolError> {
        let shared = |note: Option<String>| Placement {
            directory: directory.to_string(),
            note,
            ..Placement::default()
        };
        if !self.options.worktrees {
            return Ok(shared(None));
        }
        let root = match self.worktree_root(directory).await? {
            Ok(root) => root,
            Err(note) => return Ok(shared(Some(note))),
        };
        let name = worktree_name(bead);
        let branch = format!("apiary/{name}");
        let _turn = self.git_gate.enter().await;
        // The bead's own checkout first, wherever it is: an earlier attempt's (its edits are
        // there), or a pooled one a start took and then gave up; then a ready one of the pool;
        // else a new one.
        let (path, links) = self.checkout_for(&root, &name, &branch).await?;
        Ok(Placement::in_worktree(path, branch, links, None))
    }

    /// The top level of the repository workers of `directory` get their worktrees in, or why
    /// they share `directory`. A repository with a commit stays one, so its top level is
    /// remembered: a spawn's reply names the worktree without running git.
    pub(super) async fn worktree_root(
        &self,
        directory: &str,
    ) -> Result<Result<String, String>, ToolError> {
        if let Some(root) = self.repo_roots.borrow().get(directory) {
            return Ok(Ok(root.clone()));
        }
        let top = match self
            .host
            .git(directory, &["rev-parse", "--show-toplevel"])
            .await
        {
            Ok(top) if top.code == 0 => top,
            Ok(_) => {
                return Ok(Err(
                    "not a git repository: the worker edits your directory".into()
                ))
            }
            Err(e) => return Ok(Err(format!("{e}: the worker edits your directory"))),
        };
        let root = top.stdout.trim().to_string();
        if self
            .git(&root, &["rev-parse", "--verify", "-q", "HEAD"])
            .await?
            .code
            != 0
        {
            return Ok(Err(
                "the repository has no commit yet: the worker edits your directory (commit once \
                 to give workers their own worktrees)"
                    .into(),
            ));
        }
        self.repo_roots
            .borrow_mut()
            .insert(directory.to_string(), root.clone());
        Ok(Ok(root))
    }

    /// Runs `step` until it succeeds, `attempts` times at most, waiting a little longer each
    /// time (`pause_ms` more, plus up to `pause_ms` of jitter so that racing processes part).
    pub(super) async fn retrying<T, F: Future<Output = Result<T, ToolError>>>(
        &self,
        attempts: u64,
        pause_ms: u64,
        mut step: impl FnMut() -> F,
    ) -> Result<T, ToolError> {
        let mut attempt = 0;
        loop {
            match step().await {
                Ok(done) => return Ok(done),
                Err(e) => {
                    attempt += 1;
                    if attempt >= attempts {
                        return Err(e);
                    }
                    self.host
                        .sleep(pause_ms * attempt + self.host.now_ms() % pause_ms)
                        .await;
                }
            }
        }
    }

    /// `-c user.name=… -c user.email=…` where the repository has no identity of its own, so a
    /// commit never fails for want of one.
    async fn identity(&self, cwd: &str) -> Result<Vec<&'static str>, ToolError> {
        let known = self.git(cwd, &["config", "user.email"]).await?.code == 0;
        Ok(if known {
            Vec::new()
        } else {
            vec![
                "-c",
                "user.name=Apiary",
                "-c",
                "user.email=apiary@localhost",
            ]
        })
    }

    /// The latest worker of `bead`, with its worktree and branch; refused when it never had
    /// one or it was removed.
    pub(super) async fn worker_with_worktree(
        &self,
        bead: &str,
    ) -> Result<(Worker, String, String), ToolError> {
        check_id("bead_id", bead)?;
        self.refresh().await?;
        let w: Worker =
            self.log().swarm().bead(bead).cloned().ok_or_else(|| {
                ToolError::Refused(format!("no worker was spawned for bead {bead}"))
            })?;
        let (Some(path), Some(branch)) = (w.worktree.clone(), w.branch.clone()) else {
            return Err(ToolError::Refused(format!(
                "{bead} has no worktree (it worked in the coordinator's directory): nothing to merge"
            )));
        };
        if w.worktree_removed {
            return Err(ToolError::Refused(format!(
                "the worktree of {bead} was removed"
            )));
        }
        Ok((w, path, branch))
    }

    pub async fn worktree_merge(&self, args: &MergeArgs) -> Result<MergeReply, ToolError> {
        self.widen();
        let (w, path, branch) = self.worker_with_worktree(&args.bead_id).await?;
        if w.state.is_active() {
            return Err(ToolError::Refused(format!(
                "{} is still {}; wait for it (swarm_await_workers) before merging",
                w.bead_id,
                w.state.name()
            )));
        }
        // A worker that did not succeed may have left half a change: merged only on purpose.
        let succeeded = w.state == WorkerState::Completed(CompletionStatus::Success);
        let forced = !succeeded && args.force == Some(true);
        if !succeeded && !forced {
            let why = w.error.as_deref().or(w.summary.as_deref()).unwrap_or("");
            return Err(ToolError::Refused(format!(
                "not merged: the worker of {} did not succeed ({}{}{}). Nothing was changed. \
                 See its work with swarm_review; merge with force: true to take it \
                 anyway.",
                w.bead_id,
                w.state.name(),
                if why.is_empty() { "" } else { ": " },
                excerpt(why, 160)
            )));
        }
        let outcome = format!(
            "worker {}{}",
            w.state.name(),
            if forced { ", forced" } else { "" }
        );
        // Merges of one instance take turns: a coordinator may ask for several in one step,
        // and git allows one at a time in a repository.
        let _turn = self.git_gate.enter().await;
        // A worker here left its work in its worktree; one on another server, on `origin`.
        let (root, target) = if w.server.is_some() {
            self.fetch_pushed(&w).await?
        } else {
            self.commit_worker_changes(&w, &path).await?;
            (root_of(&path).to_string(), branch.clone())
        };
        // Git refuses to overwrite uncommitted files only for some of them, and mid-way: the
        // files both the branch and the coordinator's uncommitted changes hold stop it before.
        let work = match self.inspect(&w, Some(&target), Look::Files).await? {
            Ok(work) => work,
            Err(why) => return Err(ToolError::Refused(why)),
        };
        let blocked = work.blocked;
        // A worker that started from the coordinator's uncommitted files: only its own
        // changes are merged (those files stay the coordinator's, uncommitted).
        let target = work.tip.unwrap_or(target);
        if !blocked.is_empty() {
            let names: Vec<&str> = blocked.iter().map(String::as_str).collect();
            return Err(ToolError::Refused(format!(
                "not merged: {} ({outcome}) changes {} file{} your tree has uncommitted changes \
                 to: {}. Your tree was not changed. Commit or stash them, then merge again.",
                w.bead_id,
                blocked.len(),
                if blocked.len() == 1 { "" } else { "s" },
                list(&names)
            )));
        }

        let message = format!("Merge {branch}: {}", w.title);
        let mut merge = self.identity(&root).await?;
        merge.extend(["merge", "--no-ff", "--no-edit", "-m", &message, &target]);
        let out = self.git(&root, &merge).await?;
        if out.code != 0 {
            return self.undo_failed_merge(&w, &root, out, &outcome).await;
        }
        let commit = ok(
            self.git(&root, &["rev-parse", "HEAD"]).await?,
            "git rev-parse",
        )?;
        let files = ok(
            self.git(&root, &["diff", "--name-only", "ORIG_HEAD", "HEAD"])
                .await?,
            "git diff",
        )?;
        let files: Vec<&str> = files.lines().filter(|l| !l.is_empty()).collect();
        self.log()
            .append(
                &self.host,
                self.host.now_ms(),
                &[EventBody::WorktreeMerged(BranchMark {
                    session_id: w.session_id.clone(),
                    bead_id: w.bead_id.clone(),
                    branch: branch.clone(),
                    commit: commit.clone(),
                })],
            )
            .await?;
        let short = &commit[..commit.len().min(10)];
        // Merged work is safe in the coordinator's branch: the checkout can go (option
        // `remove_merged_worktrees`), unless the worker may still run again.
        let mut removed = String::new();
        if self.options.remove_merged_worktrees && w.state.is_final() {
            match self.remove_worktree(&w).await? {
                Ok(event) => {
                    self.log()
                        .append(&self.host, self.host.now_ms(), &[event])
                        .await?;
                    removed = "; its worktree and branch were removed".into();
                }
                Err(e) => removed = format!("; its worktree was kept ({e})"),
            }
        }
        let output = if files.is_empty() {
            format!(
                "nothing to merge: {branch} ({outcome}) has no changes; your branch is at {short}"
            )
        } else {
            format!(
                "merged {branch} ({outcome}) into your branch at {short}: {} file{} changed: {}",
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                list(&files)
            )
        } + &removed;
        Ok(MergeReply {
            title: if forced {
                format!("merged {} ({})", w.bead_id, w.state.name())
            } else {
                format!("merged {}", w.bead_id)
            },
            output,
            merged: true,
            conflicts: Vec::new(),
            commit: Some(commit),
        })
    }

    /// Commits whatever the worker left uncommitted in its worktree, leaving out the links
    /// made for OpenCode.
    pub(super) async fn commit_worker_changes(
        &self,
        w: &Worker,
        path: &str,
    ) -> Result<(), ToolError> {
        let excludes = script::commit_excludes(&w.config_links);
        let mut add = vec!["add", "-A", "--", "."];
        add.extend(excludes.iter().map(String::as_str));
        ok(self.git(path, &add).await?, "git add")?;
        let staged = self.git(path, &["diff", "--cached", "--quiet"]).await?.code != 0;
        if staged {
            let message = format!("{}: {}", w.bead_id, w.title);
            let mut commit = self.identity(path).await?;
            commit.extend(["commit", "-q", "--no-verify", "-m", &message]);
            ok(self.git(path, &commit).await?, "git commit")?;
        }
        Ok(())
    }

    /// A merge that stopped: conflicts are reported by file after `git merge --abort`, so the
    /// coordinator's tree is never left half-merged; any other refusal is reported as git gave it.
    async fn undo_failed_merge(
        &self,
        w: &Worker,
        root: &str,
        out: GitOutput,
        outcome: &str,
    ) -> Result<MergeReply, ToolError> {
        let conflicts = self
            .git(root, &["diff", "--name-only", "--diff-filter=U"])
            .await?
            .stdout;
        let conflicts: Vec<String> = conflicts
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let merging = self
            .git(root, &["rev-parse", "-q", "--verify", "MERGE_HEAD"])
            .await?
            .code
            == 0;
        if merging {
            ok(
                self.git(root, &["merge", "--abort"]).await?,
                "git merge --abort",
            )?;
        }
        if conflicts.is_empty() {
            let why: Vec<&str> = out
                .stderr
                .lines()
                .chain(out.stdout.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(4)
                .collect();
            return Err(ToolError::Refused(format!(
                "git refused to merge {}: {}. Nothing was merged.",
                w.bead_id,
                why.join(" ")
            )));
        }
        let names: Vec<&str> = conflicts.iter().map(String::as_str).collect();
        let worktree = w.worktree.as_deref().unwrap_or("");
        let resolve = match &w.server {
            None => format!(
                "Resolve the files in the worker's worktree {worktree} (or in yours), commit, \
                 and merge again."
            ),
            Some(server) => format!(
                "Resolve them in your tree (git merge origin/{}), or in the worker's worktree \
                 {worktree} on {server} and push it, then merge again.",
                w.branch.as_deref().unwrap_or("")
            ),
        };
        Ok(MergeReply {
            title: format!("{} not merged: {} conflicts", w.bead_id, conflicts.len()),
            output: format!(
                "not merged: {} ({outcome}) conflicts with your branch in {} file{}: {}. Your \
                 tree is as it was. {resolve}",
                w.bead_id,
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                list(&names),
            ),
            merged: false,
            conflicts,
            commit: None,
        })
    }

    /// Removes a worker's worktree, its branch and its snapshot ref, or gives a pooled one
    /// back to the pool. The inner error is git's refusal, which the caller reports without
    /// stopping. Called under the git gate.
    async fn remove_worktree(&self, w: &Worker) -> Result<Result<EventBody, String>, ToolError> {
        let path = w.worktree.as_deref().unwrap_or_default();
        let (server, root) = (w.server.as_deref(), root_of(path));
        match (&w.branch, self.pool_size(server)) {
            // A member of the pool may go back to it, warm (it is removed otherwise).
            (Some(branch), 1..) => {
                if let Err(e) = self.release_checkout(server, root, (path, branch)).await {
                    return Ok(Err(e.to_string()));
                }
                if server.is_some() {
                    let top = self.coordinator_root(w).await?;
                    self.delete_pushed(&top, branch).await?;
                }
            }
            _ if server.is_some() => {
                let top = self.coordinator_root(w).await?;
                if let Err(e) = self.remove_remote(w, &top).await? {
                    return Ok(Err(e));
                }
            }
            _ => {
                let out = self
                    .git(root, &["worktree", "remove", "--force", path])
                    .await?;
                if let Err(e) = ok(out, "git worktree remove") {
                    return Ok(Err(e.to_string()));
                }
                // Its OpenCode instance would hold memory for a directory that is gone.
                let _ = self.host.dispose_instance(None, path).await;
                // `-D` even when merged: a merge of only the worker's own changes (see
                // `inspect`) merges a commit made from the branch, not the branch.
                if let Some(branch) = &w.branch {
                    let _ = self.git(root, &["branch", "-D", branch]).await?;
                }
            }
        }
        let top = match server {
            Some(_) => self.coordinator_root(w).await?,
            None => root.to_string(),
        };
        let snapshot = format!("refs/apiary/snapshot/{}", worktree_name(&w.bead_id));
        let _ = self.git(&top, &["update-ref", "-d", &snapshot]).await?;
        Ok(Ok(EventBody::WorktreeRemoved(WorktreeRemoved {
            session_id: w.session_id.clone(),
            bead_id: w.bead_id.clone(),
            path: path.to_string(),
        })))
    }

    /// Whether a finished worker's branch and worktree hold nothing beyond what the
    /// coordinator's HEAD has: no commit, no uncommitted change. Anything it cannot tell (a
    /// branch never pushed, a git that fails) counts as work, which is kept.
    async fn has_nothing_to_merge(&self, w: &Worker) -> bool {
        matches!(self.inspect(w, None, Look::MergedIn).await, Ok(Ok(work)) if work.merged_in)
    }

    pub async fn worktree_cleanup(&self, args: &CleanupArgs) -> Result<Reply, ToolError> {
        self.widen();
        if let Some(epic) = &args.epic_id {
            check_id("epic_id", epic)?;
        }
        self.refresh().await?;
        let include_unmerged = args.include_unmerged.unwrap_or(false);
        let candidates: Vec<Worker> = {
            let swarm = self.log().swarm();
            let epics: Vec<String> = match &args.epic_id {
                Some(e) => vec![e.clone()],
                None => swarm.epic_ids().map(str::to_string).collect(),
            };
            epics
                .iter()
                .flat_map(|e| swarm.epic(e))
                .filter(|w| w.worktree.is_some() && !w.worktree_removed)
                .cloned()
                .collect()
        };
        let (mut removed, mut kept, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        let mut events = Vec::new();
        let turn = self.git_gate.enter().await;
        for w in &candidates {
            let merged = w.merged_commit.is_some();
            let unchanged = !merged
                && !include_unmerged
                && w.state.is_final()
                && self.has_nothing_to_merge(w).await;
            if w.state.is_active() || !(merged || include_unmerged || unchanged) {
                kept.push(w.bead_id.clone());
                continue;
            }
            match self.remove_worktree(w).await? {
                Ok(event) => {
                    removed.push(if unchanged {
                        format!("{} (no change)", w.bead_id)
                    } else {
                        w.bead_id.clone()
                    });
                    events.push(event);
                }
                Err(e) => failed.push(format!("{} ({e})", w.bead_id)),
            }
        }
        drop(turn);
        if !events.is_empty() {
            self.log()
                .append(&self.host, self.host.now_ms(), &events)
                .await?;
        }
        // Ready worktrees wait for starts: with none running, they go too (the next start
        // refills the pool).
        let idle = !self.log().swarm().workers().any(|w| w.state.is_active());
        let pooled = if idle {
            self.empty_pools(None).await?
        } else {
            0
        };
        let mut output = format!("removed {} worktree(s)", removed.len());
        let names = |v: &[String]| list(&v.iter().map(String::as_str).collect::<Vec<_>>());
        if !removed.is_empty() {
            output.push_str(&format!(": {}", names(&removed)));
        }
        if !kept.is_empty() {
            output.push_str(&format!(
                "; kept {} (running or not merged): {}",
                kept.len(),
                names(&kept)
            ));
            if !include_unmerged {
                output.push_str(" (include_unmerged: true also removes the unmerged)");
            }
        }
        if !failed.is_empty() {
            output.push_str(&format!("; failed: {}", failed.join("; ")));
        }
        if pooled > 0 {
            output.push_str(&format!("; and {pooled} ready one(s) of the pool"));
        }
        Ok(Reply {
            title: format!("removed {} worktree(s)", removed.len()),
            output,
        })
    }
}

/// Up to ten names, then how many more.
fn list(names: &[&str]) -> String {
    list_of(names, 10)
}

/// Up to `cap` names, then how many more.
pub(super) fn list_of(names: &[&str], cap: usize) -> String {
    let shown = names
        .iter()
        .take(cap)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() <= cap {
        shown
    } else {
        format!("{shown} and {} more", names.len() - cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bead_ids_name_their_worktree_and_odd_ones_get_a_hash() {
        assert_eq!(worktree_name("bd-12.1"), "bd-12.1");
        let colon = worktree_name("bd:1");
        assert!(colon.starts_with("bd_1-") && colon.len() == 13, "{colon}");
        assert_ne!(colon, worktree_name("bd_1"));
        assert!(worktree_name("x.lock").starts_with("x.lock-"));
        assert!(!worktree_name("x.").contains(".-"));
    }

    #[test]
    fn a_worktree_knows_its_repository() {
        assert_eq!(root_of("/r/p/.apiary/worktrees/bd-1"), "/r/p");
        assert_eq!(root_of("/elsewhere"), "/elsewhere");
    }
}
