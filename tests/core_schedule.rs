//! The scheduler with a fake clock: limits, priorities and aging, dependencies, cycles,
//! blocked beads, retries and their backoff, stalls, cancels, backpressure, the machine,
//! retention, and a queue rebuilt from the log by a new instance.
#[path = "core/given.rs"]
mod given;

use std::rc::Rc;

use apiary::api::{CancelArgs, Options, SpawnArgs, SpawnStatus, StallPolicy, StatusArgs};
use apiary::event::{CompletionStatus, Priority};
use apiary::host::{ServerEvent, SessionStatus};
use apiary::projection::{QueueState, WorkerState};
use apiary::schedule::Machine;
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::Apiary;
use given::*;

type Core = Apiary<FakeHost>;

fn spawn(a: &Core, args: SpawnArgs) -> apiary::api::SpawnReply {
    block_on(spawn_started(a, &coordinator(), &args)).unwrap()
}

fn bead(id: &str) -> SpawnArgs {
    spawn_args(id)
}

fn after(id: &str, deps: &[&str]) -> SpawnArgs {
    let mut args = spawn_args(id);
    args.dependencies = Some(deps.iter().map(|d| d.to_string()).collect());
    args
}

fn with_priority(id: &str, p: Priority) -> SpawnArgs {
    let mut args = spawn_args(id);
    args.priority = Some(p);
    args
}

fn state_of(a: &Core, bead: &str) -> Option<WorkerState> {
    a.log().swarm().bead(bead).map(|w| w.state)
}

fn queue_state(a: &Core, bead: &str) -> Option<QueueState> {
    a.log().swarm().queued(bead).map(|q| q.state.clone())
}

fn running(a: &Core) -> Vec<String> {
    a.log()
        .swarm()
        .workers()
        .filter(|w| w.state.is_active())
        .map(|w| w.bead_id.clone())
        .collect()
}

/// Beads in the order their sessions were created.
fn started_order(a: &Core) -> Vec<String> {
    a.host()
        .sessions
        .created
        .borrow()
        .iter()
        .map(|c| c.title.split(':').next().unwrap().to_string())
        .collect()
}

fn provider_error(a: &Core, id: &str) {
    session_error(a, &session_of(a, id), "APIError");
}

#[test]
fn spawns_beyond_the_limit_are_queued_with_their_place_and_start_as_slots_free() {
    let a = apiary_with(|o| o.max_running = 2);
    for i in 1..=5 {
        let reply = spawn(&a, bead(&format!("bd-{i}")));
        match i {
            1 | 2 => assert_eq!(reply.status, SpawnStatus::Starting),
            _ => {
                assert_eq!(reply.status, SpawnStatus::Queued);
                assert_eq!(reply.queue_position, Some(i - 2));
                assert_eq!(reply.session_id, "");
                assert_eq!(
                    reply.output,
                    format!(
                        "queued bd-{i} (epic ep) at #{}: limit: 2/2 running; it starts by itself",
                        i - 2
                    )
                );
            }
        }
    }
    assert_eq!(running(&a), ["bd-1", "bd-2"]);
    finish(&a, "bd-1");
    assert_eq!(running(&a), ["bd-2", "bd-3"]);
    // However the others end, the limit holds and the queue drains in order.
    for id in ["bd-2", "bd-3", "bd-4", "bd-5"] {
        finish(&a, id);
        assert!(running(&a).len() <= 2, "{:?}", running(&a));
    }
    assert_eq!(started_order(&a), ["bd-1", "bd-2", "bd-3", "bd-4", "bd-5"]);
    // Every spawn enters the queue; the first two left it at once.
    assert_eq!(count_lines(&a, "worker_queued"), 5);
    assert_eq!(count_lines(&a, "worker_completed"), 5);
}

#[test]
fn a_worker_that_reported_keeps_its_slot_until_its_last_reply_ends() {
    let a = apiary_with(|o| o.max_running = 1);
    spawn(&a, bead("bd-1"));
    spawn(&a, bead("bd-2"));
    let session = session_of(&a, "bd-1");
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    // The reply after swarm_complete is still a model call: the slot is not free yet, and the
    // scheduler names the moment it frees at the latest.
    assert_eq!(block_on(a.drain()).unwrap(), 120_000);
    assert!(running(&a).is_empty());
    assert_eq!(a.host().sessions.created.borrow().len(), 1);
    block_on(a.observe(&ServerEvent::Idle {
        session_id: session.clone(),
    }))
    .unwrap();
    assert_eq!(count_lines(&a, "worker_idle"), 1);
    block_on(a.drain()).unwrap();
    assert_eq!(running(&a), ["bd-2"]);
    assert_eq!(
        state_of(&a, "bd-1"),
        Some(WorkerState::Completed(CompletionStatus::Success)),
        "still completed"
    );

    // An idle event that never comes (a restart) holds the slot two minutes at most.
    let b = apiary_with(|o| o.max_running = 1);
    spawn(&b, bead("bd-1"));
    spawn(&b, bead("bd-2"));
    let session = session_of(&b, "bd-1");
    block_on(b.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    b.host().clock.advance(119_999);
    block_on(b.drain()).unwrap();
    assert!(running(&b).is_empty());
    b.host().clock.advance(1);
    block_on(b.drain()).unwrap();
    assert_eq!(running(&b), ["bd-2"]);
}

#[test]
fn the_limit_is_never_exceeded_however_workers_end() {
    let a = apiary_with(|o| {
        o.max_running = 3;
        o.max_attempts = 1;
    });
    for i in 0..12 {
        spawn(&a, bead(&format!("bd-{i}")));
    }
    // End them in a scrambled order and in every way a worker can end.
    let mut ended = 0;
    while ended < 12 {
        let live = running(&a);
        assert!(live.len() <= 3, "{live:?}");
        let id = &live[ended % live.len()];
        match ended % 4 {
            0 => finish(&a, id),
            1 => {
                provider_error(&a, id);
                block_on(a.drain()).unwrap();
            }
            2 => {
                block_on(a.observe(&ServerEvent::Deleted {
                    session_id: session_of(&a, id),
                }))
                .unwrap();
                block_on(a.drain()).unwrap();
            }
            _ => {
                block_on(a.cancel(&CancelArgs {
                    bead_id: Some(id.clone()),
                    ..CancelArgs::default()
                }))
                .unwrap();
            }
        }
        ended += 1;
    }
    assert!(running(&a).is_empty());
    assert_eq!(a.host().sessions.created.borrow().len(), 12);
}

#[test]
fn a_limit_per_model_holds_back_only_that_models_workers() {
    let a = apiary_with(|o| {
        o.max_running_per_model.insert("slow/big".into(), 1);
        o.max_running_per_model.insert("default".into(), 5);
    });
    let model = |id: &str, m: &str| {
        let mut args = bead(id);
        args.model = Some(m.into());
        args
    };
    assert_eq!(
        spawn(&a, model("bd-1", "slow/big")).status,
        SpawnStatus::Starting
    );
    let held = spawn(&a, model("bd-2", "slow/big"));
    assert!(
        held.output.contains("limit for slow/big: 1/1 running"),
        "{}",
        held.output
    );
    assert_eq!(
        spawn(&a, model("bd-3", "fast/small")).status,
        SpawnStatus::Starting
    );
    assert_eq!(spawn(&a, bead("bd-4")).status, SpawnStatus::Starting);
    finish(&a, "bd-1");
    assert_eq!(state_of(&a, "bd-2"), Some(WorkerState::Starting));
}

#[test]
fn higher_priority_starts_first_and_equals_go_in_arrival_order() {
    let a = apiary_with(|o| o.max_running = 1);
    spawn(&a, bead("run"));
    spawn(&a, with_priority("low-1", Priority::Low));
    spawn(&a, with_priority("normal-1", Priority::Normal));
    spawn(&a, with_priority("high-1", Priority::High));
    spawn(&a, with_priority("normal-2", Priority::Normal));
    let status = block_on(a.status(&StatusArgs::default())).unwrap();
    let queue: Vec<&str> = status
        .output
        .lines()
        .filter(|l| l.starts_with("  #"))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(queue, ["high-1", "normal-1", "normal-2", "low-1"]);
    for id in ["run", "high-1", "normal-1", "normal-2"] {
        finish(&a, id);
    }
    assert_eq!(
        started_order(&a),
        ["run", "high-1", "normal-1", "normal-2", "low-1"]
    );
}

#[test]
fn a_low_priority_bead_that_waited_long_enough_goes_before_a_new_high_one() {
    let a = apiary_with(|o| {
        o.max_running = 1;
        o.priority_aging_ms = 60_000;
    });
    spawn(&a, bead("run"));
    spawn(&a, with_priority("old-low", Priority::Low));
    // Two levels below high: it needs two aging periods (and a moment) to pass it.
    a.host().clock.advance(120_001);
    spawn(&a, with_priority("new-high", Priority::High));
    finish(&a, "run");
    assert_eq!(running(&a), ["old-low"]);

    // One period is not enough: a new high bead still goes first.
    let b = apiary_with(|o| {
        o.max_running = 1;
        o.priority_aging_ms = 60_000;
    });
    spawn(&b, bead("run"));
    spawn(&b, with_priority("old-low", Priority::Low));
    b.host().clock.advance(60_000);
    spawn(&b, with_priority("new-high", Priority::High));
    finish(&b, "run");
    assert_eq!(running(&b), ["new-high"]);
}

#[test]
fn a_chain_starts_each_link_when_the_one_before_completes() {
    let a = apiary();
    assert_eq!(spawn(&a, bead("A")).status, SpawnStatus::Starting);
    let b = spawn(&a, after("B", &["A"]));
    assert_eq!(b.status, SpawnStatus::Queued);
    assert!(b.output.contains("waits for A"), "{}", b.output);
    let c = spawn(&a, after("C", &["B"]));
    assert!(c.output.contains("waits for B"), "{}", c.output);
    assert_eq!(running(&a), ["A"]);
    finish(&a, "A");
    assert_eq!(running(&a), ["B"]);
    finish(&a, "B");
    assert_eq!(running(&a), ["C"]);
    finish(&a, "C");
    assert_eq!(started_order(&a), ["A", "B", "C"]);
}

#[test]
fn a_diamond_joins_only_when_both_branches_complete() {
    let a = apiary();
    spawn(&a, bead("A"));
    spawn(&a, after("B", &["A"]));
    spawn(&a, after("C", &["A"]));
    spawn(&a, after("D", &["B", "C"]));
    finish(&a, "A");
    assert_eq!(running(&a), ["B", "C"]);
    finish(&a, "B");
    assert_eq!(running(&a), ["C"], "D still waits for C");
    let poll = block_on(a.poll(&poll_args())).unwrap();
    assert!(
        poll.output.contains("D queued 0ms: #1: waits for C"),
        "{}",
        poll.output
    );
    finish(&a, "C");
    assert_eq!(running(&a), ["D"]);
}

#[test]
fn a_dependency_cycle_is_refused_naming_the_cycle_and_nothing_is_queued() {
    let a = apiary();
    // X waits for Y, which is not spawned yet; Y waiting for Z and Z for X closes the loop.
    spawn(&a, after("X", &["Y"]));
    spawn(&a, after("Y", &["Z"]));
    let err = block_on(spawn_started(&a, &coordinator(), &after("Z", &["X"])))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused: Z would close a dependency cycle: Z -> X -> Y -> Z. Nothing was queued."
    );
    assert!(a.log().swarm().queued("Z").is_none());
}

#[test]
fn a_failed_dependency_blocks_its_dependents_and_theirs_with_the_reason() {
    let a = apiary();
    spawn(&a, bead("A"));
    spawn(&a, after("B", &["A"]));
    spawn(&a, after("C", &["B"]));
    let session = session_of(&a, "A");
    let mut failed = complete_args("A");
    failed.status = Some(CompletionStatus::Failed);
    block_on(a.complete(&worker(&session), &failed)).unwrap();
    block_on(a.drain()).unwrap();
    assert_eq!(
        queue_state(&a, "B"),
        Some(QueueState::Blocked("dependency A reported failed".into()))
    );
    assert_eq!(
        queue_state(&a, "C"),
        Some(QueueState::Blocked("dependency B is blocked".into()))
    );
    assert!(running(&a).is_empty());
    let poll = block_on(a.poll(&poll_args())).unwrap();
    assert!(
        poll.output
            .contains("B blocked 0ms: dependency A reported failed"),
        "{}",
        poll.output
    );
    // A new bead naming the failed one is refused at once.
    let err = block_on(spawn_started(&a, &coordinator(), &after("D", &["A"])))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused: D cannot start: A reported failed. Nothing was queued; spawn the dependency \
         again first."
    );
}

#[test]
fn a_provider_failure_is_retried_in_a_new_session_after_a_doubling_backoff() {
    let a = apiary_with(|o| {
        o.max_attempts = 3;
        o.retry_backoff_ms = 10_000;
    });
    spawn(&a, bead("bd-1"));
    let first = session_of(&a, "bd-1");
    provider_error(&a, "bd-1");
    let wait = block_on(a.drain()).unwrap();
    assert_eq!(
        wait, 10_000,
        "the scheduler asks to run again when the backoff ends"
    );
    let q = a.log().swarm().queued("bd-1").cloned().unwrap();
    assert_eq!(q.attempt, 2);
    assert_eq!(q.request.reason, "APIError");
    // Not before the backoff.
    a.host().clock.advance(9_999);
    block_on(a.drain()).unwrap();
    assert_eq!(a.host().sessions.created.borrow().len(), 1);
    a.host().clock.advance(1);
    block_on(a.drain()).unwrap();
    let second = session_of(&a, "bd-1");
    assert_ne!(second, first);
    let swarm = a.log().swarm();
    let w = swarm.bead("bd-1").unwrap();
    assert_eq!((w.attempt, w.state), (2, WorkerState::Starting));
    drop(swarm);
    let prompt = a.host().sessions.prompts.borrow()[1].1.clone();
    assert!(
        prompt.contains(
            "## This is attempt 2\nThe attempt before ended without finishing: APIError."
        ),
        "{prompt}"
    );
    // The second retry waits twice as long; the third failure is final.
    provider_error(&a, "bd-1");
    assert_eq!(block_on(a.drain()).unwrap(), 20_000);
    a.host().clock.advance(20_000);
    block_on(a.drain()).unwrap();
    assert_eq!(a.log().swarm().bead("bd-1").unwrap().attempt, 3);
    provider_error(&a, "bd-1");
    block_on(a.drain()).unwrap();
    assert_eq!(state_of(&a, "bd-1"), Some(WorkerState::Failed));
    assert!(a.log().swarm().queued("bd-1").is_none());
    assert_eq!(count_lines(&a, "worker_retried"), 2);
}

#[test]
fn failures_that_are_not_the_providers_are_not_retried() {
    let a = apiary();
    spawn(&a, bead("reported"));
    spawn(&a, bead("deleted"));
    spawn(&a, bead("aborted"));
    let session = session_of(&a, "reported");
    let mut failed = complete_args("reported");
    failed.status = Some(CompletionStatus::Failed);
    block_on(a.complete(&worker(&session), &failed)).unwrap();
    block_on(a.observe(&ServerEvent::Deleted {
        session_id: session_of(&a, "deleted"),
    }))
    .unwrap();
    session_error(&a, &session_of(&a, "aborted"), "MessageAbortedError");
    block_on(a.drain()).unwrap();
    assert_eq!(count_lines(&a, "worker_retried"), 0);
    assert_eq!(a.host().sessions.created.borrow().len(), 3);
}

#[test]
fn a_worker_silent_for_the_stall_time_is_aborted_and_retried() {
    let a = apiary_with(|o| {
        o.stall_after_ms = 60_000;
        o.retry_backoff_ms = 1_000;
    });
    spawn(&a, bead("bd-1"));
    let first = session_of(&a, "bd-1");
    block_on(a.observe(&ServerEvent::Status {
        session_id: first.clone(),
        status: SessionStatus::Busy,
    }))
    .unwrap();
    // Activity moves the deadline: streamed parts are recorded (at most every 15 s here).
    a.host().clock.advance(50_000);
    block_on(a.observe(&ServerEvent::Activity {
        session_id: first.clone(),
    }))
    .unwrap();
    a.host().clock.advance(50_000);
    assert_eq!(
        block_on(a.drain()).unwrap(),
        10_000,
        "the next stall deadline"
    );
    assert!(a.host().sessions.aborts.borrow().is_empty());
    a.host().clock.advance(10_000);
    block_on(a.drain()).unwrap();
    assert_eq!(
        *a.host().sessions.aborts.borrow(),
        std::slice::from_ref(&first)
    );
    let swarm = a.log().swarm();
    let w = swarm.session(&first).unwrap();
    assert_eq!(w.state, WorkerState::Failed);
    assert_eq!(w.error.as_deref(), Some("stalled: no activity for 1m00s"));
    drop(swarm);
    a.host().clock.advance(1_000);
    block_on(a.drain()).unwrap();
    assert_ne!(
        session_of(&a, "bd-1"),
        first,
        "attempt 2 runs in a new session"
    );
}

#[test]
fn with_on_stall_fail_a_stalled_worker_is_failed_for_good() {
    let a = apiary_with(|o| {
        o.stall_after_ms = 1_000;
        o.on_stall = StallPolicy::Fail;
    });
    spawn(&a, bead("bd-1"));
    a.host().clock.advance(1_000);
    block_on(a.drain()).unwrap();
    a.host().clock.advance(60_000);
    block_on(a.drain()).unwrap();
    assert_eq!(state_of(&a, "bd-1"), Some(WorkerState::Failed));
    assert_eq!(count_lines(&a, "worker_retried"), 0);
}

#[test]
fn cancelling_an_epic_aborts_its_sessions_empties_its_queue_and_frees_the_slots() {
    let a = apiary_with(|o| o.max_running = 1);
    spawn(&a, bead("bd-1"));
    spawn(&a, bead("bd-2"));
    let mut other = bead("other");
    other.epic_id = "ep-2".into();
    spawn(&a, other);
    let reply = block_on(a.cancel(&CancelArgs {
        epic_id: Some("ep".into()),
        reason: Some("wrong plan".into()),
        ..CancelArgs::default()
    }))
    .unwrap();
    assert_eq!(
        reply.output,
        "cancelled 2; stopped: bd-1; taken off the queue: bd-2"
    );
    assert_eq!(*a.host().sessions.aborts.borrow(), [session_of(&a, "bd-1")]);
    assert_eq!(
        queue_state(&a, "bd-2"),
        Some(QueueState::Cancelled("wrong plan".into()))
    );
    assert_eq!(
        running(&a),
        ["other"],
        "the freed slot went to the other epic"
    );
    let again = block_on(a.cancel(&CancelArgs {
        epic_id: Some("ep".into()),
        ..CancelArgs::default()
    }))
    .unwrap();
    assert_eq!(
        again.output,
        "nothing to cancel: every worker named had already finished"
    );
    let unknown = block_on(a.cancel(&CancelArgs {
        bead_id: Some("nope".into()),
        ..CancelArgs::default()
    }))
    .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "refused: no bead nope was spawned or queued"
    );
}

#[test]
fn a_coordinator_aborted_or_deleted_takes_its_running_and_queued_workers_with_it() {
    let a = apiary_with(|o| o.max_running = 1);
    spawn(&a, bead("bd-1"));
    spawn(&a, bead("bd-2"));
    session_error(&a, "ses_coord", "MessageAbortedError");
    assert_eq!(state_of(&a, "bd-1"), Some(WorkerState::Cancelled));
    assert_eq!(
        queue_state(&a, "bd-2"),
        Some(QueueState::Cancelled("coordinator aborted".into()))
    );
    assert_eq!(*a.host().sessions.aborts.borrow(), [session_of(&a, "bd-1")]);
    // Not woken for it: the user just stopped that session.
    block_on(a.tell_coordinators()).unwrap();
    assert!(a
        .host()
        .sessions
        .prompts
        .borrow()
        .iter()
        .all(|(s, _)| s != "ses_coord"));

    let b = apiary();
    spawn(&b, bead("bd-1"));
    block_on(b.observe(&ServerEvent::Deleted {
        session_id: "ses_coord".into(),
    }))
    .unwrap();
    assert_eq!(state_of(&b, "bd-1"), Some(WorkerState::Cancelled));

    let keep = apiary_with(|o| o.cancel_with_coordinator = false);
    spawn(&keep, bead("bd-1"));
    block_on(keep.observe(&ServerEvent::Deleted {
        session_id: "ses_coord".into(),
    }))
    .unwrap();
    assert_eq!(state_of(&keep, "bd-1"), Some(WorkerState::Starting));
}

#[test]
fn a_full_queue_refuses_the_spawn_and_says_how_many_wait_and_run() {
    let a = apiary_with(|o| {
        o.max_running = 1;
        o.max_queued = 2;
    });
    for id in ["bd-1", "bd-2", "bd-3"] {
        spawn(&a, bead(id));
    }
    let err = block_on(spawn_started(&a, &coordinator(), &bead("bd-4")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused: the queue is full: 2 queued (max_queued 2) and 1 running (max_running 1). \
         Nothing was queued; await or cancel workers, then spawn again."
    );
    assert!(a.log().swarm().queued("bd-4").is_none());
    // A second spawn of a queued bead is not a new entry.
    let again = spawn(&a, bead("bd-2"));
    assert_eq!(again.status, SpawnStatus::AlreadyQueued);
    assert_eq!(again.queue_position, Some(1));
}

#[test]
fn a_machine_short_of_memory_holds_the_queue_and_the_queue_says_why() {
    let a = apiary_with(|o| {
        o.min_free_memory_mb = 1_024;
        o.max_load_percent = Some(300);
    });
    a.host().machine.set(Machine {
        load_percent: 10,
        free_memory_mb: 512,
    });
    let held = spawn(&a, bead("bd-1"));
    assert_eq!(held.status, SpawnStatus::Queued);
    assert!(
        held.output.contains("512 MB free is below 1024 MB"),
        "{}",
        held.output
    );
    // Nothing signals the machine's recovery: the scheduler asks to look again soon.
    assert_eq!(block_on(a.drain()).unwrap(), 5_000);
    a.host().machine.set(Machine {
        load_percent: 450,
        free_memory_mb: 4_096,
    });
    block_on(a.drain()).unwrap();
    let status = block_on(a.status(&StatusArgs::default())).unwrap();
    assert!(
        status.output.contains("load 450% of CPUs is above 300%"),
        "{}",
        status.output
    );
    a.host().machine.set(Machine {
        load_percent: 120,
        free_memory_mb: 4_096,
    });
    block_on(a.drain()).unwrap();
    assert_eq!(running(&a), ["bd-1"]);
}

#[test]
fn a_new_instance_rebuilds_the_queue_from_the_log_and_drains_it() {
    let store = Rc::new(MemoryStore::default());
    let options = Options {
        max_running: 1,
        ..Options::default()
    };
    let first = Apiary::with_options(FakeHost::with_store(store.clone()), options.clone());
    for i in 1..=5 {
        block_on(spawn_started(
            &first,
            &coordinator(),
            &spawn_args(&format!("bd-{i}")),
        ))
        .unwrap();
    }
    let session = first.log().swarm().bead("bd-1").unwrap().session_id.clone();
    block_on(first.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    block_on(first.observe(&ServerEvent::Idle {
        session_id: session,
    }))
    .unwrap();
    drop(first);
    // A restart: a new instance over the same log, with nothing in memory.
    let second = Apiary::with_options(FakeHost::with_store(store), options);
    for i in 2..=5 {
        block_on(second.drain()).unwrap();
        let w = second
            .log()
            .swarm()
            .bead(&format!("bd-{i}"))
            .cloned()
            .expect("started after the restart");
        block_on(second.complete(&worker(&w.session_id), &complete_args(&w.bead_id))).unwrap();
        block_on(second.observe(&ServerEvent::Idle {
            session_id: w.session_id.clone(),
        }))
        .unwrap();
    }
    assert_eq!(second.log().swarm().waiting().count(), 0);
}

#[test]
fn finished_sessions_are_deleted_after_the_retention_and_beyond_the_cap() {
    let a = apiary_with(|o| {
        o.session_retention_ms = 60_000;
        o.max_sessions_kept = 2;
    });
    for id in ["bd-1", "bd-2", "bd-3"] {
        spawn(&a, bead(id));
    }
    spawn(&a, bead("review"));
    for id in ["bd-1", "bd-2", "bd-3"] {
        finish(&a, id);
        a.host().clock.advance(1_000);
    }
    // Three finished, two kept: the oldest goes at once.
    assert_eq!(
        *a.host().sessions.deletions.borrow(),
        [session_of(&a, "bd-1")]
    );
    a.host().clock.advance(60_000);
    block_on(a.drain()).unwrap();
    let deleted = a.host().sessions.deletions.borrow().clone();
    assert_eq!(deleted.len(), 3);
    assert!(
        !deleted.contains(&session_of(&a, "review")),
        "a live worker keeps its session"
    );
    assert_eq!(count_lines(&a, "session_deleted"), 3);
}

#[test]
fn await_returns_when_what_is_left_waits_on_the_coordinator() {
    let a = apiary();
    spawn(&a, bead("A"));
    spawn(&a, after("B", &["A"]));
    let session = session_of(&a, "A");
    // A ends its turn without swarm_complete: B cannot start until someone reviews A.
    a.host()
        .sessions
        .finish_turn(&session, "I think it is done");
    let report = block_on(a.await_workers(
        &apiary::api::AwaitArgs {
            epic_id: "ep".into(),
            timeout_ms: Some(60_000),
            ..Default::default()
        },
        std::future::pending(),
    ))
    .unwrap();
    assert_eq!(report.outcome, Some(apiary::api::AwaitOutcome::Done));
    assert!(
        report.output.starts_with(
            "done: no worker running (waited 0ms); 1 wait on you (blocked or waiting)"
        ),
        "{}",
        report.output
    );
    assert!(
        report.output.contains("B waiting 0ms: #1: A needs review"),
        "{}",
        report.output
    );
}
