//! A spawn records its bead and returns; the worker is prepared behind it. Its reply comes
//! before its session or worktree exists, thirty spawns in one step cost thirty appends, the
//! scheduler prepares several at once (never more than its bound), and a start that fails is
//! recorded once, with its reason, for the retry policy.
#[path = "core/given.rs"]
mod given;

use std::rc::Rc;

use apiary::api::{Options, PollArgs, SpawnStatus};
use apiary::projection::QueueState;
use apiary::testing::{block_on, join, FakeHost, MemoryStore};
use apiary::Apiary;
use given::*;

fn wide(max_running: u32) -> Apiary<FakeHost> {
    apiary_with(|o| {
        o.max_running = max_running;
        o.worktrees = false;
    })
}

#[test]
fn a_spawns_reply_comes_before_its_session_exists_and_says_it_is_starting() {
    let a = wide(4);
    let reply = block_on(a.spawn(&coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(reply.status, SpawnStatus::Starting);
    assert_eq!(
        reply.output,
        "starting bd-1 (epic ep); running in the background"
    );
    assert_eq!(reply.session_id, "");
    assert!(a.host().sessions.created.borrow().is_empty());
    assert_eq!(count_lines(&a, "worker_queued"), 1);
    assert_eq!(count_lines(&a, "worker_spawned"), 0);
    // Meanwhile a poll shows it pending, about to start.
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.pending.len(), 1, "{}", report.output);
    block_on(a.drain()).unwrap();
    assert_eq!(a.host().sessions.created.borrow().len(), 1);
    assert_eq!(count_lines(&a, "worker_spawned"), 1);
    assert_eq!(a.host().sessions.prompts.borrow().len(), 1);
}

#[test]
fn thirty_spawns_in_one_step_are_thirty_appends_and_a_round_prepares_them_four_at_once() {
    let a = wide(30);
    a.host().sessions.create_yields.set(20);
    for i in 1..=30 {
        let reply = block_on(a.spawn(&coordinator(), &spawn_args(&format!("bd-{i}")))).unwrap();
        assert_eq!(reply.status, SpawnStatus::Starting, "{}", reply.output);
    }
    assert!(a.host().sessions.created.borrow().is_empty());
    assert_eq!(count_lines(&a, "worker_queued"), 30);
    block_on(a.drain()).unwrap();
    assert_eq!(count_lines(&a, "worker_spawned"), 30);
    assert_eq!(a.host().sessions.prompts.borrow().len(), 30);
    assert_eq!(a.host().sessions.most_creating.get(), 4);
}

#[test]
fn a_spawn_whose_bead_another_round_started_meanwhile_is_answered_with_its_worker() {
    // A spawn looks at the machine after queueing its bead (a host reading /proc yields);
    // the round of an earlier spawn, run meanwhile, starts that bead first.
    for delay in 1..8 {
        let a = wide(4);
        a.host().machine_yields.set(3);
        let earlier = async {
            a.spawn(&coordinator(), &spawn_args("bd-1")).await.unwrap();
            a.drain().await.unwrap();
        };
        let later = async {
            for _ in 0..delay {
                apiary::testing::yield_now().await;
            }
            a.spawn(&coordinator(), &spawn_args("bd-2")).await
        };
        let ((), reply) = block_on(join(earlier, later));
        let reply = reply.unwrap_or_else(|e| panic!("after {delay} yields: {e}"));
        assert_eq!(reply.bead_id, "bd-2");
        block_on(a.drain()).unwrap();
        assert_eq!(count_lines(&a, "worker_spawned"), 2);
    }
}

#[test]
fn a_round_decided_while_starts_are_prepared_leaves_them_to_those_starts() {
    let a = wide(3);
    a.host().sessions.create_yields.set(50);
    for b in ["bd-1", "bd-2"] {
        block_on(a.spawn(&coordinator(), &spawn_args(b))).unwrap();
    }
    // A second round while the first prepares bd-1 and bd-2: it starts bd-3 only.
    let second = async {
        apiary::testing::yield_now().await;
        a.spawn(&coordinator(), &spawn_args("bd-3")).await.unwrap();
        a.drain().await.unwrap();
    };
    block_on(join(async { a.drain().await.unwrap() }, second));
    assert_eq!(count_lines(&a, "worker_spawned"), 3);
    assert_eq!(a.host().sessions.created.borrow().len(), 3);
    assert!(a.host().sessions.deletions.borrow().is_empty());
}

#[test]
fn a_start_whose_session_cannot_be_made_fails_its_entry_once_with_the_reason() {
    let a = apiary_with(|o| {
        o.worktrees = false;
        o.max_attempts = 1;
    });
    *a.host().sessions.fail_create.borrow_mut() = Some("connection refused".into());
    let reply = block_on(a.spawn(&coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(reply.status, SpawnStatus::Starting);
    block_on(a.drain()).unwrap();
    block_on(a.drain()).unwrap();
    assert_eq!(count_lines(&a, "worker_failed"), 1, "recorded once");
    let q = a.log().swarm().queued("bd-1").cloned().unwrap();
    let QueueState::Failed { error, .. } = &q.state else {
        panic!("{:?}", q.state);
    };
    assert!(
        error.starts_with("could not start: session.create failed: connection refused"),
        "{error}"
    );
    let report = block_on(a.poll(&PollArgs {
        epic_id: "ep".into(),
        include_messages: None,
    }))
    .unwrap();
    assert_eq!(report.failed.len(), 1, "{}", report.output);
    assert!(report.output.contains("bd-1 failed"), "{}", report.output);
}

#[test]
fn a_start_that_failed_is_retried_by_the_policy_and_then_runs() {
    let a = apiary_with(|o| {
        o.worktrees = false;
        o.max_attempts = 2;
        o.retry_backoff_ms = 1_000;
    });
    *a.host().sessions.fail_create.borrow_mut() = Some("ECONNRESET".into());
    block_on(a.spawn(&coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(a.drain()).unwrap();
    *a.host().sessions.fail_create.borrow_mut() = None;
    block_on(a.drain()).unwrap();
    assert_eq!(count_lines(&a, "worker_retried"), 1);
    assert_eq!(count_lines(&a, "worker_spawned"), 0, "the backoff holds it");
    a.host().clock.advance(1_000);
    block_on(a.drain()).unwrap();
    let swarm = a.log().swarm();
    let w = swarm.bead("bd-1").expect("started");
    assert_eq!(w.attempt, 2);
}

#[test]
fn two_instances_that_vet_one_bead_at_once_queue_it_once() {
    let store = Rc::new(MemoryStore::default());
    let instance = || {
        Apiary::with_options(
            FakeHost::with_store(store.clone()),
            Options {
                worktrees: false,
                ..Options::default()
            },
        )
    };
    let (a, b) = (instance(), instance());
    let (x, y) = block_on(join(
        a.spawn(&coordinator(), &spawn_args("bd-1")),
        b.spawn(&coordinator(), &spawn_args("bd-1")),
    ));
    let mut statuses = [x.unwrap().status, y.unwrap().status];
    statuses.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(
        statuses,
        [SpawnStatus::AlreadyQueued, SpawnStatus::Starting]
    );
    assert_eq!(
        store.text().matches("\"type\":\"worker_queued\"").count(),
        1
    );
    block_on(join(a.drain(), b.drain())).0.unwrap();
    assert_eq!(
        store.text().matches("\"type\":\"worker_spawned\"").count(),
        1
    );
}

#[test]
fn a_full_queue_refuses_only_the_spawns_beyond_the_free_slots() {
    let a = apiary_with(|o| {
        o.worktrees = false;
        o.max_running = 3;
        o.max_queued = 1;
    });
    for b in ["bd-1", "bd-2", "bd-3", "bd-4"] {
        block_on(a.spawn(&coordinator(), &spawn_args(b))).unwrap();
    }
    let err = block_on(a.spawn(&coordinator(), &spawn_args("bd-5")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused: the queue is full: 4 queued (max_queued 1) and 0 running (max_running 3). \
         Nothing was queued; await or cancel workers, then spawn again."
    );
}
