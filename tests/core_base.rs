//! A worker starts from what its coordinator sees: its worktree holds the coordinator's
//! uncommitted and untracked files, taken without touching the coordinator's index, tree,
//! stash or branch, and a merge brings back only the worker's own changes. Real git, in
//! scratch repositories.
#![cfg(not(target_arch = "wasm32"))]
#[path = "core/given.rs"]
mod given;
#[path = "core/repo.rs"]
mod repo;
#[path = "core/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};

use apiary::api::{CleanupArgs, MergeArgs, ReviewArgs};
use apiary::event::CompletionStatus;
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;
use repo::{in_repo, Repo};
use scratch::git_in;

fn start(a: &Apiary<FakeHost>, repo: &Repo, bead: &str) -> String {
    block_on(started_session(a, &in_repo(repo), &spawn_args(bead))).unwrap()
}

fn succeed(a: &Apiary<FakeHost>, session: &str, bead: &str) {
    let mut args = complete_args(bead);
    args.status = Some(CompletionStatus::Success);
    block_on(a.complete(&worker(session), &args)).unwrap();
}

fn worktree(repo: &Repo, bead: &str) -> PathBuf {
    repo.0.join(".apiary/worktrees").join(bead)
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn merge(a: &Apiary<FakeHost>, bead: &str) -> Result<apiary::api::MergeReply, apiary::ToolError> {
    block_on(a.worktree_merge(&MergeArgs {
        bead_id: bead.into(),
        force: None,
    }))
}

/// What the coordinator would notice changed: its index byte for byte, its status, HEAD,
/// branch, its commit and its stash.
fn coordinator_state(repo: &Repo) -> Vec<String> {
    vec![
        format!("{:?}", std::fs::read(repo.0.join(".git/index")).unwrap()),
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        repo.git(&["rev-parse", "HEAD"]),
        repo.git(&["symbolic-ref", "HEAD"]),
        repo.git(&["stash", "list"]),
        repo.git(&["rev-parse", "refs/heads/main"]),
    ]
}

/// A coordinator mid-edit: a modified file, a staged new one, an untracked one and an
/// ignored one.
fn mid_edit(repo: &Repo) {
    repo.write(".gitignore", "*.log\n");
    repo.git(&["add", ".gitignore"]);
    repo.git(&["commit", "-q", "-m", "ignore logs"]);
    repo.write("shared.txt", "base\nedited by you\n");
    repo.write("staged.txt", "staged\n");
    repo.git(&["add", "staged.txt"]);
    repo.write("untracked.txt", "untracked\n");
    repo.write("debug.log", "ignored\n");
}

#[test]
fn a_worker_starts_from_the_coordinators_uncommitted_and_untracked_files_and_the_coordinator_keeps_its_tree(
) {
    let repo = Repo::new(true);
    mid_edit(&repo);
    let before = coordinator_state(&repo);
    let a = apiary_with(|o| o.worktree_pool = 0);
    start(&a, &repo, "bd-1");

    let wt = worktree(&repo, "bd-1");
    assert_eq!(read(&wt, "shared.txt").unwrap(), "base\nedited by you\n");
    assert_eq!(read(&wt, "staged.txt").unwrap(), "staged\n");
    assert_eq!(read(&wt, "untracked.txt").unwrap(), "untracked\n");
    assert_eq!(read(&wt, "debug.log"), None, "an ignored file was taken");
    // The worker's tree is clean: what it starts from is its branch's commit.
    assert_eq!(
        git_in(&wt, &["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    assert_eq!(
        coordinator_state(&repo),
        before,
        "the coordinator's tree changed"
    );
}

#[test]
fn a_clean_coordinator_tree_gives_a_worker_its_head_and_no_extra_commit() {
    let repo = Repo::new(true);
    let a = apiary_with(|o| o.worktree_pool = 0);
    start(&a, &repo, "bd-1");
    let wt = worktree(&repo, "bd-1");
    assert_eq!(
        git_in(&wt, &["rev-parse", "HEAD"]),
        repo.git(&["rev-parse", "HEAD"])
    );
    assert_eq!(repo.git(&["for-each-ref", "refs/apiary"]), "");
}

#[test]
fn a_merge_brings_only_the_workers_own_changes_and_leaves_the_coordinators_uncommitted() {
    let repo = Repo::new(true);
    mid_edit(&repo);
    let a = apiary_with(|o| o.worktree_pool = 0);
    let session = start(&a, &repo, "bd-1");
    let wt = worktree(&repo, "bd-1");
    std::fs::write(wt.join("work.txt"), "the worker's\n").unwrap();
    succeed(&a, &session, "bd-1");

    let review = block_on(a.worktree_review(&ReviewArgs {
        bead_id: "bd-1".into(),
    }))
    .unwrap();
    assert_eq!(review.files, ["work.txt"]);
    assert!(
        review.output.contains(
            "changes against its base: 1 file, +1 -0\n  work.txt +1 -0\nbase: your HEAD + 3 \
             uncommitted files (not counted above, not merged)\n"
        ),
        "{}",
        review.output
    );
    // Git merges only into an index that matches HEAD: the staged file is unstaged first.
    repo.git(&["reset", "-q", "staged.txt"]);
    let status_before = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    let merged = merge(&a, "bd-1").unwrap();
    assert!(
        merged.output.contains("1 file changed: work.txt"),
        "{}",
        merged.output
    );
    // The merge commit brings work.txt alone; the coordinator's edits are still its own.
    assert_eq!(
        repo.git(&["diff", "--name-only", "HEAD^1", "HEAD"]),
        "work.txt\n"
    );
    assert_eq!(
        repo.git(&["show", "HEAD:shared.txt"]),
        "base\n",
        "the coordinator's uncommitted edit was committed by the merge"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        status_before
    );
    assert_eq!(
        read(&repo.0, "shared.txt").unwrap(),
        "base\nedited by you\n"
    );
    // The worker's commit keeps its author.
    assert_eq!(repo.git(&["log", "-1", "--format=%an", "HEAD^2"]), "T\n");
    // Cleanup takes the snapshot's ref with the worktree.
    block_on(a.worktree_cleanup(&CleanupArgs::default())).unwrap();
    assert_eq!(repo.git(&["for-each-ref", "refs/apiary"]), "");
}

#[test]
fn a_worker_that_edited_a_file_the_coordinator_has_uncommitted_merges_once_the_coordinator_commits_it(
) {
    let repo = Repo::new(true);
    let lines: String = (1..=10).map(|n| format!("line {n}\n")).collect();
    repo.write("long.txt", &lines);
    repo.git(&["add", "long.txt"]);
    repo.git(&["commit", "-q", "-m", "long"]);
    // The coordinator edits the first line, the worker the last.
    repo.write("long.txt", &lines.replace("line 1\n", "line 1 (you)\n"));
    let a = apiary_with(|o| o.worktree_pool = 0);
    let session = start(&a, &repo, "bd-1");
    let wt = worktree(&repo, "bd-1");
    let theirs = read(&wt, "long.txt").unwrap();
    assert!(theirs.starts_with("line 1 (you)\n"), "{theirs}");
    std::fs::write(
        wt.join("long.txt"),
        theirs.replace("line 10\n", "line 10 (worker)\n"),
    )
    .unwrap();
    succeed(&a, &session, "bd-1");

    let refused = merge(&a, "bd-1").unwrap_err().to_string();
    assert!(
        refused.contains("uncommitted changes to: long.txt"),
        "{refused}"
    );
    repo.git(&["commit", "-q", "-am", "your edit"]);
    merge(&a, "bd-1").unwrap();
    assert_eq!(
        read(&repo.0, "long.txt").unwrap(),
        lines
            .replace("line 1\n", "line 1 (you)\n")
            .replace("line 10\n", "line 10 (worker)\n")
    );
}

#[test]
fn a_worker_with_no_change_of_its_own_is_cleaned_up_as_having_nothing_to_merge() {
    let repo = Repo::new(true);
    mid_edit(&repo);
    let a = apiary_with(|o| o.worktree_pool = 0);
    let session = start(&a, &repo, "bd-1");
    succeed(&a, &session, "bd-1");
    let cleaned = block_on(a.worktree_cleanup(&CleanupArgs::default())).unwrap();
    assert!(
        cleaned.output.contains("bd-1 (no change)"),
        "{}",
        cleaned.output
    );
    assert_eq!(repo.git(&["for-each-ref", "refs/apiary"]), "");
}

#[test]
fn a_pooled_worktree_starts_from_the_coordinators_uncommitted_files_too() {
    let repo = Repo::new(true);
    let a = apiary_with(|o| {
        o.worktree_pool = 1;
        o.max_running = 8;
    });
    block_on(a.refill_pool(None, repo.path())).unwrap();
    mid_edit(&repo);
    start(&a, &repo, "bd-1");
    let path = a
        .log()
        .swarm()
        .bead("bd-1")
        .unwrap()
        .worktree
        .clone()
        .unwrap();
    assert!(path.contains("/pool-"), "{path}");
    assert_eq!(
        read(Path::new(&path), "untracked.txt").unwrap(),
        "untracked\n"
    );
}
