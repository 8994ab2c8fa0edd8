//! What workers spend: each reply's tokens and cost, as the server recorded them, counted into
//! the log when the worker's turn ends, once however many instances see it end, shown on the
//! worker's poll line and as the epic's total, and kept when retention deletes the session.
#[path = "core/given.rs"]
mod given;

use std::rc::Rc;

use apiary::host::ServerEvent;
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::Apiary;
use given::*;

fn idle(a: &Apiary<impl apiary::host::Host>, session: &str) {
    block_on(a.observe(&ServerEvent::Idle {
        session_id: session.into(),
    }))
    .unwrap();
}

#[test]
fn a_turns_replies_are_counted_when_it_ends_once_each_and_shown_on_the_poll() {
    let a = apiary();
    let session = block_on(started_session(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let sessions = &a.host().sessions;
    sessions.finish_turn_spending(&session, "msg_001", 30_000, 1_000, "0.1");
    sessions.finish_turn_spending(&session, "msg_002", 10_000, 500, "2.5e-2");
    idle(&a, &session);
    // The same end seen again counts nothing more.
    idle(&a, &session);
    assert_eq!(count_lines(&a, "worker_usage"), 1);
    {
        let swarm = a.log().swarm();
        let u = swarm.bead("bd-1").unwrap().usage.as_deref().unwrap();
        assert_eq!(
            (u.replies, u.input, u.output, u.cost_micros),
            (2, 40_000, 1_500, 125_000)
        );
        assert_eq!(u.upto, "msg_002");
    }
    // The next turn counts only its own reply.
    sessions.finish_turn_spending(&session, "msg_003", 1_000, 0, "0.005");
    idle(&a, &session);
    assert_eq!(count_lines(&a, "worker_usage"), 2);
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert!(
        report.output.contains("\nspent: 43k tok $0.13\n"),
        "{}",
        report.output
    );
    assert!(
        report.output.contains(" 43k tok $0.13"),
        "{}",
        report.output
    );
    let line = report
        .output
        .lines()
        .find(|l| l.starts_with("  bd-1 "))
        .unwrap();
    assert!(line.contains("43k tok $0.13"), "{line}");
}

#[test]
fn two_instances_seeing_one_turn_end_count_it_once() {
    let store = Rc::new(MemoryStore::default());
    let host = || FakeHost::with_store(store.clone());
    let (a, b) = (Apiary::new(host()), Apiary::new(host()));
    let session = block_on(started_session(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    for x in [&a, &b] {
        x.host()
            .sessions
            .finish_turn_spending(&session, "msg_001", 100, 10, "0.001");
    }
    block_on(b.refresh()).unwrap();
    idle(&a, &session);
    idle(&b, &session);
    let text = store.text();
    assert_eq!(
        text.matches("\"type\":\"worker_usage\"").count(),
        1,
        "{text}"
    );
    block_on(b.refresh()).unwrap();
    let swarm = b.log().swarm();
    assert_eq!(
        swarm
            .bead("bd-1")
            .unwrap()
            .usage
            .as_deref()
            .unwrap()
            .replies,
        1
    );
}

#[test]
fn a_session_deleted_by_retention_has_its_uncounted_replies_counted_first() {
    let a = apiary_with(|o| {
        o.session_retention_ms = 60_000;
        o.max_sessions_kept = 0;
    });
    let session = block_on(started_session(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    // The turn's end was never seen here (another instance, a restart): only retention runs.
    a.host()
        .sessions
        .finish_turn_spending(&session, "msg_001", 500, 50, "0.02");
    a.host().clock.advance(61_000);
    block_on(a.drain()).unwrap();
    assert_eq!(
        *a.host().sessions.deletions.borrow(),
        std::slice::from_ref(&session)
    );
    // Counted before the deletion: the server answers nothing for a deleted session.
    assert_eq!(count_lines(&a, "worker_usage"), 1);
    let swarm = a.log().swarm();
    assert_eq!(swarm.epic_usage("ep").unwrap().cost_micros, 20_000);
}
