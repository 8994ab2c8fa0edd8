//! The log's lines as bytes: every event type encodes to exactly the bytes earlier builds wrote
//! (the integrity chain hashes them), and lines written before still decode to the same events.
use std::collections::BTreeSet;

use apiary::chain;
use apiary::event::{
    self, BranchMark, CompletionStatus, CoordinatorNotified, EventBody, FilesChanged, Importance,
    MessageMark, MessageSent, Payload, Priority, ServerNote, WorkerCompleted, WorkerFailed,
    WorkerInterrupted, WorkerNote, WorkerObserved, WorkerProgress, WorkerQueued, WorkerRetried,
    WorkerSpawned, WorkerUsage, WorkerVerified, WorktreeRemoved,
};

const GOLDEN: &str = "tests/golden/events.jsonl";

/// Text that needs every kind of escape JSON has, and some that need none.
const ODD: &str = "quote \" backslash \\ slash / nl \n tab \t cr \r bs \u{8} ff \u{c} \
                   nul \u{0} unit \u{1f} del \u{7f} é 🐝 \u{2028}";

fn s(text: &str) -> String {
    text.to_string()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

/// Each event type at least twice: every optional field set (with text that needs escapes),
/// and only what is required.
fn samples() -> Vec<EventBody> {
    let observed = WorkerObserved {
        session_id: s("ses_1"),
        bead_id: s("bd-1"),
    };
    let note = WorkerNote {
        session_id: s("ses_1"),
        bead_id: s("bd-1"),
        epic_id: s("ep"),
        reason: s(ODD),
    };
    let unstarted = WorkerNote {
        session_id: String::new(),
        ..note.clone()
    };
    let files = FilesChanged {
        session_id: s("ses_1"),
        bead_id: s("bd-1"),
        paths: vec![s("src/**"), s(ODD)],
    };
    let branch = BranchMark {
        session_id: s("ses_1"),
        bead_id: s("bd-1"),
        branch: s("apiary/bd-1"),
        commit: s("0123abcd"),
    };
    let mark = MessageMark {
        message_id: s("msg_1"),
        recipient: s("coordinator"),
        via: some("prompt"),
    };
    let sent = MessageSent {
        message_id: s("msg_1"),
        from: s("bd-1"),
        from_session: some("ses_1"),
        to: vec![s("coordinator"), s("bd-2")],
        subject: s("a question"),
        body: s(ODD),
        importance: Some(Importance::Urgent),
        thread_id: some("thr_1"),
    };
    let server = ServerNote {
        url: s("http://10.0.0.2:4096"),
        reason: s("connection refused"),
    };
    vec![
        EventBody::WorkerSpawned(WorkerSpawned {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            title: s(ODD),
            files: vec![s("src/a.rs"), s("src/b/**")],
            dependencies: vec![s("bd-0")],
            prompt_hash: "ab".repeat(32),
            directory: some("/repo/.worktrees/bd-1"),
            worktree_path: some("/repo/.worktrees/bd-1"),
            branch: some("apiary/bd-1"),
            config_links: vec![s(".opencode/plugin")],
            agent: some("build"),
            model: some("anthropic/claude"),
            parent_session_id: some("ses_0"),
            parent_directory: some("/repo"),
            description: some(ODD),
            shared_context: some("context"),
            priority: Some(Priority::High),
            server: some("http://10.0.0.2:4096"),
            note: some("worktrees off"),
            verify: None,
        }),
        EventBody::WorkerSpawned(WorkerSpawned::default()),
        EventBody::WorkerStarted(observed.clone()),
        EventBody::WorkerIdle(observed.clone()),
        EventBody::WorkerProgress(WorkerProgress {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            progress_percent: 255,
            message: some(ODD),
            files_touched: vec![s("src/a.rs")],
        }),
        EventBody::WorkerProgress(WorkerProgress {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            progress_percent: 0,
            message: None,
            files_touched: vec![],
        }),
        EventBody::WorkerCompleted(WorkerCompleted {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            status: CompletionStatus::Success,
            summary: s(ODD),
            files_touched: vec![s("src/a.rs"), s("src/b.rs")],
            duration_ms: u64::MAX,
        }),
        EventBody::WorkerCompleted(WorkerCompleted {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            status: CompletionStatus::Blocked,
            summary: String::new(),
            files_touched: vec![],
            duration_ms: 0,
        }),
        EventBody::WorkerFailed(WorkerFailed {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            error: s(ODD),
            stack: some("at line 1"),
            retryable: true,
        }),
        EventBody::WorkerFailed(WorkerFailed {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            error: s("no"),
            stack: None,
            retryable: false,
        }),
        EventBody::WorkerCancelled(note.clone()),
        EventBody::WorkerCancelled(unstarted.clone()),
        EventBody::WorkerQueued(WorkerQueued {
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            title: s(ODD),
            reason: s("stalled"),
            priority: Priority::Low,
            files: vec![s("src/**")],
            dependencies: vec![s("bd-0"), s("bd-00")],
            description: some("do it"),
            shared_context: some(ODD),
            agent: some("build"),
            model: some("openai/gpt"),
            parent_session_id: some("ses_0"),
            parent_directory: some("/repo"),
            verify: None,
        }),
        EventBody::WorkerQueued(WorkerQueued::default()),
        EventBody::WorkerRetried(WorkerRetried {
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            attempt: u32::MAX,
            previous_session_id: s("ses_1"),
            reason: s(ODD),
            not_before: 1_700_000_000_000,
        }),
        EventBody::WorkerRetried(WorkerRetried {
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            attempt: 2,
            previous_session_id: String::new(),
            reason: String::new(),
            not_before: 0,
        }),
        EventBody::MessageSent(sent.clone()),
        EventBody::MessageSent(MessageSent {
            from_session: None,
            to: vec![],
            importance: None,
            thread_id: None,
            ..sent
        }),
        EventBody::FilesReserved(files.clone()),
        EventBody::FilesReleased(FilesChanged {
            paths: vec![],
            ..files
        }),
        EventBody::WorktreeMerged(branch.clone()),
        EventBody::WorktreeRemoved(WorktreeRemoved {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            path: s(ODD),
        }),
        EventBody::WorktreePushed(branch),
        EventBody::WorkerInterrupted(WorkerInterrupted {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            resumed: true,
            message_id: some("msg_9"),
        }),
        EventBody::WorkerInterrupted(WorkerInterrupted {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            resumed: false,
            message_id: None,
        }),
        EventBody::CoordinatorNotified(CoordinatorNotified {
            session_id: s("ses_0"),
            workers: vec![s("ses_1"), s("ses_2")],
            via: s("message"),
        }),
        EventBody::CoordinatorNotified(CoordinatorNotified {
            session_id: s("ses_0"),
            workers: vec![],
            via: s("tool"),
        }),
        EventBody::WorkerBlocked(note.clone()),
        EventBody::WorkerBlocked(unstarted),
        EventBody::WorkerActive(observed),
        EventBody::SessionDeleted(note),
        EventBody::MessageDelivered(mark.clone()),
        EventBody::MessageRead(MessageMark { via: None, ..mark }),
        EventBody::ServerLost(server.clone()),
        EventBody::ServerBack(ServerNote {
            reason: String::new(),
            ..server
        }),
        EventBody::WorkerVerified(WorkerVerified {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            ok: false,
            exit_code: 124,
            timed_out: true,
            duration_ms: 600_000,
            attempt: 2,
        }),
        EventBody::WorkerVerified(WorkerVerified {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            ok: true,
            exit_code: 0,
            timed_out: false,
            duration_ms: 0,
            attempt: 1,
        }),
        EventBody::WorkerQueued(WorkerQueued {
            bead_id: s("bd-2"),
            epic_id: s("ep"),
            title: s("t"),
            verify: some(ODD),
            ..WorkerQueued::default()
        }),
        EventBody::WorkerSpawned(WorkerSpawned {
            session_id: s("ses_2"),
            bead_id: s("bd-2"),
            epic_id: s("ep"),
            title: s("t"),
            prompt_hash: s("00"),
            verify: some("npm test"),
            ..WorkerSpawned::default()
        }),
        EventBody::WorkerUsage(WorkerUsage {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            upto: s("msg_0123456789abcdefghijklmn"),
            replies: 12,
            input: u64::MAX,
            output: 5,
            reasoning: 1,
            cache_read: 40_000,
            cache_write: 7,
            cost_micros: 123_456,
            provider: some(ODD),
            model: some("scripted-model"),
        }),
        EventBody::WorkerUsage(WorkerUsage {
            session_id: s("ses_1"),
            bead_id: s("bd-1"),
            epic_id: s("ep"),
            upto: s("msg_1"),
            replies: 1,
            ..WorkerUsage::default()
        }),
    ]
}

/// The lines of `samples()`, numbered from 1, at timestamps that need every digit.
fn encoded() -> Vec<String> {
    samples()
        .iter()
        .enumerate()
        .map(|(i, body)| event::encode(i as u64 + 1, u64::MAX - i as u64, body))
        .collect()
}

#[test]
fn every_event_type_has_a_sample_with_its_optional_fields_set_and_one_without() {
    let covered: BTreeSet<&str> = samples().iter().map(|b| b.type_name()).collect();
    let all: BTreeSet<&str> = EventBody::TYPE_NAMES.iter().copied().collect();
    assert_eq!(covered, all);
}

#[test]
fn every_event_type_encodes_to_the_golden_bytes_earlier_builds_wrote() {
    let lines = encoded();
    if std::env::var_os("APIARY_BLESS_GOLDEN").is_some() {
        std::fs::write(GOLDEN, lines.join("\n") + "\n").unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    let golden: Vec<&str> = golden.lines().collect();
    assert_eq!(golden.len(), lines.len(), "one golden line per sample");
    for (line, want) in lines.iter().zip(golden) {
        assert_eq!(line, want);
    }
}

#[test]
fn every_golden_line_decodes_to_its_event_and_encodes_back_to_the_same_bytes() {
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    for ((i, line), body) in golden.lines().enumerate().zip(samples()) {
        let event = event::decode(line).unwrap();
        assert_eq!(event.seq, i as u64 + 1);
        assert_eq!(event.timestamp, u64::MAX - i as u64);
        assert_eq!(event.payload, Payload::Known(body.clone()), "{line}");
        assert_eq!(event::encode(event.seq, event.timestamp, &body), line);
    }
}

/// Each line of a log, decoded, encoded again and sealed after the line before it, is the
/// line as it was written.
fn reencodes_exactly(log: &str) {
    let mut prev = String::new();
    for line in log.lines() {
        let event = event::decode(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let Payload::Known(body) = &event.payload else {
            panic!("unknown event in {line}");
        };
        let object = event::encode(event.seq, event.timestamp, body);
        let h = if event.version >= 2 {
            let (sealed, h) = chain::seal(&prev, &object);
            assert_eq!(sealed, line);
            h
        } else {
            // A v1 line carries no `h` and was written with its own version.
            let v1 = object.replacen("\"v\":2,", "\"v\":1,", 1);
            assert_eq!(v1, line);
            chain::verify(&prev, line, false).unwrap()
        };
        prev = h;
    }
}

#[test]
fn a_recorded_run_reads_and_reencodes_to_the_bytes_it_was_written_with() {
    reencodes_exactly(&std::fs::read_to_string("tests/fixtures/recorded-run.jsonl").unwrap());
}

#[test]
fn a_v1_log_without_checksums_still_decodes() {
    reencodes_exactly(&std::fs::read_to_string("fuzz/seeds/v1.jsonl").unwrap());
}

fn decode_body(line: &str) -> Result<EventBody, String> {
    match event::decode(line)?.payload {
        Payload::Known(body) => Ok(body),
        Payload::Unknown { type_name } => Err(format!("unknown type {type_name}")),
    }
}

const HEAD: &str = r#"{"seq":1,"v":2,"timestamp":5,"type":"#;

#[test]
fn a_line_missing_its_optional_fields_decodes_with_their_defaults() {
    let body = decode_body(&format!(
        r#"{HEAD}"worker_queued","bead_id":"b","epic_id":"e","title":"t"}}"#
    ))
    .unwrap();
    assert_eq!(
        body,
        EventBody::WorkerQueued(WorkerQueued {
            bead_id: s("b"),
            epic_id: s("e"),
            title: s("t"),
            ..WorkerQueued::default()
        })
    );
    let body = decode_body(&format!(
        r#"{HEAD}"worker_retried","bead_id":"b","epic_id":"e","attempt":2,"previous_session_id":"s","reason":"r"}}"#
    ))
    .unwrap();
    let EventBody::WorkerRetried(retried) = body else {
        panic!("{body:?}");
    };
    assert_eq!(retried.not_before, 0);
    let body = decode_body(&format!(
        r#"{HEAD}"worker_failed","session_id":"s","bead_id":"b","epic_id":"e","error":"x"}}"#
    ))
    .unwrap();
    let EventBody::WorkerFailed(failed) = body else {
        panic!("{body:?}");
    };
    assert_eq!((failed.stack, failed.retryable), (None, false));
}

#[test]
fn an_optional_field_written_as_null_decodes_as_absent() {
    let body = decode_body(&format!(
        r#"{HEAD}"message_read","message_id":"m","recipient":"r","via":null}}"#
    ))
    .unwrap();
    assert_eq!(
        body,
        EventBody::MessageRead(MessageMark {
            message_id: s("m"),
            recipient: s("r"),
            via: None,
        })
    );
}

#[test]
fn a_line_with_a_field_of_the_wrong_type_is_rejected_naming_the_event_and_the_field() {
    for (fields, field) in [
        (
            r#""worker_spawned","session_id":"s","bead_id":7"#,
            "bead_id",
        ),
        (
            r#""worker_progress","session_id":"s","bead_id":"b","progress_percent":"40""#,
            "progress_percent",
        ),
        (
            r#""worker_progress","session_id":"s","bead_id":"b","progress_percent":256"#,
            "progress_percent",
        ),
        (
            r#""worker_completed","session_id":"s","bead_id":"b","epic_id":"e","status":"done","summary":"","files_touched":[],"duration_ms":1"#,
            "status",
        ),
        (
            r#""worker_completed","session_id":"s","bead_id":"b","epic_id":"e","status":"success","summary":"","files_touched":[1],"duration_ms":1"#,
            "files_touched",
        ),
        (
            r#""worker_completed","session_id":"s","bead_id":"b","epic_id":"e","status":"success","summary":"","files_touched":[],"duration_ms":-1"#,
            "duration_ms",
        ),
        (
            r#""worker_completed","session_id":"s","bead_id":"b","epic_id":"e","status":"success","summary":"","files_touched":[],"duration_ms":1.5"#,
            "duration_ms",
        ),
        (
            r#""worker_interrupted","session_id":"s","bead_id":"b","resumed":"yes""#,
            "resumed",
        ),
        (
            r#""worker_queued","bead_id":"b","epic_id":"e","title":"t","priority":null"#,
            "priority",
        ),
        (
            r#""message_sent","message_id":"m","from":"f","to":"c","subject":"","body":"""#,
            "to",
        ),
        (
            r#""message_sent","message_id":"m","from":"f","to":[],"subject":"","body":"","importance":"loud""#,
            "importance",
        ),
    ] {
        let line = format!("{HEAD}{fields}}}");
        let err = decode_body(&line).unwrap_err();
        let name = fields.split('"').nth(1).unwrap();
        assert!(err.contains(name), "{err} does not name the event: {line}");
        // A list's item is named by its place in it: `files_touched[0]`.
        assert!(
            err.contains(&format!("`{field}`")) || err.contains(&format!("`{field}[")),
            "{err} does not name `{field}`: {line}"
        );
    }
}

#[test]
fn a_line_missing_a_required_field_is_rejected_naming_the_field() {
    let err = decode_body(&format!(r#"{HEAD}"worker_started","session_id":"s"}}"#)).unwrap_err();
    assert!(
        err.contains("worker_started") && err.contains("`bead_id`"),
        "{err}"
    );
}

#[test]
fn fields_a_build_does_not_know_are_passed_over() {
    let body = decode_body(&format!(
        r#"{HEAD}"worker_started","later":{{"a":[1,2.5e3,null,true,"x","\ud800"]}},"session_id":"s","bead_id":"b"}}"#
    ))
    .unwrap();
    assert_eq!(
        body,
        EventBody::WorkerStarted(WorkerObserved {
            session_id: s("s"),
            bead_id: s("b"),
        })
    );
}

#[test]
fn a_field_given_twice_is_rejected() {
    let err = decode_body(&format!(
        r#"{HEAD}"worker_started","session_id":"s","bead_id":"b","bead_id":"c"}}"#
    ))
    .unwrap_err();
    assert!(err.contains("`bead_id`"), "{err}");
}

#[test]
fn lines_that_are_not_json_objects_are_rejected() {
    for line in [
        "",
        "[]",
        r#"{"seq":1,"v":2,"timestamp":5,"type":"worker_started","session_id":"s","bead_id":"b""#,
        r#"{"seq":1,"v":2,"timestamp":5,"type":"worker_started","session_id":"s","bead_id":"b"} x"#,
        r#"{"seq":1,"v":2,"timestamp":5,"type":"worker_started","session_id":"s\q","bead_id":"b"}"#,
        r#"{"seq":01,"v":2,"timestamp":5,"type":"worker_started","session_id":"s","bead_id":"b"}"#,
        "{\"seq\":1,\"v\":2,\"timestamp\":5,\"type\":\"worker_started\",\"session_id\":\"a\u{1}\",\"bead_id\":\"b\"}",
        r#"{"seq":1,"v":2,"timestamp":5,"type":"worker_started","session_id":"\udc00","bead_id":"b"}"#,
    ] {
        assert!(event::decode(line).is_err(), "{line}");
    }
}
