//! What a worker's branch holds, read with real git in scratch repositories: the review tells
//! beforehand what a merge would bring (and changes nothing), the merge never overwrites the
//! coordinator's uncommitted changes, and cleanup removes finished workers with nothing to
//! merge.
#![cfg(not(target_arch = "wasm32"))]
#[path = "core/given.rs"]
mod given;
#[path = "core/repo.rs"]
mod repo;
#[path = "core/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};

use apiary::api::{CleanupArgs, MergeArgs, MergeReply, ReviewArgs, ReviewReply};
use apiary::event::CompletionStatus;
use apiary::testing::{block_on, FakeHost};
use apiary::{Apiary, ToolError};
use given::*;
use repo::{in_repo, Repo};
use scratch::git_in;

fn no_pool() -> Apiary<FakeHost> {
    apiary_with(|o| o.worktree_pool = 0)
}

/// Starts `bead`'s worker owning `files`; its session.
fn spawn_owning(a: &Apiary<FakeHost>, repo: &Repo, bead: &str, files: &[&str]) -> String {
    let mut args = spawn_args(bead);
    args.files = files.iter().map(|f| f.to_string()).collect();
    block_on(started_session(a, &in_repo(repo), &args)).unwrap()
}

fn complete_as(a: &Apiary<FakeHost>, session: &str, bead: &str, status: CompletionStatus) {
    let mut args = complete_args(bead);
    args.status = Some(status);
    block_on(a.complete(&worker(session), &args)).unwrap();
}

fn worktree(repo: &Repo, bead: &str) -> PathBuf {
    repo.0.join(".apiary/worktrees").join(bead)
}

/// Writes `file` (its folders made) under `dir`, as a worker's shell would.
fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn review(a: &Apiary<FakeHost>, bead: &str) -> ReviewReply {
    block_on(a.worktree_review(&ReviewArgs {
        bead_id: bead.into(),
    }))
    .unwrap()
}

fn merge(a: &Apiary<FakeHost>, bead: &str, force: bool) -> Result<MergeReply, ToolError> {
    block_on(a.worktree_merge(&MergeArgs {
        bead_id: bead.into(),
        force: force.then_some(true),
    }))
}

/// Everything a review must leave as it was: every ref, the coordinator's HEAD, both trees'
/// status and both indexes, byte for byte, and no FETCH_HEAD.
fn untouched(repo: &Repo, wt: &Path) -> Vec<String> {
    let index = |dir: &Path| {
        let at = git_in(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", "index"],
        );
        format!("{:?}", std::fs::read(at.trim()).unwrap())
    };
    vec![
        repo.git(&["for-each-ref"]),
        repo.git(&["rev-parse", "HEAD"]),
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        git_in(wt, &["status", "--porcelain", "--untracked-files=all"]),
        index(&repo.0),
        index(wt),
        repo.0.join(".git/FETCH_HEAD").exists().to_string(),
    ]
}

#[test]
fn a_review_of_a_clean_worker_gives_its_outcome_diffstat_and_a_clean_merge_and_changes_nothing() {
    let repo = Repo::new(true);
    // The repository's plugin, not committed: linked into the worktree, never reported.
    write(&repo.0, ".opencode/plugin/apiary.js", "// the plugin\n");
    let a = no_pool();
    let session = spawn_owning(&a, &repo, "bd-1", &["src/**"]);
    let wt = worktree(&repo, "bd-1");
    // One file committed by the worker, two left uncommitted.
    write(&wt, "src/c.rs", "c\n");
    git_in(&wt, &["add", "src/c.rs"]);
    git_in(&wt, &["commit", "-q", "-m", "c"]);
    write(&wt, "src/a.rs", "one\ntwo\n");
    write(&wt, "src/b.rs", "b\n");
    complete_as(&a, &session, "bd-1", CompletionStatus::Success);
    let before = untouched(&repo, &wt);

    let r = review(&a, "bd-1");
    assert_eq!(
        untouched(&repo, &wt),
        before,
        "the review changed something"
    );
    assert_eq!(r.title, "bd-1: clean, 3 files");
    assert_eq!(r.files, ["src/a.rs", "src/b.rs", "src/c.rs"]);
    assert!(r.outside.is_empty() && r.conflicts.is_empty() && r.blocked.is_empty());
    let lines: Vec<&str> = r.output.lines().collect();
    assert_eq!(
        lines,
        [
            "bd-1 success: did bd-1",
            "changes against its base: 3 files, +4 -0",
            "  src/a.rs +2 -0",
            "  src/b.rs +1 -0",
            "  src/c.rs +1 -0",
            "outside its files (src/**): none",
            "merge into your HEAD: clean",
        ]
    );
    // What the review foretold is what the merge brings.
    let merged = merge(&a, "bd-1", false).unwrap();
    assert!(
        merged
            .output
            .contains("3 files changed: src/a.rs, src/b.rs, src/c.rs"),
        "{}",
        merged.output
    );
}

#[test]
fn a_review_of_a_conflicting_worker_lists_the_files_the_merge_then_meets() {
    let repo = Repo::new(true);
    let a = no_pool();
    let s1 = spawn_owning(&a, &repo, "bd-1", &["shared.txt"]);
    // bd-2 owns only other.txt (owning shared.txt too, it would wait for bd-1).
    let s2 = spawn_owning(&a, &repo, "bd-2", &["other.txt"]);
    write(&worktree(&repo, "bd-1"), "shared.txt", "one\n");
    write(&worktree(&repo, "bd-2"), "shared.txt", "two\n");
    write(&worktree(&repo, "bd-2"), "other.txt", "fine\n");
    complete_as(&a, &s1, "bd-1", CompletionStatus::Success);
    complete_as(&a, &s2, "bd-2", CompletionStatus::Success);
    assert_eq!(review(&a, "bd-2").title, "bd-2: clean, 2 files, 1 outside");
    merge(&a, "bd-1", false).unwrap();

    let wt = worktree(&repo, "bd-2");
    let before = untouched(&repo, &wt);
    let r = review(&a, "bd-2");
    assert_eq!(
        untouched(&repo, &wt),
        before,
        "the review changed something"
    );
    assert_eq!(r.title, "bd-2: 1 conflict, 1 outside");
    assert_eq!(r.conflicts, ["shared.txt"]);
    assert!(
        r.output
            .ends_with("\nmerge into your HEAD: 1 conflict: shared.txt"),
        "{}",
        r.output
    );
    let refused = merge(&a, "bd-2", false).unwrap();
    assert!(!refused.merged);
    assert_eq!(refused.conflicts, r.conflicts);
}

#[test]
fn a_review_names_the_files_a_worker_wrote_outside_its_own_even_by_shell() {
    let repo = Repo::new(true);
    let a = no_pool();
    let session = spawn_owning(&a, &repo, "bd-1", &["src/bd-1.rs"]);
    let wt = worktree(&repo, "bd-1");
    write(&wt, "src/bd-1.rs", "mine\n");
    // Writes the guard never saw: a new file elsewhere, and a deletion.
    write(&wt, "docs/notes.md", "not mine\n");
    std::fs::remove_file(wt.join("shared.txt")).unwrap();
    complete_as(&a, &session, "bd-1", CompletionStatus::Success);

    let r = review(&a, "bd-1");
    assert_eq!(r.title, "bd-1: clean, 3 files, 2 outside");
    assert_eq!(r.outside, ["docs/notes.md", "shared.txt"]);
    assert!(
        r.output.contains(
            "\n  src/bd-1.rs +1 -0\noutside its files (src/bd-1.rs): docs/notes.md, shared.txt\n"
        ),
        "{}",
        r.output
    );
}

#[test]
fn a_review_of_a_worker_that_touched_30_files_stays_under_2_kb_and_says_how_many_more() {
    let repo = Repo::new(true);
    let a = no_pool();
    let session = spawn_owning(&a, &repo, "bd-1", &["src/only/this/one.rs"]);
    let wt = worktree(&repo, "bd-1");
    let files: Vec<String> = (0..30)
        .map(|i| {
            format!(
                "a/rather/deep/folder/structure/that/goes/on/module_{i:02}/implementation_{i:02}.rs"
            )
        })
        .collect();
    // Every file outside the worker's own, each in conflict with the coordinator's commit,
    // and each with an uncommitted change in the coordinator's tree on top.
    for f in &files {
        write(&wt, f, "the worker's\n");
        write(&repo.0, f, "the coordinator's\n");
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "the coordinator's"]);
    for f in &files {
        write(&repo.0, f, "uncommitted\n");
    }
    let mut args = complete_args("bd-1");
    args.summary = "a very long summary ".repeat(400);
    args.status = Some(CompletionStatus::Failed);
    block_on(a.complete(&worker(&session), &args)).unwrap();

    let r = review(&a, "bd-1");
    eprintln!(
        "report for 30 files: {} bytes\n{}",
        r.output.len(),
        r.output
    );
    assert!(r.output.len() < 2048, "{} bytes", r.output.len());
    assert_eq!(r.title, "bd-1 failed: 30 conflicts, 30 outside");
    // The reply's fields are whole; the text is cut, and says by how much.
    assert_eq!((r.files.len(), r.outside.len()), (30, 30));
    assert_eq!((r.conflicts.len(), r.blocked.len()), (30, 30));
    assert!(r.output.contains("\n  and 22 more\n"), "{}", r.output);
    assert_eq!(r.output.matches("and 26 more").count(), 3, "{}", r.output);
    assert!(r.output.contains("…"), "long paths are cut at their start");
}

#[test]
fn merge_refuses_when_your_uncommitted_changes_hold_files_it_brings_naming_them() {
    let repo = Repo::new(true);
    let a = no_pool();
    let session = spawn_owning(&a, &repo, "bd-1", &["shared.txt", "new.txt"]);
    let wt = worktree(&repo, "bd-1");
    write(&wt, "shared.txt", "the worker's\n");
    write(&wt, "new.txt", "the worker's\n");
    complete_as(&a, &session, "bd-1", CompletionStatus::Success);
    // The coordinator's own work in progress: one file it changed, one it made, and one the
    // branch does not touch.
    repo.write("shared.txt", "mine, uncommitted\n");
    repo.write("new.txt", "mine, untracked\n");
    repo.write("scratch.txt", "unrelated\n");
    let head = repo.git(&["rev-parse", "HEAD"]);
    let status = repo.git(&["status", "--porcelain"]);

    assert_eq!(review(&a, "bd-1").blocked, ["new.txt", "shared.txt"]);
    let refused = merge(&a, "bd-1", false).unwrap_err().to_string();
    assert!(
        refused.contains(
            "not merged: bd-1 (worker success) changes 2 files your tree has uncommitted \
             changes to: new.txt, shared.txt. Your tree was not changed."
        ),
        "{refused}"
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git(&["status", "--porcelain"]), status);
    let read = |f: &str| std::fs::read_to_string(repo.0.join(f)).unwrap();
    assert_eq!(read("shared.txt"), "mine, uncommitted\n");
    assert_eq!(read("new.txt"), "mine, untracked\n");

    // Put away, the merge goes through; the unrelated file stays as it is.
    repo.git(&["checkout", "--", "shared.txt"]);
    std::fs::remove_file(repo.0.join("new.txt")).unwrap();
    assert!(merge(&a, "bd-1", false).unwrap().merged);
    assert_eq!(read("shared.txt"), "the worker's\n");
    assert_eq!(read("scratch.txt"), "unrelated\n");
}

#[test]
fn cleanup_removes_finished_workers_with_no_change_and_keeps_those_with_work() {
    let repo = Repo::new(true);
    let a = no_pool();
    let idle = spawn_owning(&a, &repo, "bd-1", &["a.txt"]);
    let busy = spawn_owning(&a, &repo, "bd-2", &["b.txt"]);
    let committed = spawn_owning(&a, &repo, "bd-3", &["c.txt"]);
    spawn_owning(&a, &repo, "bd-4", &["d.txt"]);
    write(&worktree(&repo, "bd-2"), "b.txt", "uncommitted\n");
    write(&worktree(&repo, "bd-3"), "c.txt", "committed\n");
    git_in(&worktree(&repo, "bd-3"), &["add", "c.txt"]);
    git_in(&worktree(&repo, "bd-3"), &["commit", "-q", "-m", "c"]);
    complete_as(&a, &idle, "bd-1", CompletionStatus::Success);
    complete_as(&a, &busy, "bd-2", CompletionStatus::Success);
    complete_as(&a, &committed, "bd-3", CompletionStatus::Failed);

    let cleaned = block_on(a.worktree_cleanup(&CleanupArgs::default())).unwrap();
    assert_eq!(
        cleaned.output,
        "removed 1 worktree(s): bd-1 (no change); kept 3 (running or not merged): bd-2, bd-3, \
         bd-4 (include_unmerged: true also removes the unmerged)"
    );
    assert!(!worktree(&repo, "bd-1").exists());
    assert_eq!(repo.git(&["branch", "--list", "apiary/bd-1"]), "");
    assert!(worktree(&repo, "bd-2").join("b.txt").exists());
    assert!(worktree(&repo, "bd-3").exists() && worktree(&repo, "bd-4").exists());
    assert_eq!(count_lines(&a, "worktree_removed"), 1);
}

#[test]
fn cleanup_gives_the_pooled_checkout_of_a_worker_with_no_change_back_to_the_pool() {
    let repo = Repo::new(true);
    let a = apiary_with(|o| {
        o.worktree_pool = 1;
        o.max_running = 4;
    });
    a.set_home(repo.path());
    let session = spawn_owning(&a, &repo, "bd-1", &["a.txt"]);
    let checkout = a
        .log()
        .swarm()
        .bead("bd-1")
        .unwrap()
        .worktree
        .clone()
        .unwrap();
    assert!(checkout.contains("/.apiary/worktrees/pool-"), "{checkout}");
    complete_as(&a, &session, "bd-1", CompletionStatus::Success);
    // Another worker still runs, so the pool is not emptied behind the cleanup.
    spawn_owning(&a, &repo, "bd-2", &["b.txt"]);

    let cleaned = block_on(a.worktree_cleanup(&CleanupArgs::default())).unwrap();
    assert!(
        cleaned
            .output
            .starts_with("removed 1 worktree(s): bd-1 (no change)"),
        "{}",
        cleaned.output
    );
    let listed = repo.git(&["worktree", "list", "--porcelain"]);
    let entry = listed
        .split("\n\n")
        .find(|e| e.starts_with(&format!("worktree {checkout}\n")))
        .expect("the checkout is still a worktree");
    assert!(entry.contains("\ndetached"), "{entry}");
    assert_eq!(repo.git(&["branch", "--list", "apiary/bd-1"]), "");
}
