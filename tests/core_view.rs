//! The read-only views the command line and the dashboard show: fed a log in chunks of any
//! size, stopped at damage, replayed to a point, and summed up as status, events and metrics.
#[path = "core/given.rs"]
mod given;

use apiary::api::CompleteArgs;
use apiary::event::{BranchMark, CompletionStatus, EventBody};
use apiary::log::EventLog;
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::view::{percentile, EventFilter, LogView, Until};
use apiary::Apiary;
use given::*;

const T0: u64 = 1_700_000_000_000;

/// A swarm of three beads: bd-1 succeeds after 4 s, bd-2 fails once at 1 s and is retried,
/// its second attempt reports blocked at 10 s; bd-3 (agent `plan`) still runs.
fn recorded() -> (Apiary<FakeHost>, Vec<u8>) {
    let a = apiary_with(|o| o.retry_backoff_ms = 1_000);
    let clock = |ms| a.host().clock.advance(ms);
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
    let mut tester = spawn_args("bd-3");
    tester.agent = Some("plan".into());
    block_on(spawn_started(&a, &coordinator(), &tester)).unwrap();
    clock(1_000);
    session_error(&a, "ses_2", "APIError");
    block_on(a.drain()).unwrap();
    clock(3_000);
    finish(&a, "bd-1");
    clock(6_000);
    let second = session_of(&a, "bd-2");
    block_on(a.complete(
        &worker(&second),
        &CompleteArgs {
            status: Some(CompletionStatus::Blocked),
            summary: "needs the schema".into(),
            ..complete_args("bd-2")
        },
    ))
    .unwrap();
    let bytes = a.host().store.text().into_bytes();
    (a, bytes)
}

fn view_of(bytes: &[u8]) -> LogView {
    let mut v = LogView::new(Until::default());
    v.feed(bytes);
    v
}

#[test]
fn a_log_fed_in_chunks_of_any_size_reads_as_the_whole_file() {
    let (_, bytes) = recorded();
    let whole = view_of(&bytes).overview(T0 + 20_000);
    for size in [1, 7, 64, 1000] {
        let mut v = LogView::new(Until::default());
        let applied: u64 = bytes.chunks(size).map(|c| v.feed(c)).sum();
        assert_eq!(applied, whole.health.events);
        assert_eq!(v.overview(T0 + 20_000), whole, "chunks of {size}");
    }
}

#[test]
fn an_incomplete_last_line_waits_for_the_rest_of_its_append() {
    let (_, bytes) = recorded();
    let cut = bytes.len() - 10;
    let mut v = view_of(&bytes[..cut]);
    let before = v.health();
    assert_eq!(before.partial_bytes, (cut - before.bytes as usize) as u64);
    assert!(before.damage.is_none());
    assert_eq!(v.feed(&bytes[cut..]), 1);
    assert_eq!(v.health().partial_bytes, 0);
}

#[test]
fn damage_stops_reading_at_the_line_and_says_where_while_the_valid_part_stays() {
    let (_, bytes) = recorded();
    let text = String::from_utf8(bytes).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Each bead's queue entry, then its worker: the three workers are lines 2, 4 and 6.
    lines[6] = lines[6].replace("bd-", "bx-");
    let damaged = lines.join("\n") + "\n";
    let v = view_of(damaged.as_bytes());
    let h = v.health();
    let d = h.damage.expect("damage found");
    assert_eq!(d.line, 7);
    assert_eq!(
        d.offset,
        lines[..6].iter().map(|l| l.len() as u64 + 1).sum::<u64>()
    );
    assert!(d.reason.contains("checksum"), "{}", d.reason);
    assert_eq!(h.events, 6);
    assert_eq!(v.overview(T0).epics[0].workers.len(), 3);
}

#[test]
fn a_replay_stops_at_a_sequence_number_or_a_time() {
    let (_, bytes) = recorded();
    let mut by_seq = LogView::new(Until {
        seq: Some(6),
        time: None,
    });
    by_seq.feed(&bytes);
    assert_eq!(by_seq.health().events, 6);
    assert!(by_seq.health().stopped);
    let states: Vec<String> = by_seq.overview(T0).epics[0]
        .workers
        .iter()
        .map(|w| w.state.clone())
        .collect();
    assert_eq!(states, ["starting", "starting", "starting"]);

    let mut by_time = LogView::new(Until {
        seq: None,
        time: Some(T0 + 1_000),
    });
    by_time.feed(&bytes);
    let o = by_time.overview(T0 + 1_000);
    let bd2 = &o.epics[0].workers[1];
    assert_eq!((bd2.state.as_str(), bd2.duration_ms), ("failed", 1_000));
    assert_eq!(o.epics[0].queue[0].bead_id, "bd-2");
    assert_eq!(o.epics[0].queue[0].attempt, 2);
}

#[test]
fn the_overview_shows_every_attempt_with_its_state_duration_and_last_word() {
    let (_, bytes) = recorded();
    let o = view_of(&bytes).overview(T0 + 20_000);
    let epic = &o.epics[0];
    assert_eq!(epic.epic_id, "ep");
    let rows: Vec<(&str, u32, &str, u64)> = epic
        .workers
        .iter()
        .map(|w| {
            (
                w.bead_id.as_str(),
                w.attempt,
                w.state.as_str(),
                w.duration_ms,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("bd-1", 1, "success", 4_000),
            ("bd-2", 1, "failed", 1_000),
            ("bd-3", 1, "starting", 20_000),
            ("bd-2", 2, "blocked", 6_000),
        ]
    );
    assert_eq!(epic.workers[0].message.as_deref(), Some("did bd-1"));
    assert_eq!(epic.workers[3].message.as_deref(), Some("needs the schema"));
    assert_eq!(
        (epic.beads, epic.running, epic.succeeded, epic.failed),
        (3, 1, 1, 1)
    );
    assert_eq!((epic.first_at, epic.last_at), (T0, T0 + 20_000));
    assert!(epic.queue.is_empty());
}

#[test]
fn stats_give_percentiles_success_and_retries_overall_per_epic_and_per_agent() {
    let (_, bytes) = recorded();
    let s = view_of(&bytes).stats(T0 + 20_000);
    let all = &s.overall;
    assert_eq!((all.attempts, all.beads, all.retries), (4, 3, 1));
    assert_eq!(
        (all.succeeded, all.failed, all.blocked, all.running),
        (1, 1, 1, 1)
    );
    // 1 success of 3 ended attempts.
    assert_eq!(all.success_percent, Some(33));
    assert_eq!(
        (all.p50_ms, all.p95_ms, all.max_ms),
        (Some(4_000), Some(6_000), Some(6_000))
    );
    assert_eq!(all.worker_ms, 4_000 + 1_000 + 20_000 + 6_000);
    assert_eq!(all.span_ms, 20_000);
    assert_eq!(s.epics.len(), 1);
    assert_eq!(s.epics[0].group, *all);
    let agents: Vec<(&str, u32)> = s
        .agents
        .iter()
        .map(|n| (n.name.as_str(), n.group.attempts))
        .collect();
    // A spawn that names no agent runs as OpenCode's default agent, `build`.
    assert_eq!(agents, [("build", 3), ("plan", 1)]);
    assert_eq!(s.agents[1].group.success_percent, None);
}

#[test]
fn percentiles_are_by_nearest_rank() {
    let v: Vec<u64> = (1..=20).collect();
    assert_eq!(percentile(&v, 50), Some(10));
    assert_eq!(percentile(&v, 95), Some(19));
    assert_eq!(percentile(&[7], 95), Some(7));
    assert_eq!(percentile(&[], 50), None);
}

#[test]
fn events_filter_by_epic_bead_session_type_and_position() {
    let (_, bytes) = recorded();
    let v = view_of(&bytes);
    let page = |f: EventFilter| v.events(&f).unwrap();
    let bd2 = page(EventFilter {
        bead_id: Some("bd-2".into()),
        ..EventFilter::default()
    });
    let types: Vec<&str> = bd2.events.iter().map(|e| e.type_name.as_str()).collect();
    assert_eq!(
        types,
        [
            "worker_queued",
            "worker_spawned",
            "worker_failed",
            "worker_retried",
            "worker_spawned",
            "worker_completed"
        ]
    );
    assert!(bd2
        .events
        .iter()
        .all(|e| e.epic_id.as_deref() == Some("ep")));
    let last = page(EventFilter {
        limit: Some(2),
        ..EventFilter::default()
    });
    assert_eq!(last.total, v.health().events);
    assert_eq!(last.events.len(), 2);
    let after = page(EventFilter {
        after_seq: Some(last.events[0].seq),
        ..EventFilter::default()
    });
    assert_eq!(after.events, last.events[1..]);
    let failed = page(EventFilter {
        types: Some(vec!["worker_failed".into()]),
        session_id: Some("ses_2".into()),
        ..EventFilter::default()
    });
    assert_eq!(failed.total, 1);
    assert_eq!(failed.events[0].detail, "APIError (retryable)");
    let err = v
        .events(&EventFilter {
            types: Some(vec!["worker_exploded".into()]),
            ..EventFilter::default()
        })
        .unwrap_err();
    assert!(
        err.starts_with("no event type \"worker_exploded\"; known: "),
        "{err}"
    );
}

#[test]
fn the_queue_says_why_each_bead_waits_against_the_options_it_was_given() {
    let a = apiary_with(|o| o.max_running = 1);
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
    let mut low = spawn_args("bd-3");
    low.dependencies = Some(vec!["bd-2".into()]);
    block_on(spawn_started(&a, &coordinator(), &low)).unwrap();
    let bytes = a.host().store.text().into_bytes();
    let mut v = view_of(&bytes);
    v.set_options(apiary::api::Options {
        max_running: 1,
        ..Default::default()
    });
    let queue = &v.overview(T0).epics[0].queue;
    let rows: Vec<(&str, Option<u32>, &str)> = queue
        .iter()
        .map(|q| (q.bead_id.as_str(), q.position, q.reason.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("bd-2", Some(1), "limit: 1/1 running"),
            ("bd-3", Some(2), "waits for bd-2")
        ]
    );
    // With the default limit of 8, bd-2 would start at once.
    let default = view_of(&bytes).overview(T0);
    let bd2 = default.epics[0].queue.iter().find(|q| q.bead_id == "bd-2");
    assert_eq!(bd2.map(|q| q.reason.as_str()), Some("starts now"));
}

#[test]
fn a_worker_spawned_without_an_agent_shows_opencodes_default_build_and_where_it_runs() {
    let (_, bytes) = recorded();
    let o = view_of(&bytes).overview(T0 + 20_000);
    let agents: Vec<(&str, &str)> = o.epics[0]
        .workers
        .iter()
        .map(|w| (w.bead_id.as_str(), w.agent.as_str()))
        .collect();
    assert_eq!(
        agents,
        [
            ("bd-1", "build"),
            ("bd-2", "build"),
            ("bd-3", "plan"),
            ("bd-2", "build")
        ]
    );
    assert_eq!(o.epics[0].workers[0].directory.as_deref(), Some("/repo"));
}

/// `bead` spawned on branch `apiary/<bead>` in session `session`.
fn on_branch(bead: &str, session: &str) -> EventBody {
    let mut w = spawned_worker(bead, session);
    w.branch = Some(format!("apiary/{bead}"));
    EventBody::WorkerSpawned(w)
}

#[test]
fn successful_workers_whose_branch_is_not_merged_yet_are_listed_to_merge() {
    let mut events = vec![
        on_branch("bd-1", "s1"),
        on_branch("bd-2", "s2"),
        on_branch("bd-3", "s3"),
        on_branch("bd-4", "s4"),
        // No worktree: its work is in the coordinator's directory already.
        spawned("bd-5", "s5"),
    ];
    events.extend(completed("bd-1", "s1", CompletionStatus::Success));
    events.extend(completed("bd-2", "s2", CompletionStatus::Success));
    events.extend(completed("bd-3", "s3", CompletionStatus::Failed));
    events.extend(completed("bd-5", "s5", CompletionStatus::Success));
    events.push(EventBody::WorktreeMerged(BranchMark {
        session_id: "s2".into(),
        bead_id: "bd-2".into(),
        branch: "apiary/bd-2".into(),
        commit: "abc123".into(),
    }));
    let store = MemoryStore::default();
    block_on(EventLog::new().append(&store, T0, &events)).unwrap();
    let o = view_of(store.text().as_bytes()).overview(T0 + 1_000);
    // bd-2 is merged, bd-3 failed, bd-4 still runs.
    assert_eq!(o.epics[0].to_merge, ["bd-1"]);
}
