//! The log's guarantees seen through the tools: races between instances, damage reported in a
//! poll, and incremental catch-up equal to a replay from scratch.
#[path = "core/given.rs"]
mod given;

use std::rc::Rc;

use apiary::event::{
    CompletionStatus, EventBody, WorkerCancelled, WorkerCompleted, WorkerFailed, WorkerObserved,
    WorkerProgress, WorkerSpawned,
};
use apiary::log::EventLog;
use apiary::testing::{block_on, MemoryStore};
use given::*;

#[test]
fn two_instances_racing_to_start_one_bead_end_with_one_worker() {
    let (a, b) = two_instances_on_one_store();
    let a = Rc::new(a);
    let winner = a.clone();
    // B's session is being created when A's spawn of the same bead and A's start of it
    // complete.
    *b.host().sessions.before_create.borrow_mut() = Some(Box::new(move || {
        block_on(spawn_started(&winner, &coordinator(), &spawn_args("bd-1"))).unwrap();
    }));
    let reply = block_on(spawn_started(&b, &coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(reply.status, apiary::api::SpawnStatus::Starting);
    assert_eq!(
        a.host().sessions.prompts.borrow().len(),
        1,
        "A's worker is the one"
    );
    assert_eq!(
        *b.host().sessions.deletions.borrow(),
        ["ses_1"],
        "B dropped its own session"
    );
    assert!(
        b.host().sessions.prompts.borrow().is_empty(),
        "B prompted nothing"
    );
    let spawned = b.host().store.text().matches("worker_spawned").count();
    assert_eq!(spawned, 1);
}

#[test]
fn two_instances_racing_to_start_one_queued_bead_end_with_one_worker() {
    let (a, b) = two_instances_on_one_store();
    // bd-1 waits for bd-0; bd-0's completion lets both instances' schedulers start it.
    block_on(spawn_started(&b, &coordinator(), &spawn_args("bd-0"))).unwrap();
    let mut args = spawn_args("bd-1");
    args.dependencies = Some(vec!["bd-0".into()]);
    let queued = block_on(spawn_started(&b, &coordinator(), &args)).unwrap();
    assert_eq!(queued.status, apiary::api::SpawnStatus::Queued);
    block_on(b.complete(&worker("ses_1"), &complete_args("bd-0"))).unwrap();
    let a = Rc::new(a);
    let winner = a.clone();
    // B's session is being created when A's scheduler starts the same queued bead.
    *b.host().sessions.before_create.borrow_mut() = Some(Box::new(move || {
        block_on(winner.drain()).unwrap();
    }));
    block_on(b.drain()).unwrap();
    assert_eq!(
        a.host().sessions.prompts.borrow().len(),
        1,
        "A's worker is the one"
    );
    assert_eq!(
        *b.host().sessions.deletions.borrow(),
        ["ses_2"],
        "B dropped its own session"
    );
    assert_eq!(
        b.host().sessions.prompts.borrow().len(),
        1,
        "B prompted bd-0 only"
    );
    let spawned = b.host().store.text().matches("worker_spawned").count();
    assert_eq!(spawned, 2, "bd-0 and one worker of bd-1");
}

#[test]
fn a_poll_of_a_damaged_log_shows_the_valid_prefix_and_names_the_line() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host().store.push_raw(b"{garbage}\n");
    let fresh = apiary();
    fresh.host().store.set_raw(a.host().store.text().as_bytes());
    let report = block_on(fresh.poll(&poll_args())).unwrap();
    assert_eq!(report.total, 1);
    assert!(
        report
            .output
            .contains("warning: event log line 3: not an event envelope"),
        "{}",
        report.output
    );
    let err = block_on(spawn_started(&fresh, &coordinator(), &spawn_args("bd-2"))).unwrap_err();
    assert!(err.to_string().starts_with("event log line 3:"), "{err}");
}

/// xorshift64*: a tiny deterministic generator, so a failing case can be replayed by seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_event(rng: &mut Rng, sessions: &mut Vec<(String, String)>) -> EventBody {
    let pick =
        |rng: &mut Rng, s: &Vec<(String, String)>| s[rng.below(s.len() as u64) as usize].clone();
    if sessions.is_empty() || rng.below(6) == 0 {
        let bead = format!("b{}", rng.below(5));
        let session = format!("s{}", sessions.len());
        sessions.push((session.clone(), bead.clone()));
        return EventBody::WorkerSpawned(WorkerSpawned {
            session_id: session,
            bead_id: bead,
            epic_id: format!("e{}", rng.below(2)),
            title: "t".into(),
            files: vec![],
            dependencies: vec![],
            prompt_hash: String::new(),
            ..WorkerSpawned::default()
        });
    }
    let (session_id, bead_id) = pick(rng, sessions);
    let obs = WorkerObserved {
        session_id: session_id.clone(),
        bead_id: bead_id.clone(),
    };
    match rng.below(7) {
        0 => EventBody::WorkerStarted(obs),
        1 => EventBody::WorkerIdle(obs),
        2 => EventBody::WorkerProgress(WorkerProgress {
            session_id,
            bead_id,
            progress_percent: rng.below(101) as u8,
            message: Some("m".into()),
            files_touched: vec![format!("f{}", rng.below(3))],
        }),
        3 => EventBody::WorkerCompleted(WorkerCompleted {
            session_id,
            bead_id,
            epic_id: "e0".into(),
            status: [
                CompletionStatus::Success,
                CompletionStatus::Failed,
                CompletionStatus::Blocked,
            ][rng.below(3) as usize],
            summary: "s".into(),
            files_touched: vec![],
            duration_ms: rng.below(10_000),
        }),
        4 => EventBody::WorkerFailed(WorkerFailed {
            session_id,
            bead_id,
            epic_id: "e0".into(),
            error: "x".into(),
            stack: None,
            retryable: false,
        }),
        5 => EventBody::WorkerCancelled(WorkerCancelled {
            session_id,
            bead_id,
            epic_id: "e0".into(),
            reason: "r".into(),
        }),
        _ => EventBody::WorkerStarted(WorkerObserved {
            session_id: "unknown".into(),
            bead_id,
        }),
    }
}

#[test]
fn incremental_catch_up_equals_a_replay_from_scratch_for_random_event_sequences() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut sessions = Vec::new();
        let full = MemoryStore::default();
        let writer = EventLog::new();
        for _ in 0..rng.below(8) + 1 {
            let batch: Vec<EventBody> = (0..rng.below(12) + 1)
                .map(|_| random_event(&mut rng, &mut sessions))
                .collect();
            block_on(writer.append(&full, rng.below(1_000_000), &batch)).unwrap();
        }
        // A reader fed the same bytes in random pieces, cut anywhere (mid-line too), catching
        // up after each piece, as a poll would between appends. It opens first, on the empty
        // log: opening is when a torn tail is cut off, which is only right because real
        // writers hold the lock while a line is incomplete.
        let bytes = full.text().into_bytes();
        let partial = MemoryStore::default();
        let incremental = EventLog::new();
        block_on(incremental.refresh(&partial)).unwrap();
        let mut at = 0;
        while at < bytes.len() {
            let take = (rng.below(300) as usize + 1).min(bytes.len() - at);
            partial.push_raw(&bytes[at..at + take]);
            at += take;
            block_on(incremental.refresh(&partial)).unwrap();
        }
        let replay = EventLog::new();
        block_on(replay.refresh(&full)).unwrap();
        assert_eq!(incremental.health().damage, None, "seed {seed}");
        assert_eq!(*incremental.swarm(), *replay.swarm(), "seed {seed}");
        assert_eq!(*writer.swarm(), *replay.swarm(), "seed {seed}");
    }
}
