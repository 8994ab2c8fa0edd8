//! `swarm_await_workers` over fake hosts, where time passes only when the wait sleeps: it
//! returns on the change that ends the last worker, not on its timer; it times out and is
//! interrupted with a report of what it knows.
#[path = "core/given.rs"]
mod given;

use std::future::pending;

use apiary::api::{AwaitArgs, AwaitOutcome};
use apiary::host::{MessageError, ServerEvent, SessionStatus};
use apiary::testing::{block_on, join, yield_now};
use apiary::ToolError;
use given::*;

fn await_args(timeout_ms: u64, interval_ms: u64) -> AwaitArgs {
    AwaitArgs {
        epic_id: "ep".into(),
        timeout_ms: Some(timeout_ms),
        poll_interval_ms: Some(interval_ms),
        include_messages: None,
    }
}

/// Spawns `n` workers and shows them busy on the server.
fn busy_swarm(n: usize) -> apiary::Apiary<apiary::testing::FakeHost> {
    let a = apiary();
    for i in 1..=n {
        block_on(spawn_started(
            &a,
            &coordinator(),
            &spawn_args(&format!("bd-{i}")),
        ))
        .unwrap();
        a.host()
            .sessions
            .set_status(&format!("ses_{i}"), Some(SessionStatus::Busy));
    }
    a
}

#[test]
fn await_returns_at_once_when_no_worker_runs() {
    let a = apiary();
    let report = block_on(a.await_workers(&await_args(60_000, 5_000), pending())).unwrap();
    assert_eq!(report.outcome, Some(AwaitOutcome::Done));
    assert_eq!(report.waited_ms, Some(0));
    assert!(report.output.starts_with("done: no worker running"));
}

#[test]
fn await_wakes_on_the_last_completion_not_on_its_interval() {
    let a = busy_swarm(3);
    let finish_all = async {
        for i in 1..=3 {
            block_on(a.complete(
                &worker(&format!("ses_{i}")),
                &complete_args(&format!("bd-{i}")),
            ))
            .unwrap();
            yield_now().await;
        }
    };
    // An interval of 10 minutes: had the wait slept through one, the fake clock would show it.
    let (report, ()) = block_on(join(
        a.await_workers(&await_args(3_600_000, 600_000), pending()),
        finish_all,
    ));
    let report = report.unwrap();
    assert_eq!(report.outcome, Some(AwaitOutcome::Done));
    assert_eq!(report.waited_ms, Some(0), "{}", report.output);
    assert_eq!(report.completed.len(), 3);
    assert!(
        report.output.contains("epic ep: 3 workers: 3 completed"),
        "{}",
        report.output
    );
}

#[test]
fn await_wakes_when_the_event_hook_records_a_worker_idle_or_failed() {
    let a = busy_swarm(2);
    let events = async {
        a.host().sessions.set_status("ses_1", None);
        block_on(a.observe(&ServerEvent::Idle {
            session_id: "ses_1".into(),
        }))
        .unwrap();
        yield_now().await;
        yield_now().await;
        a.host().sessions.set_status("ses_2", None);
        // A failure the retry policy leaves alone (a retried one keeps the await waiting).
        block_on(a.observe(&ServerEvent::Error {
            session_id: "ses_2".into(),
            error: Some(MessageError {
                name: Some("ProviderAuthError".into()),
                data: None,
            }),
        }))
        .unwrap();
    };
    let (report, ()) = block_on(join(
        a.await_workers(&await_args(3_600_000, 600_000), pending()),
        events,
    ));
    let report = report.unwrap();
    assert_eq!(report.waited_ms, Some(0));
    assert_eq!(report.completed[0].state, "needs_review");
    assert_eq!(report.failed[0].state, "failed", "{}", report.output);
}

#[test]
fn a_failed_worker_whose_retry_is_not_queued_yet_is_pending_and_keeps_an_await_waiting() {
    let a = busy_swarm(1);
    a.host().sessions.set_status("ses_1", None);
    // The failure is recorded; the retry is the next scheduler run's to record.
    session_error(&a, "ses_1", "APIError");
    let report = block_on(a.poll_from(&coordinator(), &poll_args())).unwrap();
    assert_eq!(report.pending.len(), 1, "{}", report.output);
    assert_eq!(report.pending[0].state, "queued");
    assert_eq!(
        report.pending[0].note.as_deref(),
        Some("attempt 2 next: APIError")
    );
    let waited = block_on(a.await_workers(&await_args(60_000, 600_000), pending())).unwrap();
    assert_eq!(
        waited.outcome,
        Some(AwaitOutcome::TimedOut),
        "{}",
        waited.output
    );
}

#[test]
fn await_times_out_with_what_it_knows_after_rechecking_on_its_interval() {
    let a = busy_swarm(2);
    block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    let reads_before = a.host().sessions.status_reads.get();
    let report = block_on(a.await_workers(&await_args(60_000, 5_000), pending())).unwrap();
    assert_eq!(report.outcome, Some(AwaitOutcome::TimedOut));
    assert_eq!(report.waited_ms, Some(60_000));
    // One look at the start, one more because that look recorded bd-2 as started (an append
    // wakes the wait), and one after each of the twelve 5 s naps.
    assert_eq!(a.host().sessions.status_reads.get() - reads_before, 14);
    assert!(
        report
            .output
            .starts_with("timed out after 1m00s: 1 still running;"),
        "{}",
        report.output
    );
    assert!(report.output.contains("bd-1 success"));
    assert!(report.output.contains("bd-2 running"));
}

#[test]
fn an_interval_longer_than_what_is_left_of_the_timeout_is_cut_to_fit() {
    let a = busy_swarm(1);
    let report = block_on(a.await_workers(&await_args(7_000, 5_000), pending())).unwrap();
    assert_eq!(report.waited_ms, Some(7_000));
}

#[test]
fn await_stops_at_once_when_the_caller_is_interrupted() {
    let a = busy_swarm(2);
    let interrupt = async { yield_now().await };
    let report = block_on(a.await_workers(&await_args(600_000, 5_000), interrupt)).unwrap();
    assert_eq!(report.outcome, Some(AwaitOutcome::Interrupted));
    assert_eq!(report.waited_ms, Some(0));
    assert!(
        report
            .output
            .starts_with("interrupted after 0ms: 2 still running in the background"),
        "{}",
        report.output
    );
}

#[test]
fn await_refuses_bad_arguments_before_waiting() {
    let a = busy_swarm(1);
    for (args, field) in [
        (await_args(60_000, 10), "poll_interval_ms"),
        (await_args(100 * 3_600_000, 5_000), "timeout_ms"),
        (
            AwaitArgs {
                epic_id: "../x".into(),
                ..await_args(1, 5_000)
            },
            "epic_id",
        ),
    ] {
        match block_on(a.await_workers(&args, pending())) {
            Err(ToolError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}
