//! Toasts: one per worker outcome (completed, failed, blocked, asking), shown once, never for
//! outcomes from before the instance started, and none with the option off.
#[path = "core/given.rs"]
mod given;

use apiary::api::SendArgs;
use apiary::event::{CompletionStatus, Importance};
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;

fn toasts(a: &Apiary<FakeHost>) -> Vec<(String, String, String)> {
    a.host()
        .sessions
        .toasts
        .borrow()
        .iter()
        .map(|t| (t.title.clone(), t.message.clone(), t.variant.clone()))
        .collect()
}

#[test]
fn each_outcome_is_toasted_once_with_its_variant() {
    let a = apiary();
    for b in ["bd-1", "bd-2", "bd-3", "bd-4"] {
        block_on(spawn_started(&a, &coordinator(), &spawn_args(b))).unwrap();
    }
    let mut dependent = spawn_args("bd-5");
    dependent.dependencies = Some(vec!["bd-2".into()]);
    block_on(spawn_started(&a, &coordinator(), &dependent)).unwrap();
    block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    let mut failed = complete_args("bd-2");
    failed.status = Some(CompletionStatus::Failed);
    failed.summary = "tests do not pass".into();
    block_on(a.complete(&worker("ses_2"), &failed)).unwrap();
    block_on(a.drain()).unwrap();
    block_on(a.send(
        &worker("ses_3"),
        &SendArgs {
            to: vec!["coordinator".into()],
            subject: "Which schema?".into(),
            body: String::new(),
            importance: Some(Importance::High),
            thread_id: None,
        },
    ))
    .unwrap();
    session_error(&a, "ses_4", "ProviderAuthError");
    assert_eq!(block_on(a.toast_news()).unwrap(), 5);
    let mut shown = toasts(&a);
    shown.sort();
    assert_eq!(
        shown,
        [
            (
                "apiary · bd-1 completed".into(),
                "did bd-1 (epic ep)".into(),
                "success".into()
            ),
            (
                "apiary · bd-2 failed".into(),
                "tests do not pass (epic ep)".into(),
                "error".into()
            ),
            (
                "apiary · bd-3 asks".into(),
                "Which schema? (epic ep)".into(),
                "warning".into()
            ),
            (
                "apiary · bd-4 failed".into(),
                "ProviderAuthError (epic ep)".into(),
                "error".into()
            ),
            (
                "apiary · bd-5 is blocked".into(),
                "dependency bd-2 reported failed (epic ep)".into(),
                "warning".into()
            ),
        ]
    );
    assert_eq!(block_on(a.toast_news()).unwrap(), 0, "once each");
}

#[test]
fn a_new_instance_does_not_replay_old_outcomes_and_the_option_turns_them_off() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(a.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    // A restart: a new instance over the same log, a moment later.
    let host: FakeHost = FakeHost::default();
    host.store.set_raw(a.host().store.text().as_bytes());
    host.clock.advance(1);
    let later = Apiary::new(host);
    assert_eq!(block_on(later.toast_news()).unwrap(), 0);
    let off = apiary_with(|o| o.toasts = false);
    block_on(spawn_started(&off, &coordinator(), &spawn_args("bd-1"))).unwrap();
    block_on(off.complete(&worker("ses_1"), &complete_args("bd-1"))).unwrap();
    assert_eq!(block_on(off.toast_news()).unwrap(), 0);
}
