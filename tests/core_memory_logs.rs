//! The logs the core's memory budget is checked on (`tests/js/memory.test.ts`): workers as the
//! tools record them (queued, spawned, eight progress reports, completed: 11 events each), 910
//! and 9,091 of them (10,010 and 100,001 events), with fixed times and ids, so that a build
//! always folds the same bytes into the same memory. The core layer of the test ladder writes
//! them to `build/memory/`; the shim layer measures them in the built `.wasm`.
#![cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;

use apiary::event::{
    CompletionStatus, EventBody, Priority, WorkerCompleted, WorkerProgress, WorkerQueued,
    WorkerSpawned,
};
use apiary::log::EventLog;
use apiary::testing::{block_on, MemoryStore};

/// The log of `workers` workers, ten to an epic.
fn generated(workers: usize) -> String {
    let store = MemoryStore::default();
    let log = EventLog::new();
    let mut now = 1_790_000_000_000;
    for w in 0..workers {
        let (bead, epic, session) = (
            format!("w{w}"),
            format!("epic{}", w / 10),
            format!("ses_{w:08}"),
        );
        let files = vec!["src/lib.rs".to_string()];
        let mut events = vec![
            EventBody::WorkerQueued(WorkerQueued {
                bead_id: bead.clone(),
                epic_id: epic.clone(),
                title: "bench task".into(),
                priority: Priority::Normal,
                files: files.clone(),
                parent_session_id: Some("ses_coord".into()),
                parent_directory: Some("/bench".into()),
                ..WorkerQueued::default()
            }),
            EventBody::WorkerSpawned(WorkerSpawned {
                session_id: session.clone(),
                bead_id: bead.clone(),
                epic_id: epic.clone(),
                title: "bench task".into(),
                files: files.clone(),
                prompt_hash: "0".repeat(64),
                directory: Some(format!("/bench/.apiary/worktrees/{bead}")),
                parent_session_id: Some("ses_coord".into()),
                parent_directory: Some("/bench".into()),
                priority: Some(Priority::Normal),
                ..WorkerSpawned::default()
            }),
        ];
        for k in 1..=8 {
            events.push(EventBody::WorkerProgress(WorkerProgress {
                session_id: session.clone(),
                bead_id: bead.clone(),
                progress_percent: k * 10,
                message: Some("step".into()),
                files_touched: Vec::new(),
            }));
        }
        events.push(EventBody::WorkerCompleted(WorkerCompleted {
            session_id: session,
            bead_id: bead,
            epic_id: epic,
            status: CompletionStatus::Success,
            summary: "done".into(),
            files_touched: files,
            duration_ms: 25,
        }));
        for e in events {
            now += 3;
            block_on(log.append(&store, now, &[e])).unwrap();
        }
    }
    store.text()
}

fn write(name: &str, text: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/memory");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    // A snapshot left by an earlier run would not match: the measure opens what it names.
    let _ = std::fs::remove_file(dir.join(format!("{name}.snapshot")));
}

#[test]
fn the_memory_budgets_logs_are_written_byte_for_byte_the_same_every_time() {
    let small = generated(910);
    assert_eq!(small.lines().count(), 10_010);
    assert_eq!(generated(910), small);
    write("10k.jsonl", &small);
    let large = generated(9_091);
    assert_eq!(large.lines().count(), 100_001);
    write("100k.jsonl", &large);
}
