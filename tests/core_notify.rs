//! Waking the coordinator: one message per finished batch, only while it is idle, exactly
//! once across instances, never for workers a poll or await already showed it.
#[path = "core/given.rs"]
mod given;

use apiary::api::{Options, PollArgs};
use apiary::host::Clock;
use apiary::host::{PromptRequest, ServerEvent, SessionStatus};
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;

fn idle(a: &Apiary<impl apiary::host::Host>, session: &str) {
    block_on(a.observe(&ServerEvent::Idle {
        session_id: session.into(),
    }))
    .unwrap();
}

fn busy(a: &Apiary<impl apiary::host::Host>, session: &str) {
    block_on(a.observe(&ServerEvent::Status {
        session_id: session.into(),
        status: SessionStatus::Busy,
    }))
    .unwrap();
}

/// Every prompt sent to the coordinator's session, by any instance's host.
fn to_coordinator<S>(a: &Apiary<FakeHost<S>>) -> Vec<PromptRequest>
where
    FakeHost<S>: apiary::host::Host,
{
    a.host()
        .sessions
        .prompt_requests
        .borrow()
        .iter()
        .filter(|r| r.session_id == "ses_coord")
        .cloned()
        .collect()
}

/// Lets the moment pass in which more workers could finish before the message goes.
fn quiet<S>(a: &Apiary<FakeHost<S>>)
where
    FakeHost<S>: apiary::host::Host,
{
    a.host().clock.advance(2_000);
}

fn messages_to_coordinator(a: &Apiary<FakeHost>) -> Vec<String> {
    to_coordinator(a).into_iter().map(|r| r.text).collect()
}

fn spawn(a: &Apiary<FakeHost>, bead: &str) -> String {
    block_on(spawn_started(a, &coordinator(), &spawn_args(bead))).unwrap();
    session_of(a, bead)
}

#[test]
fn an_idle_coordinator_gets_one_message_naming_the_finished_workers() {
    let a = apiary();
    let s1 = spawn(&a, "bd-1");
    let s2 = spawn(&a, "bd-2");
    idle(&a, "ses_coord");
    assert!(
        messages_to_coordinator(&a).is_empty(),
        "nothing finished yet"
    );

    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    quiet(&a);
    assert_eq!(block_on(a.tell_coordinators()).unwrap(), 1);
    let told = to_coordinator(&a);
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].text,
        "[apiary] workers finished:\nepic ep: bd-1 success. Details: swarm_poll_workers {\"epic_id\":\"ep\"}"
    );
    assert!(told[0].synthetic, "marked as the plugin's");
    // Told once: nothing more until another worker finishes.
    assert_eq!(block_on(a.tell_coordinators()).unwrap(), 0);
    idle(&a, "ses_coord");
    assert_eq!(messages_to_coordinator(&a).len(), 1);

    block_on(a.complete(&worker(&s2), &complete_args("bd-2"))).unwrap();
    quiet(&a);
    idle(&a, "ses_coord");
    let told = messages_to_coordinator(&a);
    assert_eq!(told.len(), 2);
    assert!(told[1].contains("bd-2 success"), "{}", told[1]);
    assert_eq!(count_lines(&a, "coordinator_notified"), 2);
}

#[test]
fn a_busy_coordinator_is_told_at_its_next_idle_and_not_before() {
    let a = apiary();
    let s1 = spawn(&a, "bd-1");
    busy(&a, "ses_coord");
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    assert_eq!(block_on(a.tell_coordinators()).unwrap(), 0);
    assert!(messages_to_coordinator(&a).is_empty(), "never mid-turn");
    quiet(&a);
    idle(&a, "ses_coord");
    assert_eq!(messages_to_coordinator(&a).len(), 1);
}

#[test]
fn a_coordinator_never_seen_idle_here_nor_shown_idle_by_the_server_is_not_prompted() {
    let a = apiary();
    let s1 = spawn(&a, "bd-1");
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    assert_eq!(block_on(a.tell_coordinators()).unwrap(), 0);
    assert_eq!(count_lines(&a, "coordinator_notified"), 0, "still owed");
}

#[test]
fn workers_a_poll_already_showed_the_coordinator_are_not_announced_again() {
    let a = apiary();
    let s1 = spawn(&a, "bd-1");
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    let poll = PollArgs {
        epic_id: "ep".into(),
        include_messages: None,
    };
    block_on(a.poll_from(&coordinator(), &poll)).unwrap();
    idle(&a, "ses_coord");
    assert!(messages_to_coordinator(&a).is_empty());
    assert!(a.host().store.text().contains("\"via\":\"tool\""));
}

#[test]
fn a_failed_or_silent_worker_is_news_too() {
    let a = apiary();
    let s1 = spawn(&a, "bd-1");
    a.host().sessions.set_status(&s1, Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    a.host().sessions.finish_turn(&s1, "done, I think");
    block_on(a.poll(&poll_args())).unwrap();
    quiet(&a);
    idle(&a, "ses_coord");
    let told = messages_to_coordinator(&a);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("bd-1 needs_review"), "{}", told[0]);
}

#[test]
fn with_the_option_off_no_message_is_sent() {
    let a = Apiary::with_options(
        FakeHost::default(),
        Options {
            wake_coordinator: false,
            ..Options::default()
        },
    );
    let s1 = spawn(&a, "bd-1");
    idle(&a, "ses_coord");
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    idle(&a, "ses_coord");
    assert!(messages_to_coordinator(&a).is_empty());
}

#[test]
fn two_instances_that_both_see_the_coordinator_idle_send_one_message() {
    let (x, y) = two_instances_on_one_store();
    let s1 = block_on(started_session(&x, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(x.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    quiet(&x);
    quiet(&y);
    idle(&x, "ses_coord");
    idle(&y, "ses_coord");
    assert_eq!(to_coordinator(&x).len() + to_coordinator(&y).len(), 1);
}

#[test]
fn after_a_restart_the_plugin_asks_the_server_whether_the_coordinator_is_idle() {
    let (before, after) = two_instances_on_one_store();
    let s1 = block_on(started_session(
        &before,
        &coordinator(),
        &spawn_args("bd-1"),
    ))
    .unwrap();
    block_on(before.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    quiet(&after);

    // Busy in its instance's status map: left to the event stream.
    after
        .host()
        .sessions
        .set_status("ses_coord", Some(SessionStatus::Busy));
    block_on(after.recover()).unwrap();
    assert!(to_coordinator(&after).is_empty());

    // Not busy, and its last reply finished: idle, told now, in its own directory.
    after
        .host()
        .sessions
        .finish_turn("ses_coord", "spawned them");
    block_on(after.recover()).unwrap();
    let told = to_coordinator(&after);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].directory.as_deref(), Some("/repo"));
    block_on(after.recover()).unwrap();
    assert_eq!(to_coordinator(&after).len(), 1, "once");
}

#[test]
fn after_a_restart_that_cut_off_the_coordinator_own_reply_it_is_told_once_that_reply_is_stale() {
    let (before, after) = two_instances_on_one_store();
    let s1 = block_on(started_session(
        &before,
        &coordinator(),
        &spawn_args("bd-1"),
    ))
    .unwrap();
    block_on(before.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();

    // Its last reply unfinished and just begun: it may be starting, not cut off.
    let now = after.host().now_ms();
    after
        .host()
        .sessions
        .cut_turn_begun_at("ses_coord", now - 1_000);
    block_on(after.recover()).unwrap();
    assert!(to_coordinator(&after).is_empty());

    // Seconds later, still unfinished and not busy: the restart cut it off.
    after.host().clock.advance(5_000);
    block_on(after.recover()).unwrap();
    assert_eq!(to_coordinator(&after).len(), 1);
}

#[test]
fn workers_finishing_close_together_wake_the_coordinator_once() {
    let a = apiary();
    let (s1, s2) = (spawn(&a, "bd-1"), spawn(&a, "bd-2"));
    idle(&a, "ses_coord");
    block_on(a.complete(&worker(&s1), &complete_args("bd-1"))).unwrap();
    assert_eq!(block_on(a.tell_coordinators()).unwrap(), 0, "held a moment");
    a.host().clock.advance(1_500);
    block_on(a.complete(&worker(&s2), &complete_args("bd-2"))).unwrap();
    a.host().clock.advance(1_500);
    assert_eq!(
        block_on(a.tell_coordinators()).unwrap(),
        0,
        "bd-2 just finished"
    );
    a.host().clock.advance(500);
    assert_eq!(block_on(a.tell_coordinators()).unwrap(), 1);
    let told = messages_to_coordinator(&a);
    assert_eq!(told.len(), 1);
    assert!(
        told[0].contains("bd-1 success, bd-2 success"),
        "{}",
        told[0]
    );
}

#[test]
fn a_message_held_for_more_finishes_goes_at_most_ten_seconds_after_the_first() {
    let a = apiary();
    let sessions: Vec<String> = (0..8).map(|i| spawn(&a, &format!("bd-{i}"))).collect();
    idle(&a, "ses_coord");
    for (i, s) in sessions.iter().enumerate() {
        block_on(a.complete(&worker(s), &complete_args(&format!("bd-{i}")))).unwrap();
        assert_eq!(
            block_on(a.tell_coordinators()).unwrap(),
            u32::from(i == 7),
            "finish {i}"
        );
        a.host().clock.advance(1_500);
    }
    assert!(messages_to_coordinator(&a)[0].contains("bd-0 success"));
}

#[test]
fn a_worker_that_asks_its_coordinator_is_not_announced_as_finished() {
    let a = apiary();
    let s1 = spawn(&a, "bd-1");
    idle(&a, "ses_coord");
    let ask = apiary::api::SendArgs {
        to: vec!["coordinator".into()],
        subject: "Postgres or SQLite?".into(),
        body: "Which one?".into(),
        importance: Some(apiary::event::Importance::High),
        thread_id: None,
    };
    block_on(a.send(&worker(&s1), &ask)).unwrap();
    a.host().sessions.set_status(&s1, Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    a.host().sessions.finish_turn(&s1, "I asked.");
    block_on(a.poll(&poll_args())).unwrap();
    quiet(&a);
    idle(&a, "ses_coord");
    let told = messages_to_coordinator(&a);
    assert!(told.iter().all(|t| !t.contains("finished")), "{told:?}");
    assert!(
        told.iter().any(|t| t.contains("Postgres or SQLite?")),
        "{told:?}"
    );
}
