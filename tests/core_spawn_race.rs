//! Spawns that race for the last slot: the one that loses is queued, and its reply says so as a
//! new queue entry, not as a bead "already queued" by an earlier spawn.
#[path = "core/given.rs"]
mod given;

use std::rc::Rc;

use apiary::api::{Options, SpawnStatus};
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::Apiary;
use given::*;

#[test]
fn a_spawn_that_loses_the_last_slot_while_starting_is_reported_queued() {
    let store = Rc::new(MemoryStore::default());
    let options = Options {
        max_running: 1,
        ..Options::default()
    };
    let instance = || Apiary::with_options(FakeHost::with_store(store.clone()), options.clone());
    let (a, b) = (Rc::new(instance()), instance());
    // B's session for bd-2 is being created when A's spawn of bd-1 takes the only slot, as
    // spawns made in one step of the coordinator run together.
    let first = a.clone();
    *b.host().sessions.before_create.borrow_mut() = Some(Box::new(move || {
        let reply = block_on(first.spawn(&coordinator(), &spawn_args("bd-1"))).unwrap();
        assert_eq!(reply.status, SpawnStatus::Spawned);
    }));
    let reply = block_on(b.spawn(&coordinator(), &spawn_args("bd-2"))).unwrap();
    assert_eq!(reply.status, SpawnStatus::Queued, "{}", reply.output);
    assert_eq!(
        reply.output,
        "queued bd-2 (epic ep) at #1: limit: 1/1 running; it starts by itself"
    );
    assert_eq!(reply.queue_position, Some(1));
    assert_eq!(
        *b.host().sessions.deletions.borrow(),
        ["ses_1"],
        "B dropped its session"
    );
    assert_eq!(
        store.text().matches("\"type\":\"worker_queued\"").count(),
        1
    );
}

#[test]
fn a_spawn_that_loses_the_last_slot_to_a_full_queue_is_refused_with_the_counts() {
    let store = Rc::new(MemoryStore::default());
    let options = Options {
        max_running: 1,
        max_queued: 1,
        ..Options::default()
    };
    let instance = || Apiary::with_options(FakeHost::with_store(store.clone()), options.clone());
    let (a, b) = (Rc::new(instance()), instance());
    // While B creates bd-3's session, A takes the only slot and fills the only queue place.
    let first = a.clone();
    *b.host().sessions.before_create.borrow_mut() = Some(Box::new(move || {
        block_on(first.spawn(&coordinator(), &spawn_args("bd-1"))).unwrap();
        block_on(first.spawn(&coordinator(), &spawn_args("bd-2"))).unwrap();
    }));
    let err = block_on(b.spawn(&coordinator(), &spawn_args("bd-3")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused: the queue is full: 1 queued (max_queued 1) and 1 running (max_running 1). \
         Nothing was queued; await or cancel workers, then spawn again."
    );
    assert_eq!(
        store.text().matches("\"type\":\"worker_queued\"").count(),
        1,
        "only bd-2 waits"
    );
}
