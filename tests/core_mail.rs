//! Messages between the coordinator and its workers: recorded, delivered once (as a prompt
//! when urgent and the worker is between turns, or when its turn ends), read back with the
//! inbox, acknowledged; a worker that asks the coordinator shows as blocked until answered.
#[path = "core/given.rs"]
mod given;

use apiary::api::{AckArgs, AwaitArgs, AwaitOutcome, InboxArgs, SendArgs};
use apiary::event::Importance;
use apiary::host::{ServerEvent, SessionStatus};
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;

type Core = Apiary<FakeHost>;

fn send(a: &Core, from: &str, to: &[&str], subject: &str, importance: Importance) -> String {
    let reply = block_on(a.send(
        &worker(from),
        &SendArgs {
            to: to.iter().map(|t| t.to_string()).collect(),
            subject: subject.into(),
            body: format!("about {subject}"),
            importance: Some(importance),
            thread_id: None,
        },
    ))
    .unwrap();
    reply.output
}

fn status(a: &Core, session: &str, busy: bool) {
    let event = if busy {
        ServerEvent::Status {
            session_id: session.into(),
            status: SessionStatus::Busy,
        }
    } else {
        ServerEvent::Idle {
            session_id: session.into(),
        }
    };
    block_on(a.observe(&event)).unwrap();
}

fn inbox(a: &Core, session: &str) -> String {
    block_on(a.inbox(&worker(session), &InboxArgs::default()))
        .unwrap()
        .output
}

#[test]
fn a_worker_asking_the_coordinator_shows_blocked_until_answered_and_await_returns() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
    status(&a, "ses_1", true);
    let out = send(
        &a,
        "ses_1",
        &["coordinator"],
        "Which auth library?",
        Importance::High,
    );
    assert!(
        out.ends_with(
            "coordinator: the coordinator is told when idle; you show as blocked until it answers"
        ),
        "{out}"
    );
    // bd-2 finishes; bd-1 waits for an answer: the await returns rather than wait on it.
    block_on(a.complete(&worker("ses_2"), &complete_args("bd-2"))).unwrap();
    let report = block_on(a.await_workers(
        &AwaitArgs {
            epic_id: "ep".into(),
            timeout_ms: Some(60_000),
            ..AwaitArgs::default()
        },
        std::future::pending(),
    ))
    .unwrap();
    assert_eq!(report.outcome, Some(AwaitOutcome::Done));
    assert!(
        report.output.contains("1 wait on you (blocked or waiting)"),
        "{}",
        report.output
    );
    assert!(
        report
            .output
            .contains("bd-1 blocked 0ms: asks: Which auth library?"),
        "{}",
        report.output
    );
    // The coordinator's answer ends the wait.
    send(&a, "ses_coord", &["bd-1"], "Use argon2", Importance::Normal);
    let poll = block_on(a.poll(&poll_args())).unwrap();
    assert!(!poll.output.contains("asks:"), "{}", poll.output);
}

#[test]
fn an_idle_coordinator_is_prompted_once_with_its_workers_high_messages() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    status(&a, "ses_coord", true);
    send(
        &a,
        "ses_1",
        &["coordinator"],
        "Need the schema",
        Importance::Urgent,
    );
    send(&a, "ses_1", &["coordinator"], "fyi", Importance::Normal);
    assert!(
        prompts_to(&a, "ses_coord").is_empty(),
        "not in the middle of its turn"
    );
    status(&a, "ses_coord", false);
    let told = prompts_to(&a, "ses_coord");
    assert_eq!(told.len(), 1);
    assert!(
        told[0].starts_with("[apiary] message(s) from your workers:\nm-"),
        "{}",
        told[0]
    );
    assert!(
        told[0].contains("from bd-1 (urgent)")
            && told[0].contains("Need the schema\n    about Need the schema"),
        "{}",
        told[0]
    );
    assert!(
        !told[0].contains("fyi"),
        "a normal message waits in the inbox"
    );
    status(&a, "ses_coord", true);
    status(&a, "ses_coord", false);
    assert_eq!(prompts_to(&a, "ses_coord").len(), 1, "exactly once");
    assert_eq!(count_lines(&a, "message_delivered"), 1);
}

#[test]
fn an_urgent_message_reaches_a_busy_worker_when_its_turn_ends_and_an_idle_one_at_once() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
    status(&a, "ses_1", true);
    let out = send(
        &a,
        "ses_coord",
        &["bd-1"],
        "Stop touching main.rs",
        Importance::Urgent,
    );
    assert!(out.ends_with("bd-1: prompted when its turn ends"), "{out}");
    let before = prompts_to(&a, "ses_1").len();
    status(&a, "ses_1", false);
    let prompts = prompts_to(&a, "ses_1");
    assert_eq!(prompts.len(), before + 1);
    assert!(
        prompts
            .last()
            .unwrap()
            .starts_with("[apiary] urgent message(s) for you:\nm-"),
        "{}",
        prompts.last().unwrap()
    );
    status(&a, "ses_1", true);
    status(&a, "ses_1", false);
    assert_eq!(prompts_to(&a, "ses_1").len(), before + 1, "exactly once");

    // bd-2 ended its turn already: the prompt goes at once.
    status(&a, "ses_2", true);
    status(&a, "ses_2", false);
    let out = send(
        &a,
        "ses_coord",
        &["bd-2"],
        "One more thing",
        Importance::Urgent,
    );
    assert!(out.ends_with("bd-2: delivered as a prompt"), "{out}");
}

#[test]
fn the_inbox_lists_unread_marks_delivery_and_the_sender_sees_delivered_and_read() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
    send(
        &a,
        "ses_1",
        &["bd-2"],
        "I renamed parse()",
        Importance::Normal,
    );
    let got = inbox(&a, "ses_2");
    assert!(
        got.starts_with("1 message(s) for bd-2, 1 unread:\n* m-"),
        "{got}"
    );
    assert!(
        got.contains("from bd-1 (normal) 0ms ago: I renamed parse()"),
        "{got}"
    );
    let id = got.split_whitespace().nth(7).unwrap().to_string();
    assert!(id.starts_with("m-"), "{id}");
    let sent = inbox(&a, "ses_1");
    assert!(
        sent.contains(&format!(
            "sent by you:\n  {id} to bd-2: I renamed parse(): bd-2 got it 0ms ago (inbox)"
        )),
        "{sent}"
    );
    let acked = block_on(a.ack(
        &worker("ses_2"),
        &AckArgs {
            message_ids: vec![id.clone()],
        },
    ))
    .unwrap();
    assert_eq!(acked.output, "marked 1 read (0 already were)");
    assert!(inbox(&a, "ses_1").contains("bd-2 read it 0ms ago"));
    assert!(inbox(&a, "ses_2").starts_with("1 message(s) for bd-2, 0 unread"));
    let unread = block_on(a.inbox(
        &worker("ses_2"),
        &InboxArgs {
            unread_only: Some(true),
            thread_id: None,
        },
    ))
    .unwrap();
    assert!(
        unread.output.starts_with("0 message(s)"),
        "{}",
        unread.output
    );
    // Another instance reads the same history from the log.
    let fresh = apiary();
    fresh.host().store.set_raw(a.host().store.text().as_bytes());
    assert!(inbox(&fresh, "ses_2").contains("I renamed parse()"));
}

#[test]
fn bad_messages_are_refused_with_nothing_recorded() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let args = |to: &[&str]| SendArgs {
        to: to.iter().map(|t| t.to_string()).collect(),
        subject: "s".into(),
        body: "b".into(),
        importance: None,
        thread_id: None,
    };
    let err = |session: &str, to: &[&str]| {
        block_on(a.send(&worker(session), &args(to)))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("ses_1", &["bd-9"]),
        "refused: no bead bd-9 was spawned or queued; nothing was sent"
    );
    assert_eq!(
        err("ses_1", &["bd-1"]),
        "invalid argument `to`: bd-1 is you"
    );
    assert_eq!(
        err("ses_coord", &[]),
        "invalid argument `to`: names nobody; give coordinator or bead ids"
    );
    assert_eq!(
        err("ses_coord", &["coordinator"]),
        "invalid argument `to`: coordinator is you"
    );
    let ack = block_on(a.ack(
        &worker("ses_1"),
        &AckArgs {
            message_ids: vec!["m-nope".into()],
        },
    ))
    .unwrap_err();
    assert_eq!(
        ack.to_string(),
        "refused: no message m-nope for bd-1; nothing was marked"
    );
    assert_eq!(count_lines(&a, "message_sent"), 0);
}
