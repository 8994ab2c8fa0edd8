//! The text a coordinator's compaction keeps: its live epics from the log, each bead's state
//! and what waits on it, short enough for a prompt.
#[path = "core/given.rs"]
mod given;

use apiary::event::{BranchMark, CompletionStatus, EventBody, Importance, MessageSent};
use apiary::swarm::coordinator_context;
use given::*;

fn asks(bead: &str, subject: &str) -> EventBody {
    EventBody::MessageSent(MessageSent {
        message_id: format!("m-{bead}"),
        from: bead.into(),
        from_session: None,
        to: vec!["coordinator".into()],
        subject: subject.into(),
        body: "which one?".into(),
        importance: Some(Importance::High),
        thread_id: None,
    })
}

fn merged(bead: &str, session: &str) -> EventBody {
    EventBody::WorktreeMerged(BranchMark {
        session_id: session.into(),
        bead_id: bead.into(),
        branch: format!("apiary/{bead}"),
        commit: "abc".into(),
    })
}

#[test]
fn the_context_names_each_bead_by_what_waits_on_the_coordinator() {
    let mut events = vec![
        spawned("bd-1", "s1"),
        spawned("bd-2", "s2"),
        spawned("bd-3", "s3"),
    ];
    events.extend(completed("bd-1", "s1", CompletionStatus::Success));
    events.push(failed("bd-2", "s2"));
    events.push(asks("bd-3", "Postgres or SQLite?"));
    events.push(queued("bd-4"));
    let text = coordinator_context(&given(events), "ses_coord");
    assert!(text.contains("epic ep:"), "{text}");
    assert!(
        text.contains("asks you: bd-3 \"Postgres or SQLite?\""),
        "{text}"
    );
    assert!(
        text.contains("succeeded, to review and merge: bd-1"),
        "{text}"
    );
    assert!(
        text.contains("failed or blocked (respawn or cancel): bd-2"),
        "{text}"
    );
    assert!(text.contains("queued: bd-4"), "{text}");
    // What waits on the coordinator comes first.
    assert!(text.find("asks you").unwrap() < text.find("queued").unwrap());
}

#[test]
fn an_epic_all_merged_and_another_coordinator_epics_are_left_out() {
    let mut events = vec![spawned("bd-1", "s1")];
    events.extend(completed("bd-1", "s1", CompletionStatus::Success));
    events.push(merged("bd-1", "s1"));
    let swarm = given(events);
    assert_eq!(coordinator_context(&swarm, "ses_coord"), "");
    let mut events = vec![spawned("bd-1", "s1")];
    events.extend(completed("bd-1", "s1", CompletionStatus::Success));
    assert_eq!(coordinator_context(&given(events), "ses_other"), "");
}

#[test]
fn the_context_for_twenty_workers_stays_under_one_and_a_half_kilobytes() {
    let mut events = Vec::new();
    for i in 0..20 {
        let (bead, session) = (format!("bd-{i}"), format!("s{i}"));
        events.push(spawned(&bead, &session));
        match i % 4 {
            0 => events.extend(completed(&bead, &session, CompletionStatus::Success)),
            1 => events.push(failed(&bead, &session)),
            2 => events.push(asks(
                &bead,
                "a question whose subject runs on for far longer than the context allows it to",
            )),
            _ => {}
        }
    }
    let text = coordinator_context(&given(events), "ses_coord");
    assert!(text.len() < 1536, "{} bytes:\n{text}", text.len());
    for i in 0..20 {
        assert!(text.contains(&format!("bd-{i}")), "bd-{i} named:\n{text}");
    }
}
