//! The verify gate: a worker's success runs the verify command in its directory first.
#[path = "core/given.rs"]
mod given;
#[path = "core/scratch.rs"]
mod scratch;

use apiary::api::{CallContext, Options, SpawnArgs};
use apiary::event::CompletionStatus;
use apiary::projection::WorkerState;
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;
use scratch::Scratch;

/// A coordinator in a scratch folder (not a repository: the workers share it).
fn coordinator_in(dir: &Scratch) -> CallContext {
    CallContext {
        session_id: "ses_coord".into(),
        directory: dir.to_str().unwrap().into(),
    }
}

/// An instance with `change` applied, and a worker for `bead` started in `dir`.
fn started(dir: &Scratch, change: impl FnOnce(&mut Options), args: SpawnArgs) -> Apiary<FakeHost> {
    let a = apiary_with(change);
    block_on(spawn_started(&a, &coordinator_in(dir), &args)).unwrap();
    a
}

fn complete(a: &Apiary<FakeHost>, dir: &Scratch, bead: &str) -> String {
    let ctx = CallContext {
        session_id: session_of(a, bead),
        directory: dir.to_str().unwrap().into(),
    };
    block_on(a.complete(&ctx, &complete_args(bead)))
        .unwrap()
        .output
}

fn poll_output(a: &Apiary<FakeHost>) -> String {
    block_on(a.poll(&poll_args())).unwrap().output
}

#[test]
fn a_passing_verify_is_recorded_and_the_worker_completes() {
    let dir = Scratch::new("verify-pass");
    let a = started(&dir, |o| o.verify = Some("true".into()), spawn_args("bd-1"));
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.contains("`true` passed"), "{reply}");
    let text = a.host().store.text();
    let verified = text.find("\"type\":\"worker_verified\"").expect("recorded");
    assert!(verified < text.find("\"type\":\"worker_completed\"").unwrap());
    assert!(text.contains("\"ok\":true,\"exit_code\":0"), "{text}");
    {
        let swarm = a.log().swarm();
        let w = swarm.bead("bd-1").unwrap();
        assert_eq!(w.state, WorkerState::Completed(CompletionStatus::Success));
        assert_eq!(w.verified(), Some(true));
    }
    assert!(poll_output(&a).contains("(verified)"));
}

#[test]
fn a_failing_verify_refuses_the_completion_with_its_status_and_tail_until_the_worker_fixes_it() {
    let dir = Scratch::new("verify-fix");
    let a = started(
        &dir,
        |o| o.verify = Some("echo checking fixed.txt; test -f fixed.txt".into()),
        spawn_args("bd-1"),
    );
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.starts_with("completion refused"), "{reply}");
    assert!(reply.contains("exited with status 1"), "{reply}");
    assert!(reply.contains("attempt 1 of 3"), "{reply}");
    assert!(reply.contains("checking fixed.txt"), "{reply}");
    assert!(reply.contains("call swarm_complete again"), "{reply}");
    assert_eq!(count_lines(&a, "worker_completed"), 0);
    assert_eq!(a.log().swarm().bead("bd-1").unwrap().verify_failures(), 1);
    assert!(poll_output(&a).contains("(verify failed 1/3)"));

    std::fs::write(dir.join("fixed.txt"), "").unwrap();
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.starts_with("recorded: bd-1 success"), "{reply}");
    assert_eq!(count_lines(&a, "worker_verified"), 2);
    assert!(a
        .host()
        .store
        .text()
        .contains("\"ok\":true,\"exit_code\":0,\"duration_ms\":0,\"attempt\":2"));
}

#[test]
fn after_the_last_failed_round_the_worker_is_recorded_failed_with_the_reason() {
    let dir = Scratch::new("verify-rounds");
    let a = started(
        &dir,
        |o| {
            o.verify = Some("exit 3".into());
            o.verify_attempts = 2;
        },
        spawn_args("bd-1"),
    );
    complete(&a, &dir, "bd-1");
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.contains("attempt 2 of 2"), "{reply}");
    assert!(reply.contains("recorded failed"), "{reply}");
    let w = a.log().swarm().bead("bd-1").unwrap().clone();
    assert_eq!(w.state, WorkerState::Failed);
    assert!(!w.retryable);
    assert_eq!(
        w.error.as_deref(),
        Some("verify failed 2/2: `exit 3` exited with status 3")
    );
    assert_eq!(count_lines(&a, "worker_completed"), 0);
    let report = block_on(a.poll(&poll_args())).unwrap();
    assert_eq!(report.failed[0].state, "failed");
    assert!(
        report.output.contains("(verify failed 2/2)"),
        "{}",
        report.output
    );
    // Reported: a later call is refused like any second report.
    let ctx = CallContext {
        session_id: w.session_id.clone(),
        directory: dir.to_str().unwrap().into(),
    };
    let err = block_on(a.complete(&ctx, &complete_args("bd-1"))).unwrap_err();
    assert!(err.to_string().contains("already reported"), "{err}");
}

#[test]
fn only_a_bounded_tail_of_a_loud_command_reaches_the_worker() {
    let dir = Scratch::new("verify-loud");
    let loud = "i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done; \
                head -c 3000000 /dev/zero | tr '\\0' x; echo; echo last words; exit 1";
    let a = started(&dir, |o| o.verify = Some(loud.into()), spawn_args("bd-1"));
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.len() < 14_000, "{} bytes", reply.len());
    let block = reply.split("```").nth(1).expect("a tail");
    let lines: Vec<&str> = block.trim_matches('\n').lines().collect();
    assert_eq!(lines.len(), 40);
    assert!(lines.iter().all(|l| l.chars().count() <= 300));
    assert_eq!(lines[0], "line 62");
    assert_eq!(lines[38], "x".repeat(300));
    assert_eq!(lines[39], "last words");
}

#[test]
fn a_command_that_outlives_the_timeout_is_reported_as_timed_out() {
    let dir = Scratch::new("verify-timeout");
    let a = started(
        &dir,
        |o| {
            o.verify = Some("echo started; sleep 30".into());
            o.verify_timeout_ms = 1_000;
        },
        spawn_args("bd-1"),
    );
    let reply = complete(&a, &dir, "bd-1");
    assert!(
        reply.contains("`echo started; sleep 30` timed out after 1 s"),
        "{reply}"
    );
    assert!(reply.contains("started"), "{reply}");
    let text = a.host().store.text();
    assert!(
        text.contains("\"exit_code\":124,\"timed_out\":true"),
        "{text}"
    );
}

#[test]
fn a_command_that_cannot_start_is_named_as_such() {
    let dir = Scratch::new("verify-127");
    let a = started(
        &dir,
        |o| o.verify = Some("no-such-verify-command".into()),
        spawn_args("bd-1"),
    );
    let reply = complete(&a, &dir, "bd-1");
    assert!(
        reply.contains("could not start (exit 127: command not found)"),
        "{reply}"
    );
}

#[test]
fn without_a_verify_command_a_success_completes_as_before() {
    let dir = Scratch::new("verify-none");
    let a = started(&dir, |_| {}, spawn_args("bd-1"));
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.starts_with("recorded: bd-1 success"), "{reply}");
    assert!(!reply.contains("passed"), "{reply}");
    assert_eq!(count_lines(&a, "worker_verified"), 0);
    assert_eq!(a.log().swarm().bead("bd-1").unwrap().verified(), None);
}

#[test]
fn a_reported_failure_is_not_verified() {
    let dir = Scratch::new("verify-failed");
    let a = started(
        &dir,
        |o| o.verify = Some("exit 1".into()),
        spawn_args("bd-1"),
    );
    let mut args = complete_args("bd-1");
    args.status = Some(CompletionStatus::Failed);
    let ctx = CallContext {
        session_id: session_of(&a, "bd-1"),
        directory: dir.to_str().unwrap().into(),
    };
    block_on(a.complete(&ctx, &args)).unwrap();
    assert_eq!(count_lines(&a, "worker_verified"), 0);
    assert_eq!(count_lines(&a, "worker_completed"), 1);
}

#[test]
fn the_spawn_argument_overrides_the_option_and_the_epics_later_spawns_take_it() {
    let dir = Scratch::new("verify-arg");
    let mut args = spawn_args("bd-1");
    args.verify = Some("test -d .".into());
    let a = started(&dir, |o| o.verify = Some("exit 1".into()), args);
    let reply = complete(&a, &dir, "bd-1");
    assert!(reply.contains("`test -d .` passed"), "{reply}");
    // A later spawn of the epic without one takes the epic's command, from the log.
    block_on(spawn_started(
        &a,
        &coordinator_in(&dir),
        &spawn_args("bd-2"),
    ))
    .unwrap();
    assert_eq!(
        a.log().swarm().bead("bd-2").unwrap().verify.as_deref(),
        Some("test -d .")
    );
    let reply = complete(&a, &dir, "bd-2");
    assert!(reply.contains("`test -d .` passed"), "{reply}");
    assert!(a.host().store.text().contains("\"verify\":\"test -d .\""));
}
