//! Workers whose turn a server restart cut off: detected once, resumed in their own session
//! (policy on), or reported as interrupted (policy off); a finished turn is never mistaken
//! for one.
#[path = "core/given.rs"]
mod given;

use apiary::api::{Options, SpawnArgs};
use apiary::host::{Clock, SessionStatus};
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;

fn with(options: Options) -> Apiary<FakeHost> {
    Apiary::with_options(FakeHost::default(), options)
}

/// A worker spawned and seen busy by a poll: it is running.
fn running(a: &Apiary<FakeHost>, bead: &str) -> String {
    let session = block_on(started_session(a, &coordinator(), &spawn_args(bead))).unwrap();
    a.host()
        .sessions
        .set_status(&session, Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    session
}

#[test]
fn a_running_worker_left_with_an_unfinished_reply_is_resumed_once_in_its_own_session() {
    let a = apiary();
    let session = running(&a, "bd-1");
    a.host().sessions.cut_turn(&session);

    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 1);
    assert!(a.host().store.text().contains("\"resumed\":true"));
    let prompts = prompts_to(&a, &session);
    assert_eq!(prompts.len(), 2, "the task, then the resume");
    assert!(prompts[1].contains("server restarted"), "{}", prompts[1]);
    // Resumed: starting again until its new turn shows busy; not failed, not done.
    assert_eq!(report.pending.len(), 1, "{}", report.output);
    assert!(report.output.contains("resumed after"), "{}", report.output);

    // The next poll, before the new turn is busy, neither records nor resumes again.
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 1);
    assert_eq!(prompts_to(&a, &session).len(), 2);

    // The resumed turn runs and completes as any other.
    a.host()
        .sessions
        .set_status(&session, Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    block_on(a.complete(&worker(&session), &complete_args("bd-1"))).unwrap();
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.completed.len(), 1, "{}", report.output);
}

#[test]
fn the_resume_uses_the_workers_directory_agent_and_model() {
    let a = apiary();
    let args = SpawnArgs {
        agent: Some("plan".into()),
        model: Some("prov/mod-1".into()),
        ..spawn_args("bd-1")
    };
    let session = block_on(started_session(&a, &coordinator(), &args)).unwrap();
    a.host()
        .sessions
        .set_status(&session, Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    a.host().sessions.cut_turn(&session);
    block_on(a.poll(&poll_args())).unwrap();
    let requests = a.host().sessions.prompt_requests.borrow();
    let resume = requests.last().unwrap();
    assert_eq!(resume.agent.as_deref(), Some("plan"));
    let model = resume.model.as_ref().unwrap();
    assert_eq!(
        (model.provider_id.as_str(), model.model_id.as_str()),
        ("prov", "mod-1")
    );
    assert_eq!(resume.directory, requests[0].directory);
}

#[test]
fn with_the_policy_off_an_interrupted_worker_is_reported_and_left_alone() {
    let a = with(Options {
        resume_interrupted: false,
        ..Options::default()
    });
    let session = running(&a, "bd-1");
    a.host().sessions.cut_turn(&session);
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.failed.len(), 1, "{}", report.output);
    assert_eq!(report.failed[0].state, "interrupted");
    assert!(report.output.contains("not resumed"), "{}", report.output);
    assert_eq!(prompts_to(&a, &session).len(), 1, "only the task");
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 1, "recorded once");
}

#[test]
fn a_finished_turn_without_swarm_complete_is_needs_review_not_interrupted() {
    let a = apiary();
    let session = running(&a, "bd-1");
    a.host().sessions.finish_turn(&session, "I stopped");
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 0);
    assert!(
        report.output.contains("bd-1 needs_review"),
        "{}",
        report.output
    );
}

#[test]
fn a_worker_never_seen_busy_with_an_unfinished_reply_is_still_starting() {
    let a = apiary();
    let session = block_on(started_session(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    // Its first reply may be streaming while the status map has not caught up (the race).
    a.host().sessions.cut_turn(&session);
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 0);
    assert_eq!(report.pending.len(), 1, "{}", report.output);
}

#[test]
fn a_resume_the_server_refuses_fails_the_worker_with_its_words_and_it_waits_for_a_retry() {
    let a = apiary();
    let session = running(&a, "bd-1");
    a.host().sessions.cut_turn(&session);
    *a.host().sessions.fail_prompt.borrow_mut() = Some("Session is locked".into());
    let report = block_on(a.poll(&poll_args())).unwrap();
    // Failed as retryable: shown waiting for its next attempt, with the server's words.
    assert_eq!(count_lines(&a, "worker_failed"), 1);
    assert_eq!(report.pending.len(), 1, "{}", report.output);
    assert_eq!(report.pending[0].state, "queued", "{}", report.output);
    assert!(
        report.output.contains("attempt 2 next: could not resume"),
        "{}",
        report.output
    );
}

#[test]
fn recover_looks_at_every_epic_with_live_workers_and_resumes_the_interrupted() {
    // Before the restart: two epics, each with a running worker.
    let (before, after) = two_instances_on_one_store();
    let mut sessions = Vec::new();
    for (bead, epic) in [("bd-1", "ep"), ("bd-2", "ep2")] {
        let args = SpawnArgs {
            epic_id: epic.into(),
            ..spawn_args(bead)
        };
        let s = block_on(started_session(&before, &coordinator(), &args)).unwrap();
        before
            .host()
            .sessions
            .set_status(&s, Some(SessionStatus::Busy));
        let poll = apiary::api::PollArgs {
            epic_id: epic.into(),
            include_messages: None,
        };
        block_on(before.poll(&poll)).unwrap();
        sessions.push(s);
    }
    // The restarted server: both turns cut off; a new plugin instance sweeps the log.
    for s in &sessions {
        after.host().sessions.cut_turn(s);
    }
    assert_eq!(block_on(after.recover()).unwrap(), 2);
    let log = after.host().store.text();
    assert_eq!(log.matches("\"type\":\"worker_interrupted\"").count(), 2);
    let resumed: Vec<String> = after
        .host()
        .sessions
        .prompts
        .borrow()
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    assert_eq!(resumed, sessions);
    // A second sweep finds nothing more to do.
    block_on(after.recover()).unwrap();
    assert_eq!(after.host().sessions.prompts.borrow().len(), 2);
}

#[test]
fn the_same_cut_off_reply_seen_again_before_the_resumed_turn_replies_is_not_a_new_interruption() {
    let a = apiary();
    let session = running(&a, "bd-1");
    a.host().sessions.cut_turn(&session);
    block_on(a.poll(&poll_args())).unwrap();
    // The resumed turn shows busy, then the status map lags while its reply is not written yet:
    // the last reply is still the one cut off.
    a.host()
        .sessions
        .set_status(&session, Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    a.host().sessions.set_status(&session, None);
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 1);
    assert_eq!(prompts_to(&a, &session).len(), 2, "resumed once");

    // A second restart cuts off the resumed turn's own reply: that is a new interruption.
    a.host().sessions.cut_turn(&session);
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 2);
    assert_eq!(prompts_to(&a, &session).len(), 3);
}

#[test]
fn an_unfinished_reply_begun_moments_ago_in_a_session_not_shown_busy_is_looked_at_again_later() {
    let a = apiary();
    let session = running(&a, "bd-1");
    // The status map can lag a turn that has just begun: its reply is new, not cut off.
    let now = a.host().now_ms();
    a.host().sessions.cut_turn_begun_at(&session, now - 1_000);
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 0);
    // Still unfinished and not busy seconds later: a restart cut it off.
    a.host().clock.advance(5_000);
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_interrupted"), 1);
}
