//! `swarm_log`: the events themselves, filtered by epic, bead, session and type, one line each,
//! the last `limit` of them; refusals name what is wrong.
#[path = "core/given.rs"]
mod given;

use apiary::api::LogArgs;
use apiary::testing::block_on;
use given::*;

#[test]
fn the_log_tells_a_beads_story_in_order_one_line_per_event() {
    let a = apiary_with(|o| o.retry_backoff_ms = 1_000);
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    let mut other = spawn_args("bd-2");
    other.epic_id = "other".into();
    block_on(spawn_started(&a, &coordinator(), &other)).unwrap();
    session_error(&a, "ses_1", "APIError");
    block_on(a.drain()).unwrap();
    let story = block_on(a.history(&LogArgs {
        bead_id: Some("bd-1".into()),
        ..LogArgs::default()
    }))
    .unwrap()
    .output;
    assert_eq!(
        story,
        "4 event(s):\n\
         #1 0ms ago worker_queued bd-1: queued (normal)\n\
         #2 0ms ago worker_spawned bd-1: session ses_1\n\
         #5 0ms ago worker_failed bd-1: APIError (retryable)\n\
         #6 0ms ago worker_retried bd-1: attempt 2: APIError"
    );
    let by_epic = block_on(a.history(&LogArgs {
        epic_id: Some("other".into()),
        ..LogArgs::default()
    }))
    .unwrap()
    .output;
    assert_eq!(
        by_epic,
        "2 event(s):\n#3 0ms ago worker_queued bd-2: queued (normal)\n\
         #4 0ms ago worker_spawned bd-2: session ses_2"
    );
    let failures = block_on(a.history(&LogArgs {
        types: Some(vec!["worker_failed".into()]),
        session_id: Some("ses_1".into()),
        ..LogArgs::default()
    }))
    .unwrap()
    .output;
    assert!(failures.starts_with("1 event(s):\n#5 "), "{failures}");
    let last = block_on(a.history(&LogArgs {
        limit: Some(1),
        ..LogArgs::default()
    }))
    .unwrap()
    .output;
    assert!(
        last.starts_with("6 event(s), the last 1 shown:\n#6 "),
        "{last}"
    );
}

#[test]
fn unknown_event_types_and_bad_limits_are_refused_by_name() {
    let a = apiary();
    let err = block_on(a.history(&LogArgs {
        types: Some(vec!["worker_exploded".into()]),
        ..LogArgs::default()
    }))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "invalid argument `types`: no event type \"worker_exploded\"; known: worker_spawned, "
        ),
        "{err}"
    );
    let err = block_on(a.history(&LogArgs {
        limit: Some(0),
        ..LogArgs::default()
    }))
    .unwrap_err()
    .to_string();
    assert_eq!(err, "invalid argument `limit`: is 0; give 1 to 200");
}

#[test]
fn a_damaged_line_is_named_and_the_events_before_it_are_shown() {
    let a = apiary();
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    a.host().store.push_raw(b"{not an event}\n");
    let out = block_on(a.history(&LogArgs::default())).unwrap().output;
    assert!(
        out.starts_with("2 event(s); the log is damaged at line 3 (not an event envelope: "),
        "{out}"
    );
    assert!(out.contains("nothing after it is shown:\n#1 "), "{out}");
}
