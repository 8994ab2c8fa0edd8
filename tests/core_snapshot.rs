//! The projection's snapshot: written and read in the shape earlier builds wrote, so their
//! snapshots still open a log fast; one that cannot be read is ignored and the log replayed.
use apiary::event::{self, EventBody, WorkerObserved};
use apiary::log::{EventLog, SNAPSHOT_EVERY};
use apiary::projection::Swarm;
use apiary::testing::{block_on, MemoryStore};

/// A projection with a worker in every state, a queued bead in every queue state, a retry,
/// mail delivered and read, and servers down.
fn story() -> Swarm {
    let mut swarm = Swarm::default();
    let story = std::fs::read_to_string("tests/fixtures/snapshot-story.jsonl").unwrap();
    for line in story.lines() {
        swarm.apply(&event::decode(line).unwrap());
    }
    swarm
}

#[test]
fn a_snapshot_written_by_earlier_builds_loads_to_the_same_projection() {
    let golden = std::fs::read_to_string("tests/golden/snapshot.json").unwrap();
    assert_eq!(Swarm::from_json(&golden), Ok(story()));
}

/// Written as earlier builds wrote it, less the worker fields that say nothing (absent, empty,
/// false), which read back as their defaults: earlier builds read it too.
#[test]
fn a_projection_is_written_byte_for_byte_as_its_golden_file_without_blank_worker_fields() {
    let golden = std::fs::read_to_string("tests/golden/snapshot-compact.json").unwrap();
    let written = story().to_json();
    assert_eq!(written, golden);
    assert_eq!(Swarm::from_json(&written), Ok(story()));
    let earlier = std::fs::read_to_string("tests/golden/snapshot.json").unwrap();
    assert!(
        written.len() * 10 < earlier.len() * 8,
        "{} of {} bytes",
        written.len(),
        earlier.len()
    );
}

#[test]
fn a_projection_without_the_fields_added_later_loads_with_their_defaults() {
    let swarm =
        Swarm::from_json(r#"{"workers":[],"by_bead":{},"by_session":{},"epics":{},"last_seq":7}"#)
            .unwrap();
    assert_eq!(swarm.last_seq(), 7);
    assert!(Swarm::from_json(r#"{"workers":[],"by_bead":{},"by_session":{},"epics":{}}"#).is_err());
}

fn started(i: u64) -> EventBody {
    EventBody::WorkerStarted(WorkerObserved {
        session_id: format!("ses_{i}"),
        bead_id: format!("bd-{i}"),
    })
}

/// A log long enough for a snapshot, written by one instance.
fn long_log() -> (MemoryStore, Swarm) {
    let store = MemoryStore::default();
    let log = EventLog::new();
    let bodies: Vec<EventBody> = (0..SNAPSHOT_EVERY + 5).map(started).collect();
    block_on(log.append(&store, 1, &bodies)).unwrap();
    assert!(store.snapshot().is_some(), "a snapshot was saved");
    let swarm = log.swarm().clone();
    (store, swarm)
}

#[test]
fn a_fresh_instance_opens_from_the_snapshot_to_the_same_projection() {
    let (store, swarm) = long_log();
    let log = EventLog::new();
    block_on(log.refresh(&store)).unwrap();
    assert!(log.health().from_snapshot);
    assert_eq!(*log.swarm(), swarm);
}

#[test]
fn a_snapshot_that_cannot_be_read_is_ignored_and_the_log_replayed() {
    let (store, swarm) = long_log();
    let good = String::from_utf8(store.snapshot().unwrap()).unwrap();
    for bad in [
        "not json".to_string(),
        good.replacen("\"format\":1", "\"format\":99", 1),
        good.replacen("\"last_seq\":", "\"last_seq\":\"", 1),
        good[..good.len() - 1].to_string(),
    ] {
        store.set_snapshot(Some(bad.as_bytes()));
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert!(!log.health().from_snapshot, "{}", &bad[..40.min(bad.len())]);
        assert_eq!(*log.swarm(), swarm);
    }
}
