//! Work that moves by git between machines: a worker placed on another server works in a
//! worktree of that server's clone made from the coordinator's HEAD, pushes its branch to the
//! shared remote when it completes, and the coordinator's merge fetches it. The "machines" are
//! clones of one bare repository in scratch folders; the other server's shell is this
//! machine's `sh`, run in that server's clone.
#![cfg(not(target_arch = "wasm32"))]
#[path = "core/given.rs"]
mod given;
#[path = "core/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use apiary::api::{CallContext, CleanupArgs, MergeArgs, Options, ReviewArgs, ServerOption};
use apiary::host::ServerEvent;
use apiary::projection::QueueState;
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::Apiary;
use given::{complete_args, spawn_args, spawn_started};
use scratch::{git_in, git_ok, Scratch};

const B: &str = "http://10.0.0.2:4096";

type Instance = Apiary<FakeHost<Rc<MemoryStore>>>;

/// A team: a bare `origin`, the coordinator's clone, and the clone of the server B.
struct Team {
    dir: Scratch,
    store: Rc<MemoryStore>,
    /// The coordinator's instance, which places workers on B.
    coordinator: Instance,
    /// The plugin on B, in the worker's worktree (the same log, no `servers`).
    on_b: Instance,
    coordinator_options: Options,
}

impl Team {
    fn new() -> Self {
        Self::with_slots(2)
    }

    /// The coordinator's options: B with `slots` workers at most.
    fn options(&self) -> Options {
        self.coordinator_options.clone()
    }

    fn with_slots(slots: u32) -> Self {
        let dir = Scratch::new("apiary-remote");
        git_in(&dir, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        git_in(&dir, &["init", "-q", "-b", "main", "seed"]);
        let seed = dir.join("seed");
        std::fs::write(seed.join("shared.txt"), "base\n").unwrap();
        std::fs::write(seed.join(".gitignore"), ".opencode/\n").unwrap();
        commit(&seed, "base");
        git_in(&seed, &["push", "-q", "../origin.git", "main"]);
        for clone in ["coordinator", "b"] {
            git_in(&dir, &["clone", "-q", "origin.git", clone]);
            let clone = dir.join(clone);
            git_in(&clone, &["config", "user.email", "t@example.com"]);
            git_in(&clone, &["config", "user.name", "T"]);
        }
        let store = Rc::new(MemoryStore::default());
        let options = Options {
            servers: vec![ServerOption {
                url: B.into(),
                max_workers: slots,
                directory: Some(path(&dir.join("b"))),
            }],
            // Worktrees named for their bead; the pool's own tests turn it on.
            worktree_pool: 0,
            ..Options::default()
        };
        let coordinator =
            Apiary::with_options(FakeHost::with_store(store.clone()), options.clone());
        coordinator.set_home(&path(&dir.join("coordinator")));
        let on_b = Apiary::with_options(FakeHost::with_store(store.clone()), Options::default());
        Team {
            dir,
            store,
            coordinator,
            on_b,
            coordinator_options: options,
        }
    }

    /// A team whose coordinator keeps `size` ready worktrees in B's clone.
    fn with_pool(size: u32) -> Self {
        let mut team = Self::with_slots(2);
        team.coordinator_options.worktree_pool = size;
        let host = FakeHost::with_store(team.store.clone());
        team.coordinator = Apiary::with_options(host, team.coordinator_options.clone());
        team.coordinator.set_home(&path(&team.coordinator_dir()));
        team
    }

    /// The free members of B's pool: detached, unlocked `pool-*` worktrees of its clone.
    fn pool_on_b(&self) -> Vec<String> {
        git_in(&self.b(), &["worktree", "list", "--porcelain"])
            .split("\n\n")
            .filter(|e| e.contains("/.apiary/worktrees/pool-") && e.contains("\ndetached"))
            .filter(|e| !e.contains("\nlocked"))
            .filter_map(|e| {
                e.lines()
                    .next()?
                    .strip_prefix("worktree ")
                    .map(String::from)
            })
            .collect()
    }

    fn coordinator_dir(&self) -> PathBuf {
        self.dir.join("coordinator")
    }

    fn b(&self) -> PathBuf {
        self.dir.join("b")
    }

    fn origin(&self) -> PathBuf {
        self.dir.join("origin.git")
    }

    fn ctx(&self) -> CallContext {
        CallContext {
            session_id: "ses_coord".into(),
            directory: path(&self.coordinator_dir()),
        }
    }

    fn spawn(&self, bead: &str) -> apiary::api::SpawnReply {
        block_on(spawn_started(
            &self.coordinator,
            &self.ctx(),
            &spawn_args(bead),
        ))
        .unwrap()
    }

    /// Spawns `bead` on B, and writes `file` in its worktree there as its worker would.
    fn spawn_writing(&self, bead: &str, file: &str, text: &str) -> PathBuf {
        self.spawn(bead);
        let wt = self.b().join(".apiary/worktrees").join(bead);
        std::fs::write(wt.join(file), text).unwrap();
        wt
    }

    /// B answers the coordinator, or stops answering.
    fn b_answers(&self, up: bool) {
        let mut down = self.coordinator.host().sessions.down.borrow_mut();
        down.retain(|d| d != B);
        if !up {
            down.push(B.into());
        }
    }

    fn worker(&self, bead: &str) -> apiary::projection::Worker {
        block_on(self.coordinator.refresh()).unwrap();
        self.coordinator.log().swarm().bead(bead).unwrap().clone()
    }

    /// The worker's `swarm_complete`, handled by the plugin on its server.
    fn complete(&self, bead: &str) -> String {
        let session = self.worker(bead).session_id;
        let ctx = CallContext {
            session_id: session,
            directory: self.worker(bead).directory.unwrap(),
        };
        block_on(self.on_b.complete(&ctx, &complete_args(bead)))
            .unwrap()
            .output
    }

    fn merge(&self, bead: &str) -> Result<apiary::api::MergeReply, apiary::ToolError> {
        self.merge_with(bead, None)
    }

    /// The merge of a worker that did not succeed (one that needs review, here).
    fn force_merge(&self, bead: &str) -> Result<apiary::api::MergeReply, apiary::ToolError> {
        self.merge_with(bead, Some(true))
    }

    fn merge_with(
        &self,
        bead: &str,
        force: Option<bool>,
    ) -> Result<apiary::api::MergeReply, apiary::ToolError> {
        block_on(self.coordinator.worktree_merge(&MergeArgs {
            bead_id: bead.into(),
            force,
        }))
    }

    fn events(&self, event_type: &str) -> usize {
        let needle = format!("\"type\":\"{event_type}\"");
        self.store
            .text()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn has_branch(repo: &Path, branch: &str) -> bool {
    git_ok(
        repo,
        &[
            "rev-parse",
            "-q",
            "--verify",
            &format!("refs/heads/{branch}"),
        ],
    )
}

fn commit(dir: &Path, message: &str) {
    git_in(dir, &["add", "-A"]);
    git_in(
        dir,
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=T",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}

#[test]
fn a_worker_on_another_server_starts_in_a_worktree_of_its_clone_from_the_coordinators_head() {
    let team = Team::new();
    // A commit the coordinator has not pushed anywhere: the worker still starts from it.
    std::fs::write(team.coordinator_dir().join("plan.txt"), "the plan\n").unwrap();
    commit(&team.coordinator_dir(), "plan");
    let reply = team.spawn("bd-1");
    let wt = team.b().join(".apiary/worktrees/bd-1");
    assert_eq!(
        reply.output,
        format!("starting bd-1 (epic ep) on {B}; running in the background")
    );
    let w = team.worker("bd-1");
    assert_eq!(w.worktree.as_deref(), Some(path(&wt).as_str()));
    assert_eq!(w.branch.as_deref(), Some("apiary/bd-1"));
    assert_eq!(
        std::fs::read_to_string(wt.join("plan.txt")).unwrap(),
        "the plan\n"
    );
    assert_eq!(
        git_in(&wt, &["branch", "--show-current"]).trim(),
        "apiary/bd-1"
    );
    let created = team.coordinator.host().sessions.created.borrow().clone();
    assert_eq!(created[0].server.as_deref(), Some(B));
    assert_eq!(created[0].directory.as_deref(), wt.to_str());
    let shells = team.coordinator.host().sessions.shells.borrow().clone();
    assert_eq!(shells, vec![(B.to_string(), path(&team.b()))]);
    // The base ref did its job and is gone from origin and from the server's clone; the
    // worktrees' folder stays out of the server's `git status`.
    assert_eq!(git_in(&team.origin(), &["for-each-ref", "refs/apiary"]), "");
    assert_eq!(git_in(&team.b(), &["for-each-ref", "refs/apiary"]), "");
    assert_eq!(git_in(&team.b(), &["status", "--porcelain"]), "");
}

#[test]
fn the_servers_plugin_folder_is_linked_into_the_worktree_and_never_committed() {
    let team = Team::new();
    let plugin = team.b().join(".opencode/plugin");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::write(plugin.join("apiary.js"), "// the plugin\n").unwrap();
    team.spawn("bd-1");
    let wt = team.b().join(".apiary/worktrees/bd-1");
    assert!(wt.join(".opencode/plugin/apiary.js").exists());
    assert_eq!(
        team.worker("bd-1").config_links,
        vec![".opencode".to_string()]
    );
    std::fs::write(wt.join("work.txt"), "done\n").unwrap();
    team.complete("bd-1");
    let files = git_in(
        &team.origin(),
        &["ls-tree", "-r", "--name-only", "apiary/bd-1"],
    );
    assert!(
        files.contains("work.txt") && !files.contains(".opencode"),
        "{files}"
    );
}

/// Writes `text` to `file` below `dir`, making its folders.
fn write(dir: &Path, file: &str, text: &str) {
    let file = dir.join(file);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

#[test]
fn a_worktree_here_and_one_on_another_server_are_readied_by_the_same_rule() {
    let team = Team::new();
    let here = team.coordinator_dir();
    // Both clones at one commit that tracks part of `.opencode/` (a dependency among it), with
    // the same untracked plugin files and the same exclude file, its last line unterminated.
    for (file, text) in [
        (".opencode/opencode.json", "{}\n"),
        (".opencode/plugin/tracked.js", "// tracked\n"),
        (".opencode/node_modules/tracked/index.js", "// tracked\n"),
    ] {
        write(&here, file, text);
    }
    git_in(&here, &["add", "-f", ".opencode"]);
    commit(&here, "config");
    git_in(&here, &["push", "-q", "origin", "main"]);
    git_in(&team.b(), &["pull", "-q", "origin", "main"]);
    for clone in [here.clone(), team.b()] {
        for file in [
            ".opencode/package.json",
            ".opencode/plugin/apiary.js",
            ".opencode/plugin/apiary/core.wasm",
            ".opencode/node_modules/pg/index.js",
            ".opencode/.env",
        ] {
            write(&clone, file, "untracked\n");
        }
        std::fs::write(clone.join(".git/info/exclude"), "*.log").unwrap();
    }
    let local: Apiary<FakeHost> = Apiary::new(FakeHost::default());
    let ctx = CallContext {
        session_id: "ses_coord".into(),
        directory: path(&here),
    };
    block_on(spawn_started(&local, &ctx, &spawn_args("bd-1"))).unwrap();
    team.spawn("bd-1");
    let made_here = local.log().swarm().bead("bd-1").unwrap().clone();
    let made_on_b = team.worker("bd-1");
    assert_eq!(made_on_b.server.as_deref(), Some(B));
    assert_eq!(made_here.server, None);
    // Entry by entry where the checkout has the folder; never into `node_modules`.
    assert_eq!(
        made_here.config_links,
        [
            ".opencode/package.json",
            ".opencode/plugin/apiary",
            ".opencode/plugin/apiary.js",
            ".opencode/.env",
        ]
    );
    assert_eq!(made_on_b.config_links, made_here.config_links);
    for (clone, w) in [(here, &made_here), (team.b(), &made_on_b)] {
        let wt = PathBuf::from(w.worktree.as_deref().unwrap());
        // Here a pool-named checkout (it may join the pool when done), there the bead's name.
        assert_eq!(wt.parent(), Some(clone.join(".apiary/worktrees").as_path()));
        for link in &w.config_links {
            assert_eq!(std::fs::read_link(wt.join(link)).unwrap(), clone.join(link));
        }
        assert!(!wt.join(".opencode/node_modules/pg").exists());
        assert_eq!(
            std::fs::read_to_string(clone.join(".git/info/exclude")).unwrap(),
            "*.log\n/.apiary/\n"
        );
    }
}

#[test]
fn a_retry_keeps_its_worktree_and_its_links_are_still_left_out() {
    let team = Team::new();
    std::fs::create_dir_all(team.b().join(".opencode")).unwrap();
    team.spawn("bd-1");
    let first = team.worker("bd-1");
    let error = apiary::host::MessageError {
        name: Some("APIError".into()),
        data: None,
    };
    block_on(team.coordinator.observe(&ServerEvent::Error {
        session_id: first.session_id.clone(),
        error: Some(error),
    }))
    .unwrap();
    // The retry is queued with its backoff, then started when the backoff ends.
    block_on(team.coordinator.drain()).unwrap();
    team.coordinator.host().clock.advance(600_000);
    block_on(team.coordinator.drain()).unwrap();
    let second = team.worker("bd-1");
    assert_eq!(second.attempt, 2);
    assert_eq!(second.worktree, first.worktree);
    assert_eq!(second.config_links, vec![".opencode".to_string()]);
}

#[test]
fn a_start_that_loses_its_servers_last_slot_takes_back_the_worktree_it_made_there() {
    let team = Team::with_slots(1);
    let other = Rc::new(Apiary::with_options(
        FakeHost::with_store(team.store.clone()),
        team.options(),
    ));
    // While bd-1's session is being created on B, another coordinator instance takes B's
    // only slot for bd-2, which goes first.
    let (first, ctx) = (other.clone(), team.ctx());
    *team.coordinator.host().sessions.before_create.borrow_mut() = Some(Box::new(move || {
        let urgent = apiary::api::SpawnArgs {
            priority: Some(apiary::event::Priority::High),
            ..spawn_args("bd-2")
        };
        block_on(spawn_started(&first, &ctx, &urgent)).unwrap();
    }));
    team.spawn("bd-1");
    block_on(team.coordinator.refresh()).unwrap();
    let q = team.coordinator.log().swarm().queued("bd-1").cloned();
    assert_eq!(
        q.map(|q| q.state),
        Some(QueueState::Waiting),
        "still queued"
    );
    let worktrees = team.b().join(".apiary/worktrees");
    assert!(!worktrees.join("bd-1").exists(), "taken back");
    assert!(
        worktrees.join("bd-2").exists(),
        "the winner's is left alone"
    );
    assert!(!has_branch(&team.b(), "apiary/bd-1"));
}

#[test]
fn completing_pushes_the_branch_and_the_coordinators_merge_fetches_it() {
    let team = Team::new();
    let wt = team.spawn_writing("bd-1", "feature.txt", "from machine b\n");
    let done = team.complete("bd-1");
    assert!(
        done.contains("Your branch apiary/bd-1 was pushed to origin at "),
        "{done}"
    );
    assert_eq!(team.events("worktree_pushed"), 1);
    let pushed = team.worker("bd-1").pushed_commit.unwrap();
    assert_eq!(
        git_in(&team.origin(), &["rev-parse", "refs/heads/apiary/bd-1"]).trim(),
        pushed
    );
    let merged = team.merge("bd-1").unwrap();
    assert!(merged.merged, "{}", merged.output);
    assert!(
        merged.output.contains("1 file changed: feature.txt"),
        "{}",
        merged.output
    );
    assert_eq!(
        std::fs::read_to_string(team.coordinator_dir().join("feature.txt")).unwrap(),
        "from machine b\n"
    );
    // Merged: the worktree on b and the branch on origin went with it.
    assert!(
        merged
            .output
            .ends_with("its worktree and branch were removed"),
        "{}",
        merged.output
    );
    assert!(!wt.exists());
    assert!(!has_branch(&team.origin(), "apiary/bd-1"));
    assert!(!has_branch(&team.b(), "apiary/bd-1"));
    assert_eq!(team.events("worktree_removed"), 1);
}

#[test]
fn a_review_of_a_worker_on_another_server_reads_its_pushed_branch_and_writes_no_ref() {
    let team = Team::new();
    team.spawn_writing("bd-1", "feature.txt", "from machine b\n");
    let review = |bead: &str| {
        block_on(team.coordinator.worktree_review(&ReviewArgs {
            bead_id: bead.into(),
        }))
        .unwrap()
    };
    // Not pushed yet: its work is on b only, and the review says so.
    let early = review("bd-1");
    assert_eq!(early.title, "bd-1: not on origin");
    assert!(
        early
            .output
            .ends_with("apiary/bd-1 is not on origin yet (the merge has its server push it)"),
        "{}",
        early.output
    );
    team.complete("bd-1");
    let coordinator = team.coordinator_dir();
    let refs = git_in(&coordinator, &["for-each-ref"]);
    let r = review("bd-1");
    assert_eq!(r.title, "bd-1: clean, 1 file, 1 outside");
    assert_eq!(r.files, ["feature.txt"]);
    assert_eq!(git_in(&coordinator, &["for-each-ref"]), refs);
    assert!(!coordinator.join(".git/FETCH_HEAD").exists());
    assert!(!coordinator.join("feature.txt").exists());
    assert!(team.merge("bd-1").unwrap().merged);
}

#[test]
fn a_worker_that_ended_without_pushing_is_pushed_by_its_server_at_merge() {
    let team = Team::new();
    team.spawn_writing("bd-1", "half.txt", "unreported\n");
    // Its turn ends without swarm_complete: it needs review, and nothing was pushed.
    let session = team.worker("bd-1").session_id;
    block_on(team.coordinator.observe(&ServerEvent::Idle {
        session_id: session,
    }))
    .unwrap();
    assert_eq!(team.worker("bd-1").state.name(), "needs_review");
    assert_eq!(team.events("worktree_pushed"), 0);
    let merged = team.force_merge("bd-1").unwrap();
    assert!(merged.merged, "{}", merged.output);
    assert!(team.coordinator_dir().join("half.txt").exists());
}

#[test]
fn an_unpushed_worker_whose_server_is_lost_is_refused_by_name_and_nothing_is_merged() {
    let team = Team::new();
    team.spawn("bd-1");
    let session = team.worker("bd-1").session_id;
    block_on(team.coordinator.observe(&ServerEvent::Idle {
        session_id: session,
    }))
    .unwrap();
    let head = git_in(&team.coordinator_dir(), &["rev-parse", "HEAD"]);
    team.b_answers(false);
    let refused = team.force_merge("bd-1").unwrap_err().to_string();
    assert!(
        refused.contains("bd-1 never pushed apiary/bd-1, and its server could not push it now")
            && refused.contains(B)
            && refused.ends_with("Nothing was merged."),
        "{refused}"
    );
    assert_eq!(
        git_in(&team.coordinator_dir(), &["rev-parse", "HEAD"]),
        head
    );
}

#[test]
fn a_pushed_branch_merges_even_when_its_server_is_gone_and_cleanup_keeps_what_it_cannot_reach() {
    let team = Team::new();
    team.spawn_writing("bd-1", "kept.txt", "safe on origin\n");
    team.complete("bd-1");
    team.b_answers(false);
    let merged = team.merge("bd-1").unwrap();
    assert!(merged.merged, "{}", merged.output);
    assert!(team.coordinator_dir().join("kept.txt").exists());
    assert!(
        merged.output.contains("its worktree was kept") && merged.output.contains(B),
        "{}",
        merged.output
    );
    // B answers again: cleanup removes the merged worktree there.
    team.b_answers(true);
    let cleaned = block_on(team.coordinator.worktree_cleanup(&CleanupArgs::default())).unwrap();
    assert!(
        cleaned.output.starts_with("removed 1 worktree(s): bd-1"),
        "{}",
        cleaned.output
    );
    assert!(!team.b().join(".apiary/worktrees/bd-1").exists());
}

#[test]
fn without_an_origin_the_worker_edits_the_servers_clone_and_the_spawn_says_so() {
    let team = Team::new();
    git_in(&team.coordinator_dir(), &["remote", "remove", "origin"]);
    team.spawn("bd-1");
    let note = team.worker("bd-1").place_note.unwrap_or_default();
    assert!(
        note.contains(&format!(
            "your repository has no remote \"origin\": the worker on {B} edits its clone {}",
            team.b().display()
        )),
        "{note}"
    );
    assert_eq!(team.worker("bd-1").worktree, None);
    assert!(team.coordinator.host().sessions.shells.borrow().is_empty());
}

#[test]
fn a_server_without_the_build_agent_runs_its_scripts_under_its_first_primary_agent() {
    use apiary::host::AgentInfo;
    let agent = |name: &str, mode: &str| AgentInfo {
        name: name.into(),
        mode: mode.into(),
    };
    let team = Team::new();
    *team.coordinator.host().sessions.remote_agents.borrow_mut() = Some(vec![
        agent("helper", "subagent"),
        agent("review", "primary"),
    ]);
    team.spawn("bd-1");
    assert!(team.b().join(".apiary/worktrees/bd-1").is_dir());
    let asked = team
        .coordinator
        .host()
        .sessions
        .shell_agents
        .borrow()
        .clone();
    assert_eq!(asked, vec!["build".to_string(), "review".to_string()]);
    // A server with no primary agent at all: the start fails and says why.
    let team = Team::new();
    *team.coordinator.host().sessions.remote_agents.borrow_mut() =
        Some(vec![agent("helper", "subagent")]);
    team.spawn("bd-1");
    let q = team
        .coordinator
        .log()
        .swarm()
        .queued("bd-1")
        .cloned()
        .unwrap();
    let QueueState::Failed { error, .. } = q.state else {
        panic!("{:?}", q.state);
    };
    assert!(
        error.contains(&format!("{B} has no primary agent to run a shell command")),
        "{error}"
    );
}

#[test]
fn a_worker_on_another_server_takes_a_ready_worktree_of_its_pool_which_gets_it_back_after_the_merge(
) {
    let team = Team::with_pool(1);
    let made = block_on(team.coordinator.refill_pool(Some(B), &path(&team.b()))).unwrap();
    assert_eq!(made, 1);
    let ready = team.pool_on_b();
    assert_eq!(ready.len(), 1);
    // Its OpenCode instance on B was warmed up for a first prompt.
    assert_eq!(*team.coordinator.host().sessions.warmed.borrow(), ready);
    std::fs::write(team.coordinator_dir().join("plan.txt"), "the plan\n").unwrap();
    commit(&team.coordinator_dir(), "plan");
    team.spawn("bd-1");
    let w = team.worker("bd-1");
    let wt = PathBuf::from(&ready[0]);
    assert_eq!(w.worktree.as_deref(), Some(ready[0].as_str()));
    assert_eq!(
        git_in(&wt, &["branch", "--show-current"]).trim(),
        "apiary/bd-1"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("plan.txt")).unwrap(),
        "the plan\n"
    );
    assert_eq!(git_in(&team.b(), &["for-each-ref", "refs/apiary"]), "");
    // The start refilled B's pool behind it.
    let refilled = team.pool_on_b();
    assert_eq!(refilled.len(), 1);
    assert_ne!(refilled[0], ready[0]);
    std::fs::write(wt.join("new.txt"), "from the worker\n").unwrap();
    team.complete("bd-1");
    team.merge("bd-1").unwrap();
    assert_eq!(
        std::fs::read_to_string(team.coordinator_dir().join("new.txt")).unwrap(),
        "from the worker\n"
    );
    // The used checkout is B's one member now, clean and detached; the never-used one went,
    // its instance on B disposed of; the branch is gone from B and from origin.
    assert_eq!(team.pool_on_b(), vec![ready[0].clone()]);
    assert_eq!(git_in(&wt, &["status", "--porcelain"]), "");
    assert!(!has_branch(&team.b(), "apiary/bd-1"));
    assert!(!git_ok(
        &team.origin(),
        &["rev-parse", "-q", "--verify", "refs/heads/apiary/bd-1"]
    ));
    let disposed = team.coordinator.host().sessions.disposed.borrow().clone();
    assert_eq!(disposed, refilled);
}
