//! Worktrees with real git in scratch repositories: each worker gets its own checkout and
//! branch, merges come back whole or not at all (and only of workers that succeeded, unless
//! forced), and cleanup removes what was merged.
#![cfg(not(target_arch = "wasm32"))]
#[path = "core/given.rs"]
mod given;
#[path = "core/repo.rs"]
mod repo;
#[path = "core/scratch.rs"]
mod scratch;

use std::path::PathBuf;

use apiary::api::{CleanupArgs, MergeArgs, SpawnArgs};
use apiary::host::ServerEvent;
use apiary::testing::{block_on, FakeHost};
use apiary::{Apiary, ToolError};
use given::*;
use repo::{in_repo, Repo};
use scratch::git_in;

fn spawn(a: &Apiary<FakeHost>, repo: &Repo, bead: &str) -> String {
    block_on(started_session(a, &in_repo(repo), &spawn_args(bead))).unwrap()
}

/// The worktree the log records for `bead`'s latest worker.
fn worktree_of(a: &Apiary<FakeHost>, bead: &str) -> String {
    a.log()
        .swarm()
        .bead(bead)
        .unwrap()
        .worktree
        .clone()
        .unwrap()
}

/// An instance that makes each worktree at its start (the pool is tested apart).
fn no_pool() -> Apiary<FakeHost> {
    apiary_with(|o| o.worktree_pool = 0)
}

/// The pool's free members: detached worktrees named `pool-*`.
fn members(repo: &Repo) -> Vec<String> {
    let listed = repo.git(&["worktree", "list", "--porcelain"]);
    listed
        .split("\n\n")
        .filter(|e| e.contains("/.apiary/worktrees/pool-") && e.contains("\ndetached"))
        .map(|e| {
            e.lines()
                .next()
                .unwrap()
                .trim_start_matches("worktree ")
                .to_string()
        })
        .collect()
}

fn pooled(size: u32) -> Apiary<FakeHost> {
    apiary_with(|o| {
        o.worktree_pool = size;
        o.max_running = 8;
    })
}

fn worktree(repo: &Repo, bead: &str) -> PathBuf {
    repo.0.join(".apiary/worktrees").join(bead)
}

/// What the latest worker of `bead` had linked for OpenCode.
fn links_of(a: &Apiary<FakeHost>, bead: &str) -> Vec<String> {
    a.log().swarm().bead(bead).unwrap().config_links.clone()
}

fn merge(a: &Apiary<FakeHost>, bead: &str) -> Result<apiary::api::MergeReply, ToolError> {
    block_on(a.worktree_merge(&MergeArgs {
        bead_id: bead.into(),
        force: None,
    }))
}

/// The merge of a worker that did not succeed.
fn force_merge(a: &Apiary<FakeHost>, bead: &str) -> Result<apiary::api::MergeReply, ToolError> {
    block_on(a.worktree_merge(&MergeArgs {
        bead_id: bead.into(),
        force: Some(true),
    }))
}

#[test]
fn each_worker_gets_its_own_worktree_and_branch_that_the_main_tree_does_not_show() {
    let repo = Repo::new(true);
    let a = no_pool();
    let reply = block_on(spawn_started(&a, &in_repo(&repo), &spawn_args("bd-1"))).unwrap();
    let wt = worktree(&repo, "bd-1");
    assert!(wt.join("shared.txt").exists());
    assert_eq!(
        git_in(&wt, &["branch", "--show-current"]).trim(),
        "apiary/bd-1"
    );
    assert!(
        reply.output.contains("(branch apiary/bd-1)"),
        "{}",
        reply.output
    );
    let created = a.host().sessions.created.borrow();
    assert_eq!(created[0].directory.as_deref(), wt.to_str());
    let request = &a.host().sessions.prompt_requests.borrow()[0];
    assert_eq!(request.directory.as_deref(), wt.to_str());
    assert!(request.text.contains("on branch `apiary/bd-1`"));
    // The worktrees' folder is ignored: the coordinator's tree stays clean.
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_workers_edit_lands_in_its_worktree_and_reaches_the_main_tree_only_by_merge() {
    let repo = Repo::new(true);
    let a = no_pool();
    let session = spawn(&a, &repo, "bd-1");
    std::fs::write(worktree(&repo, "bd-1").join("new.txt"), "from the worker\n").unwrap();
    assert!(!repo.0.join("new.txt").exists());
    let early = merge(&a, "bd-1").unwrap_err();
    assert!(early.to_string().contains("still starting"), "{early}");
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    let merged = merge(&a, "bd-1").unwrap();
    assert!(merged.merged);
    assert!(
        merged
            .output
            .starts_with("merged apiary/bd-1 (worker success) into your branch at ")
            && merged
                .output
                .ends_with("1 file changed: new.txt; its worktree and branch were removed"),
        "{}",
        merged.output
    );
    // Merged work is in the main tree: the worktree and branch went with the merge.
    assert!(!worktree(&repo, "bd-1").exists());
    assert_eq!(repo.git(&["branch", "--list", "apiary/bd-1"]), "");
    assert_eq!(count_lines(&a, "worktree_removed"), 1);
    assert_eq!(
        std::fs::read_to_string(repo.0.join("new.txt")).unwrap(),
        "from the worker\n"
    );
    assert_eq!(
        repo.git(&["rev-parse", "HEAD"]).trim(),
        merged.commit.unwrap()
    );
    assert_eq!(count_lines(&a, "worktree_merged"), 1);
}

#[test]
fn a_conflicting_merge_is_reported_by_file_and_leaves_the_main_tree_as_it_was() {
    let repo = Repo::new(true);
    let a = no_pool();
    let s1 = spawn(&a, &repo, "bd-1");
    let s2 = spawn(&a, &repo, "bd-2");
    std::fs::write(worktree(&repo, "bd-1").join("shared.txt"), "one\n").unwrap();
    std::fs::write(worktree(&repo, "bd-2").join("shared.txt"), "two\n").unwrap();
    std::fs::write(worktree(&repo, "bd-2").join("other.txt"), "fine\n").unwrap();
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    block_on(a.complete(&worker(&s2), &complete_args("bd-2"))).unwrap();
    assert!(merge(&a, "bd-1").unwrap().merged);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let second = merge(&a, "bd-2").unwrap();
    assert!(!second.merged);
    assert_eq!(second.conflicts, vec!["shared.txt".to_string()]);
    assert!(
        second.output.starts_with(
            "not merged: bd-2 (worker success) conflicts with your branch in 1 file: shared.txt. \
             Your tree is as it was."
        ),
        "{}",
        second.output
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(!repo.0.join(".git/MERGE_HEAD").exists());
    assert!(!repo.0.join("other.txt").exists());
    assert_eq!(
        std::fs::read_to_string(repo.0.join("shared.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(count_lines(&a, "worktree_merged"), 1);
}

#[test]
fn merge_refuses_a_worker_that_did_not_succeed_by_its_outcome_and_merges_it_with_force() {
    let repo = Repo::new(true);
    let a = no_pool();
    let s1 = spawn(&a, &repo, "bd-1");
    let s2 = spawn(&a, &repo, "bd-2");
    std::fs::write(worktree(&repo, "bd-1").join("half.txt"), "half done\n").unwrap();
    std::fs::write(worktree(&repo, "bd-2").join("quiet.txt"), "unreported\n").unwrap();
    let mut args = complete_args("bd-1");
    args.summary = "the tests still fail".into();
    args.status = Some(apiary::event::CompletionStatus::Failed);
    block_on(a.complete(&worker(&s1), &args)).unwrap();
    // bd-2's turn ends without swarm_complete: it needs review.
    block_on(a.observe(&ServerEvent::Idle { session_id: s2 })).unwrap();
    let head = repo.git(&["rev-parse", "HEAD"]);

    let refused = merge(&a, "bd-1").unwrap_err().to_string();
    assert!(
        refused.contains(
            "not merged: the worker of bd-1 did not succeed (failed: the tests still fail). \
             Nothing was changed."
        ) && refused.contains("force: true"),
        "{refused}"
    );
    let unreviewed = merge(&a, "bd-2").unwrap_err().to_string();
    assert!(
        unreviewed.contains("the worker of bd-2 did not succeed (needs_review)"),
        "{unreviewed}"
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert!(!repo.0.join("half.txt").exists());
    assert_eq!(count_lines(&a, "worktree_merged"), 0);

    let forced = force_merge(&a, "bd-1").unwrap();
    assert!(forced.merged);
    assert_eq!(forced.title, "merged bd-1 (failed)");
    assert!(
        forced
            .output
            .starts_with("merged apiary/bd-1 (worker failed, forced) into your branch at "),
        "{}",
        forced.output
    );
    assert_eq!(
        std::fs::read_to_string(repo.0.join("half.txt")).unwrap(),
        "half done\n"
    );
}

#[test]
fn links_made_for_opencode_are_never_committed() {
    let repo = Repo::new(true);
    // The repository's plugin, not committed: the worktree reaches it through a link.
    std::fs::create_dir_all(repo.0.join(".opencode/plugin")).unwrap();
    repo.write(".opencode/plugin/apiary.js", "// the plugin\n");
    let a = no_pool();
    let session = spawn(&a, &repo, "bd-1");
    let wt = worktree(&repo, "bd-1");
    assert!(wt.join(".opencode/plugin/apiary.js").exists());
    assert_eq!(links_of(&a, "bd-1"), [".opencode"]);
    std::fs::write(wt.join("work.txt"), "w\n").unwrap();
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    let merged = merge(&a, "bd-1").unwrap();
    assert!(
        merged.output.contains("1 file changed: work.txt;"),
        "{}",
        merged.output
    );
    let committed = repo.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(!committed.contains(".opencode"), "{committed}");
}

#[test]
fn a_retried_worker_keeps_its_worktree_and_the_link_it_made_is_reported_again() {
    let repo = Repo::new(true);
    std::fs::create_dir_all(repo.0.join(".opencode")).unwrap();
    let a = no_pool();
    let session = spawn(&a, &repo, "bd-1");
    let first = a.log().swarm().bead("bd-1").unwrap().clone();
    session_error(&a, &session, "APIError");
    // The retry is queued with its backoff, then started when the backoff ends.
    block_on(a.drain()).unwrap();
    a.host().clock.advance(600_000);
    block_on(a.drain()).unwrap();
    let second = a.log().swarm().bead("bd-1").unwrap().clone();
    assert_eq!(second.attempt, 2);
    assert_eq!(second.worktree, first.worktree);
    assert_eq!(links_of(&a, "bd-1"), [".opencode"]);
}

#[test]
fn cleanup_removes_merged_worktrees_and_keeps_unmerged_ones_unless_asked() {
    let repo = Repo::new(true);
    let a = apiary_with(|o| {
        o.remove_merged_worktrees = false;
        o.worktree_pool = 0;
    });
    let s1 = spawn(&a, &repo, "bd-1");
    let s2 = spawn(&a, &repo, "bd-2");
    std::fs::write(worktree(&repo, "bd-1").join("a.txt"), "a\n").unwrap();
    std::fs::write(worktree(&repo, "bd-2").join("b.txt"), "b\n").unwrap();
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    block_on(a.complete(&worker(&s2), &complete_args("bd-2"))).unwrap();
    merge(&a, "bd-1").unwrap();
    let first = block_on(a.worktree_cleanup(&CleanupArgs::default())).unwrap();
    assert_eq!(
        first.output,
        "removed 1 worktree(s): bd-1; kept 1 (running or not merged): bd-2 (include_unmerged: \
         true also removes the unmerged)"
    );
    assert!(!worktree(&repo, "bd-1").exists());
    assert!(worktree(&repo, "bd-2").exists());
    assert_eq!(repo.git(&["branch", "--list", "apiary/bd-1"]), "");
    let second = block_on(a.worktree_cleanup(&CleanupArgs {
        epic_id: Some("ep".into()),
        include_unmerged: Some(true),
    }))
    .unwrap();
    assert_eq!(second.output, "removed 1 worktree(s): bd-2");
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
    assert_eq!(count_lines(&a, "worktree_removed"), 2);
}

#[test]
fn odd_bead_ids_get_safe_names_and_path_escapes_are_refused_before_git_runs() {
    let repo = Repo::new(true);
    let a = no_pool();
    let reply = block_on(spawn_started(&a, &in_repo(&repo), &spawn_args("bd:1"))).unwrap();
    assert!(
        reply.output.contains("/.apiary/worktrees/bd_1-"),
        "{}",
        reply.output
    );
    for bad in ["../x", "/abs", "a/b", ".hidden", "a b"] {
        let err = block_on(spawn_started(&a, &in_repo(&repo), &spawn_args(bad))).unwrap_err();
        assert!(
            matches!(
                err,
                ToolError::InvalidArgument {
                    field: "bead_id",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 2);
}

#[test]
fn a_repository_without_a_commit_shares_the_coordinators_directory_and_says_so() {
    let repo = Repo::new(false);
    let a = no_pool();
    let reply = block_on(spawn_started(&a, &in_repo(&repo), &spawn_args("bd-1"))).unwrap();
    assert!(
        reply.output.contains("the repository has no commit yet"),
        "{}",
        reply.output
    );
    assert_eq!(a.host().sessions.created.borrow()[0].directory, None);
    let err = merge(&a, "bd-1").unwrap_err();
    assert!(err.to_string().contains("has no worktree"), "{err}");
}

#[test]
fn an_unknown_agent_or_a_malformed_model_is_refused_before_anything_is_created() {
    let repo = Repo::new(true);
    let a = no_pool();
    let with = |agent: Option<&str>, model: Option<&str>| SpawnArgs {
        agent: agent.map(str::to_string),
        model: model.map(str::to_string),
        ..spawn_args("bd-1")
    };
    let err = block_on(spawn_started(
        &a,
        &in_repo(&repo),
        &with(Some("reviewer"), None),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument `agent`: no agent \"reviewer\" on this server; known agents: build, plan"
    );
    let err = block_on(spawn_started(&a, &in_repo(&repo), &with(None, Some("gpt")))).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid argument `model`"),
        "{err}"
    );
    assert!(a.host().sessions.created.borrow().is_empty());
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
    block_on(spawn_started(
        &a,
        &in_repo(&repo),
        &with(Some("plan"), Some("scripted/scripted-model")),
    ))
    .unwrap();
    let request = &a.host().sessions.prompt_requests.borrow()[0];
    assert_eq!(request.agent.as_deref(), Some("plan"));
    assert_eq!(request.model.as_ref().unwrap().model_id, "scripted-model");
}

#[test]
fn a_start_takes_a_ready_worktree_of_the_pool_which_refills_to_its_size_and_no_more() {
    let repo = Repo::new(true);
    let a = pooled(2);
    a.set_home(repo.path());
    assert_eq!(block_on(a.refill_pool(None, repo.path())).unwrap(), 2);
    let ready = members(&repo);
    assert_eq!(ready.len(), 2);
    // Each member's OpenCode instance was warmed up for a first prompt, the member locked
    // meanwhile (no take or recycle removes it under the instance starting), free after.
    assert_eq!(*a.host().sessions.warmed.borrow(), ready);
    assert_eq!(*a.host().sessions.warmed_locked.borrow(), [true, true]);
    assert!(!repo
        .git(&["worktree", "list", "--porcelain"])
        .contains("locked"));
    let reply = block_on(spawn_started(&a, &in_repo(&repo), &spawn_args("bd-1"))).unwrap();
    assert!(
        reply.output.contains(&format!(
            "in a worktree of {} (branch apiary/bd-1)",
            repo.path()
        )),
        "{}",
        reply.output
    );
    let w = a.log().swarm().bead("bd-1").cloned().unwrap();
    let path = w.worktree.clone().unwrap();
    assert!(ready.contains(&path), "{path} is one of {ready:?}");
    assert_eq!(
        git_in(std::path::Path::new(&path), &["branch", "--show-current"]).trim(),
        "apiary/bd-1"
    );
    assert_eq!(
        a.host().sessions.created.borrow()[0].directory.as_deref(),
        Some(path.as_str())
    );
    // The start refilled the pool behind it: two ready again, never more.
    assert_eq!(members(&repo).len(), 2);
    assert_eq!(block_on(a.refill_pool(None, repo.path())).unwrap(), 0);
    assert_eq!(members(&repo).len(), 2);
}

#[test]
fn a_stale_member_starts_its_worker_at_the_current_base() {
    let repo = Repo::new(true);
    let a = pooled(1);
    block_on(a.refill_pool(None, repo.path())).unwrap();
    // The coordinator commits after the member was made.
    repo.write("later.txt", "new\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "later"]);
    let head = repo.git(&["rev-parse", "HEAD"]);
    spawn(&a, &repo, "bd-1");
    let path = worktree_of(&a, "bd-1");
    let dir = std::path::Path::new(&path);
    assert!(path.contains("/pool-"), "{path}");
    assert_eq!(git_in(dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        std::fs::read_to_string(dir.join("later.txt")).unwrap(),
        "new\n"
    );
}

#[test]
fn members_a_killed_process_left_are_found_by_name_and_reused_and_cleanup_removes_them() {
    let repo = Repo::new(true);
    // What a process killed after readying its pool leaves: members, and nothing in memory.
    block_on(pooled(2).refill_pool(None, repo.path())).unwrap();
    let left = members(&repo);
    assert_eq!(left.len(), 2);
    let fresh = pooled(2);
    fresh.set_home(repo.path());
    assert_eq!(
        block_on(fresh.refill_pool(None, repo.path())).unwrap(),
        0,
        "reused, none added"
    );
    // A smaller pool after a restart removes what is beyond its size.
    let smaller = pooled(1);
    block_on(smaller.refill_pool(None, repo.path())).unwrap();
    assert_eq!(members(&repo).len(), 1);
    let out = block_on(fresh.worktree_cleanup(&CleanupArgs {
        epic_id: None,
        include_unmerged: None,
    }))
    .unwrap();
    assert!(
        out.output.ends_with("; and 1 ready one(s) of the pool"),
        "{}",
        out.output
    );
    assert!(members(&repo).is_empty());
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
}

#[test]
fn a_retried_worker_keeps_the_pooled_worktree_its_first_attempt_had() {
    let repo = Repo::new(true);
    let a = apiary_with(|o| {
        o.worktree_pool = 1;
        o.retry_backoff_ms = 1_000;
    });
    block_on(a.refill_pool(None, repo.path())).unwrap();
    let first = spawn(&a, &repo, "bd-1");
    let path = worktree_of(&a, "bd-1");
    std::fs::write(std::path::Path::new(&path).join("work.txt"), "half\n").unwrap();
    session_error(&a, &first, "APIError");
    block_on(a.drain()).unwrap();
    a.host().clock.advance(1_000);
    block_on(a.drain()).unwrap();
    let second = a.log().swarm().bead("bd-1").cloned().unwrap();
    assert_eq!(second.attempt, 2);
    assert_eq!(second.worktree.as_deref(), Some(path.as_str()));
}

#[test]
fn a_merged_workers_pooled_worktree_goes_back_to_the_pool_in_place_of_a_never_used_one() {
    let repo = Repo::new(true);
    let a = pooled(1);
    a.set_home(repo.path());
    // No member is ready: the start makes a checkout named as one, and refills the pool.
    let session = spawn(&a, &repo, "bd-1");
    let used = worktree_of(&a, "bd-1");
    assert!(used.contains("/.apiary/worktrees/pool-"), "{used}");
    let fresh = members(&repo);
    assert_eq!(fresh.len(), 1);
    assert_ne!(fresh[0], used);
    let dir = std::path::Path::new(&used);
    std::fs::write(dir.join("new.txt"), "from the worker\n").unwrap();
    // An ignored file the merge does not take: the pool's clean removes it.
    std::fs::write(repo.0.join(".git/info/exclude"), "*.tmp\n").unwrap();
    std::fs::write(dir.join("build.tmp"), "left behind\n").unwrap();
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    merge(&a, "bd-1").unwrap();
    // The used checkout is the pool's one member now, clean and detached; the never-used one
    // and the worker's branch are gone.
    assert_eq!(members(&repo), vec![used.clone()]);
    assert_eq!(repo.git(&["branch", "--list", "apiary/bd-1"]), "");
    assert_eq!(git_in(dir, &["status", "--porcelain"]), "");
    assert!(!dir.join("build.tmp").exists());
    assert_eq!(count_lines(&a, "worktree_removed"), 1);
    // The next start takes it, at the base that now has the merge.
    spawn(&a, &repo, "bd-2");
    assert_eq!(worktree_of(&a, "bd-2"), used);
    assert_eq!(
        git_in(dir, &["rev-parse", "HEAD"]),
        repo.git(&["rev-parse", "HEAD"])
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("new.txt")).unwrap(),
        "from the worker\n"
    );
}

#[test]
fn a_finished_worktree_is_removed_when_the_pool_is_off_or_full_of_used_members() {
    let repo = Repo::new(true);
    let a = pooled(1);
    a.set_home(repo.path());
    let first = spawn(&a, &repo, "bd-1");
    let second = spawn(&a, &repo, "bd-2");
    let (p1, p2) = (worktree_of(&a, "bd-1"), worktree_of(&a, "bd-2"));
    for (s, b) in [(&first, "bd-1"), (&second, "bd-2")] {
        block_on(a.complete(&worker(s), &complete_args(b))).unwrap();
        let out = merge(&a, b).unwrap().output;
        assert!(
            out.ends_with("its worktree and branch were removed"),
            "{out}"
        );
    }
    // bd-1's checkout took the pool's one place; bd-2's found it taken by a used one.
    assert_eq!(members(&repo), vec![p1]);
    assert!(!std::path::Path::new(&p2).exists());
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 2);
}

#[test]
fn a_member_half_made_by_a_killed_process_is_unlocked_and_counted_not_left_behind() {
    let repo = Repo::new(true);
    // A refill killed between its `worktree add --lock` and its unlock leaves a locked member
    // named with its pid; that process is gone.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let half = format!("{}/.apiary/worktrees/pool-1-{dead}-0", repo.path());
    repo.git(&["worktree", "add", "-q", "--lock", "--detach", &half, "HEAD"]);
    // A member a live start has locked to take (its reason names the branch) is not touched.
    let taking = format!("{}/.apiary/worktrees/pool-1-{dead}-1", repo.path());
    repo.git(&["worktree", "add", "-q", "--detach", &taking, "HEAD"]);
    repo.git(&["worktree", "lock", "--reason", "apiary/bd-9", &taking]);
    let listed = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("\nlocked").count(), 2, "{listed}");
    let a = pooled(1);
    assert_eq!(block_on(a.refill_pool(None, repo.path())).unwrap(), 0);
    // The half-made one is the member now, unlocked; the one being taken stays locked.
    let listed = repo.git(&["worktree", "list", "--porcelain"]);
    let locked: Vec<&str> = listed.lines().filter(|l| l.starts_with("locked")).collect();
    assert_eq!(locked, vec!["locked apiary/bd-9"], "{listed}");
    assert!(members(&repo).contains(&half));
    // Its take readies it: the links a worker needs are made then.
    std::fs::create_dir_all(repo.0.join(".opencode/plugin")).unwrap();
    spawn(&a, &repo, "bd-1");
    assert_eq!(worktree_of(&a, "bd-1"), half);
    assert!(std::path::Path::new(&half)
        .join(".opencode/plugin")
        .exists());
}

#[test]
fn pools_go_when_the_swarm_was_idle_long_enough_and_their_instances_are_disposed_of() {
    let repo = Repo::new(true);
    let a = pooled(2);
    a.set_home(repo.path());
    let session = spawn(&a, &repo, "bd-1");
    assert_eq!(members(&repo).len(), 2, "the start refilled the pool");
    // While the worker runs, the pool is kept, however long it runs.
    a.host().clock.advance(11 * 60_000);
    block_on(a.drain()).unwrap();
    assert_eq!(members(&repo).len(), 2);
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    let ready = members(&repo);
    // Idle, but not for long: the round wakes when the pool falls due.
    let due = block_on(a.drain()).unwrap();
    assert!(due > 0 && due <= 10 * 60_000, "{due}");
    assert_eq!(members(&repo).len(), 2);
    a.host().clock.advance(10 * 60_000);
    block_on(a.drain()).unwrap();
    assert!(members(&repo).is_empty());
    let disposed = a.host().sessions.disposed.borrow().clone();
    for m in &ready {
        assert!(disposed.contains(m), "{m} was disposed of: {disposed:?}");
    }
    // Once per idle spell: a later round does not empty again.
    let before = disposed.len();
    block_on(a.drain()).unwrap();
    assert_eq!(a.host().sessions.disposed.borrow().len(), before);
    // The next start refills it.
    spawn(&a, &repo, "bd-2");
    assert_eq!(members(&repo).len(), 2);
}

#[test]
fn a_removed_worktree_has_its_opencode_instance_disposed_of_and_a_pooled_one_keeps_it() {
    let repo = Repo::new(true);
    let a = no_pool();
    let session = spawn(&a, &repo, "bd-1");
    let path = worktree_of(&a, "bd-1");
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    merge(&a, "bd-1").unwrap();
    assert_eq!(*a.host().sessions.disposed.borrow(), vec![path]);
    // A checkout that goes back to the pool stays warm: its instance is what is kept.
    let p = pooled(1);
    p.set_home(repo.path());
    let session = spawn(&p, &repo, "bd-2");
    block_on(p.complete(&worker(&session), &complete_args("bd-2"))).unwrap();
    let used = worktree_of(&p, "bd-2");
    let never_used = members(&repo);
    merge(&p, "bd-2").unwrap();
    assert_eq!(members(&repo), vec![used.clone()]);
    assert_eq!(*p.host().sessions.disposed.borrow(), never_used);
}
