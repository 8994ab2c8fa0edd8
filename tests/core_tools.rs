//! The tools' behaviour over fake hosts: spawn, poll, the worker tools and server events.
#[path = "core/given.rs"]
mod given;

use apiary::api::{PollArgs, ProgressArgs};
use apiary::event::CompletionStatus;
use apiary::host::{ServerEvent, SessionStatus};
use apiary::testing::block_on;
use apiary::ToolError;
use given::*;

#[test]
fn spawn_creates_a_child_of_the_caller_prompts_it_and_returns_at_once() {
    let a = apiary();
    let reply = block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(session_of(&a, "bd-1"), "ses_1");
    let created = a.host().sessions.created.borrow();
    assert_eq!(created[0].parent_id.as_deref(), Some("ses_coord"));
    assert_eq!(created[0].title, "bd-1: task bd-1");
    let prompts = a.host().sessions.prompts.borrow();
    assert_eq!(prompts.len(), 1);
    assert!(prompts[0].1.contains("# Apiary worker: bd-1 (epic ep)"));
    assert!(
        reply.output.ends_with("running in the background"),
        "{}",
        reply.output
    );
    // `/repo` does not exist, so git cannot run there: the worker shares the directory.
    assert!(reply.output.contains("the worker edits your directory"));
}

#[test]
fn spawn_records_the_worker_with_the_sha256_of_its_prompt() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let line = a.host().store.text();
    let prompt = a.host().sessions.prompts.borrow()[0].1.clone();
    assert!(line.contains("\"type\":\"worker_spawned\""), "{line}");
    assert!(line.contains(&format!("\"prompt_hash\":\"{}\"", sha256_hex(&prompt))));
    assert!(line.contains("\"files\":[\"src/bd-1.rs\"]"));
}

#[test]
fn bad_identifiers_are_refused_and_nothing_is_written() {
    let a = apiary();
    for (bead, epic) in [("../x", "ep"), ("bd-1", "a/b"), ("bd\n1", "ep"), ("", "ep")] {
        let mut args = spawn_args(bead);
        args.epic_id = epic.into();
        let err = block_on(spawn_started(&a, &coordinator(), &args)).unwrap_err();
        assert!(
            matches!(err, ToolError::InvalidArgument { .. }),
            "{bead}/{epic}: {err}"
        );
    }
    assert_eq!(a.host().store.text(), "");
    assert!(a.host().sessions.created.borrow().is_empty());
}

#[test]
fn a_dependency_not_spawned_yet_leaves_the_bead_waiting_on_the_coordinator() {
    let a = apiary();
    let mut args = spawn_args("bd-2");
    args.dependencies = Some(vec!["bd-9".into()]);
    let reply = block_on(spawn_started(&a, &coordinator(), &args)).unwrap();
    assert_eq!(reply.status, apiary::api::SpawnStatus::Queued);
    assert_eq!(
        reply.output,
        "queued bd-2 (epic ep) at #1: bd-9 was never spawned; it starts by itself"
    );
    assert!(a.host().sessions.created.borrow().is_empty());
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert!(
        report
            .output
            .contains("bd-2 waiting 0ms: #1: bd-9 was never spawned"),
        "{}",
        report.output
    );
}

#[test]
fn a_completed_dependency_lets_the_dependent_spawn() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    let mut args = spawn_args("bd-2");
    args.dependencies = Some(vec!["bd-1".into()]);
    assert!(block_on(spawn_started(&a, &coordinator(), &args)).is_ok());
}

#[test]
fn a_second_spawn_of_a_running_bead_returns_the_existing_worker() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let again = block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(again.session_id, "ses_1");
    assert_eq!(again.status, apiary::api::SpawnStatus::AlreadyRunning);
    assert_eq!(a.host().sessions.created.borrow().len(), 1);
}

#[test]
fn a_failed_prompt_is_recorded_as_a_failed_worker_and_reported() {
    // The failure is retryable; with no attempt left it is final.
    let a = apiary_with(|o| o.max_attempts = 1);
    *a.host().sessions.fail_prompt.borrow_mut() = Some("connection refused".into());
    let reply = block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(reply.status, apiary::api::SpawnStatus::Starting);
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.failed.len(), 1);
    assert!(report.output.contains("bd-1 failed"), "{}", report.output);
    assert!(
        report.output.contains("the server refused the prompt"),
        "{}",
        report.output
    );
}

#[test]
fn a_worker_absent_from_the_status_map_right_after_spawn_is_pending_not_done() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.pending.len(), 1, "{}", report.output);
    assert_eq!(report.pending[0].state, "starting");
    assert!(report.completed.is_empty());
}

#[test]
fn a_busy_worker_is_in_progress_and_recorded_as_started_once() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host()
        .sessions
        .set_status("ses_1", Some(SessionStatus::Busy));
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.in_progress[0].state, "running");
    block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(count_lines(&a, "worker_started"), 1);
}

#[test]
fn a_worker_seen_busy_then_absent_ended_its_turn_and_needs_review() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host()
        .sessions
        .set_status("ses_1", Some(SessionStatus::Busy));
    block_on(a.poll(&poll_args())).unwrap();
    a.host().sessions.set_status("ses_1", None);
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(
        report.completed[0].state, "needs_review",
        "{}",
        report.output
    );
    assert_eq!(count_lines(&a, "worker_idle"), 1);
}

#[test]
fn a_fast_worker_never_seen_busy_is_found_done_from_its_messages() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host().sessions.finish_turn("ses_1", "all done");
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(
        report.completed[0].state, "needs_review",
        "{}",
        report.output
    );
}

#[test]
fn a_retrying_session_is_shown_in_progress_with_the_reason() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let retry = SessionStatus::Retry {
        attempt: 2,
        message: "429 Too Many Requests".into(),
    };
    a.host().sessions.set_status("ses_1", Some(retry));
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.in_progress[0].state, "retrying", "{}", report.output);
    assert!(report.output.contains("retry 2: 429 Too Many Requests"));
}

#[test]
fn a_session_the_server_no_longer_knows_is_failed_with_the_reason() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host().sessions.deleted.borrow_mut().push("ses_1".into());
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.output.contains("no longer exists"),
        "{}",
        report.output
    );
}

#[test]
fn swarm_complete_marks_the_worker_completed_with_its_summary_and_duration() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host().clock.advance(2_500);
    let reply = block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    assert!(reply
        .output
        .starts_with("recorded: bd-1 success after 2.5s"));
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.completed[0].state, "success");
    assert_eq!(report.completed[0].elapsed_ms, 2_500);
    assert!(
        report.output.contains("bd-1 success 2.5s: did bd-1"),
        "{}",
        report.output
    );
}

#[test]
fn a_blocked_worker_is_listed_with_failures_as_blocked() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let mut args = complete_args("bd-1");
    args.status = Some(CompletionStatus::Blocked);
    args.summary = "need write access to Cargo.toml".into();
    block_on(a.complete(&worker("ses_1"), &args)).unwrap();
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.failed[0].state, "blocked");
    assert!(report.output.contains("blocked"));
}

#[test]
fn only_the_beads_own_session_may_report_for_it_and_only_once() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let err = block_on(a.complete(&worker("ses_other"), &complete_args("bd-1"))).unwrap_err();
    assert!(
        err.to_string().contains("belongs to session ses_1"),
        "{err}"
    );
    block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    let err = block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap_err();
    assert!(err.to_string().contains("already reported"), "{err}");
}

#[test]
fn progress_is_shown_with_its_percent_and_message() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let args = ProgressArgs {
        bead_id: "bd-1".into(),
        progress_percent: 40,
        message: Some("parser done".into()),
        files_touched: Some(vec!["src/p.rs".into()]),
    };
    block_on(a.progress(&worker("ses_1"), &args)).unwrap();
    a.host()
        .sessions
        .set_status("ses_1", Some(SessionStatus::Busy));
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert!(
        report.output.contains("bd-1 running 40%"),
        "{}",
        report.output
    );
    assert!(report.output.contains("parser done"));
    let bad = ProgressArgs {
        progress_percent: 101,
        ..args
    };
    assert!(block_on(a.progress(&worker("ses_1"), &bad)).is_err());
}

#[test]
fn an_unreadable_status_map_gives_the_logs_view_with_a_warning() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    *a.host().sessions.fail_status.borrow_mut() = Some("ECONNRESET".into());
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.total, 1);
    assert!(report
        .output
        .contains("warning: session.status failed: ECONNRESET"));
}

#[test]
fn polling_an_unknown_epic_names_the_known_ones() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let report = block_on(a.poll(&PollArgs {
        epic_id: "nope".into(),
        include_messages: None,
    }))
    .unwrap();
    assert_eq!(report.total, 0);
    assert!(
        report.output.contains("known epics: ep"),
        "{}",
        report.output
    );
}

#[test]
fn a_poll_of_twenty_workers_with_messages_stays_near_two_kilobytes() {
    let a = apiary_with(|o| o.max_running = 20);
    for i in 0..20 {
        let mut args = spawn_args(&format!("bd-{i}"));
        args.title = "Implement the thing that this worker was asked to implement".into();
        let session = block_on(started_session(&a, &coordinator(), &args)).unwrap();
        a.host()
            .sessions
            .finish_turn(&session, &"long reply text ".repeat(40));
    }
    let report = block_on(a.poll(&PollArgs {
        epic_id: "ep".into(),
        include_messages: Some(true),
    }))
    .unwrap();
    assert_eq!(report.completed.len(), 20);
    assert!(report.output.len() < 2_100, "{} bytes", report.output.len());
    assert!(report.output.lines().all(|l| l.chars().count() <= 100));
}

#[test]
fn server_events_record_started_idle_and_failed_once_each() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
    let busy = ServerEvent::Status {
        session_id: "ses_1".into(),
        status: SessionStatus::Busy,
    };
    block_on(a.observe(&busy)).unwrap();
    block_on(a.observe(&busy)).unwrap();
    block_on(a.observe(&ServerEvent::Idle {
        session_id: "ses_1".into(),
    }))
    .unwrap();
    block_on(a.observe(&ServerEvent::Error {
        session_id: "ses_2".into(),
        error: None,
    }))
    .unwrap();
    block_on(a.observe(&ServerEvent::Idle {
        session_id: "ses_unrelated".into(),
    }))
    .unwrap();
    assert_eq!(count_lines(&a, "worker_started"), 1);
    assert_eq!(count_lines(&a, "worker_idle"), 1);
    assert_eq!(count_lines(&a, "worker_failed"), 1);
    assert!(!a.host().store.is_locked());
}

#[test]
fn a_worker_is_visible_to_another_instance_as_soon_as_spawn_returns() {
    let (first, second) = two_instances_on_one_store();
    block_on(spawn_started(&first, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let report = block_on(second.poll(&poll_args())).unwrap();
    assert_eq!(report.total, 1);
}

#[test]
fn poll_outputs_are_exactly_as_the_coordinator_reads_them() {
    let a = apiary();
    for bead in ["bd-1", "bd-2", "bd-3"] {
        block_on(spawn_started(&a, &coordinator(), &spawn_args(bead))).unwrap();
    }
    a.host().clock.advance(1_200);
    block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    a.host()
        .sessions
        .set_status("ses_2", Some(SessionStatus::Busy));
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(
        report.output,
        "epic ep: 3 workers: 1 completed, 1 in progress, 0 failed, 1 pending\n\
         completed:\n  bd-1 success 1.2s: did bd-1\n\
         in progress:\n  bd-2 running 1.2s\n\
         pending:\n  bd-3 starting 1.2s"
    );
}
