//! How the tools' arguments and the options are read and their replies written: each type's
//! fields once, as its serde attributes say (the tests hold the two together, and the views'
//! types, declared beside them, too).
use super::*;
use crate::json::{json_fields, json_names};

// How the arguments and the options are read, field by field as their serde attributes say:
// `#[serde(default)]` is `opt`, a required field `req`, and `deny_unknown_fields` is `strict`;
// the options' `#[serde(default, deny_unknown_fields)]` is `defaults`.
json_names!(FileConflict, StallPolicy);
json_fields!(CallContext {
    req session_id,
    req directory,
});
json_fields!(SpawnArgs {
    req bead_id,
    req epic_id,
    req title,
    opt description,
    req files,
    opt dependencies,
    opt shared_context,
    opt agent,
    opt model,
    opt priority,
    opt verify,
});
json_fields!(defaults Options {
    worktrees,
    worktree_pool,
    resume_interrupted,
    wake_coordinator,
    max_running,
    max_running_per_model,
    max_queued,
    max_load_percent,
    min_free_memory_mb,
    priority_aging_ms,
    max_attempts,
    retry_backoff_ms,
    max_retry_backoff_ms,
    stall_after_ms,
    on_stall,
    cancel_with_coordinator,
    session_retention_ms,
    max_sessions_kept,
    remove_merged_worktrees,
    on_file_conflict,
    reservation_ttl_ms,
    enforce_files,
    servers,
    toasts,
    verify,
    verify_timeout_ms,
    verify_attempts,
});
json_fields!(strict ServerOption {
    req url,
    req max_workers,
    opt directory,
});
json_fields!(MergeArgs {
    req bead_id,
    opt force,
});
json_fields!(ReviewArgs {
    req bead_id,
});
json_fields!(CleanupArgs {
    opt epic_id,
    opt include_unmerged,
});
json_fields!(CancelArgs {
    opt bead_id,
    opt epic_id,
    opt reason,
});
json_fields!(SendArgs {
    req to,
    req subject,
    req body,
    opt importance,
    opt thread_id,
});
json_fields!(InboxArgs {
    opt unread_only,
    opt thread_id,
});
json_fields!(AckArgs {
    req message_ids,
});
json_fields!(LogArgs {
    opt epic_id,
    opt bead_id,
    opt session_id,
    opt types,
    opt limit,
});
json_fields!(StatusArgs {
    opt epic_id,
});
json_fields!(PollArgs {
    req epic_id,
    opt include_messages,
});
json_fields!(AwaitArgs {
    req epic_id,
    opt timeout_ms,
    opt poll_interval_ms,
    opt include_messages,
});
json_fields!(ProgressArgs {
    req bead_id,
    req progress_percent,
    opt message,
    opt files_touched,
});
json_fields!(CompleteArgs {
    req bead_id,
    req summary,
    opt files_touched,
    opt status,
});

// How the replies are written, as serde_json wrote them: a field with
// `skip_serializing_if` is `opt`, the others always written.
json_names!(SpawnStatus, AwaitOutcome);
json_fields!(write SpawnReply {
    req title,
    req output,
    req status,
    req session_id,
    req bead_id,
    req epic_id,
    req prompt_hash,
    opt worktree,
    opt branch,
    opt queue_position,
});
json_fields!(write WorkerView {
    req bead_id,
    req session_id,
    req title,
    req state,
    req attempt,
    req elapsed_ms,
    opt progress_percent,
    opt note,
    opt files_touched,
    opt last_message,
    opt verify,
    opt spent,
});
json_fields!(write PollReport {
    req title,
    req output,
    req epic_id,
    req total,
    req completed,
    req in_progress,
    req failed,
    req pending,
    req summary,
    opt warning,
    opt outcome,
    opt waited_ms,
    opt spent,
});
json_fields!(write MergeReply {
    req title,
    req output,
    req merged,
    req conflicts,
    opt commit,
});
json_fields!(write ReviewReply {
    req title,
    req output,
    req files,
    req outside,
    req conflicts,
    req blocked,
});
json_fields!(write Reply {
    req title,
    req output,
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, FromJson};
    use crate::view::{EventFilter, Until};
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};
    use std::fmt::Debug;

    /// Values of every JSON kind, some of them right for some fields.
    fn kinds() -> Vec<Value> {
        vec![
            json!(null),
            json!(true),
            json!(0),
            json!(7),
            json!(300),
            json!(-1),
            json!(1.5),
            json!(1.0),
            json!(""),
            json!("x"),
            json!("high"),
            json!("fail"),
            json!([]),
            json!(["x"]),
            json!([{"url": "http://a", "max_workers": 1}]),
            json!({}),
            json!({"a": 1}),
        ]
    }

    /// `value` with each of its objects (itself, and those inside it) changed in every way
    /// one change can: a field dropped, set to a value of each kind, given twice; a field
    /// added; the object replaced by another kind of value.
    fn variants(value: &Value) -> Vec<String> {
        let mut out = vec![value.to_string()];
        match value {
            Value::Object(fields) => {
                let text =
                    |f: &serde_json::Map<String, Value>| Value::Object(f.clone()).to_string();
                for name in fields.keys() {
                    let mut without = fields.clone();
                    without.remove(name);
                    out.push(text(&without));
                    for kind in kinds() {
                        let mut changed = fields.clone();
                        changed.insert(name.clone(), kind);
                        out.push(text(&changed));
                    }
                    for inner in variants(&fields[name]).into_iter().skip(1) {
                        let mut changed = fields.clone();
                        changed.insert(name.clone(), serde_json::from_str(&inner).unwrap());
                        out.push(text(&changed));
                    }
                    // Given twice: serde_json's map keeps one, so the text is spliced.
                    let whole = text(fields);
                    let first = format!("{}:{}", json!(name), fields[name]);
                    out.push(whole.replacen('{', &format!("{{{first},"), 1));
                }
                out.push(text(&serde_json::Map::new()));
                let mut more = fields.clone();
                more.insert("unheard_of".into(), json!(1));
                out.push(text(&more));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    for inner in variants(item).into_iter().skip(1) {
                        let mut changed = items.clone();
                        changed[i] = serde_json::from_str(&inner).unwrap();
                        out.push(Value::Array(changed).to_string());
                    }
                }
            }
            _ => {}
        }
        out.extend(kinds().iter().map(Value::to_string));
        out
    }

    /// The codec reads every variant of `full` as serde's derive does (what the TypeScript
    /// declarations say): the same value, or a refusal.
    fn reads_as_serde<T: DeserializeOwned + FromJson + PartialEq + Debug>(full: Value) {
        let texts = variants(&full);
        assert!(texts.len() > 20);
        let mut read = 0;
        for text in texts {
            let ours = T::from_json(&parse(&text).unwrap());
            let serde = serde_json::from_str::<T>(&text);
            match (&ours, &serde) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(_), Err(_)) => {}
                // serde's derive also reads a struct from a list of its fields in order; no
                // caller sends one, and the codec reads objects only.
                (Err(e), Ok(_)) if e.to_string().ends_with("expected an object, got a list") => {}
                _ => panic!("{text}: codec {ours:?}, serde {serde:?}"),
            }
            read += usize::from(ours.is_ok());
        }
        assert!(read > 1, "some variants must be read");
    }

    #[test]
    fn the_tools_arguments_are_read_as_their_serde_attributes_say() {
        reads_as_serde::<CallContext>(json!({"session_id": "s", "directory": "/r"}));
        reads_as_serde::<SpawnArgs>(json!({
            "bead_id": "b", "epic_id": "e", "title": "t", "description": "d", "files": ["f"],
            "dependencies": ["a"], "shared_context": "c", "agent": "build", "model": "p/m",
            "priority": "high", "verify": "true",
        }));
        reads_as_serde::<MergeArgs>(json!({"bead_id": "b", "force": true}));
        reads_as_serde::<ReviewArgs>(json!({"bead_id": "b"}));
        reads_as_serde::<CleanupArgs>(json!({"epic_id": "e", "include_unmerged": false}));
        reads_as_serde::<CancelArgs>(json!({"bead_id": "b", "epic_id": "e", "reason": "r"}));
        reads_as_serde::<SendArgs>(json!({
            "to": ["coordinator"], "subject": "s", "body": "b", "importance": "urgent",
            "thread_id": "t",
        }));
        reads_as_serde::<InboxArgs>(json!({"unread_only": true, "thread_id": "t"}));
        reads_as_serde::<AckArgs>(json!({"message_ids": ["m"]}));
        reads_as_serde::<LogArgs>(json!({
            "epic_id": "e", "bead_id": "b", "session_id": "s", "types": ["worker_failed"],
            "limit": 7,
        }));
        reads_as_serde::<StatusArgs>(json!({"epic_id": "e"}));
        reads_as_serde::<PollArgs>(json!({"epic_id": "e", "include_messages": true}));
        reads_as_serde::<AwaitArgs>(json!({
            "epic_id": "e", "timeout_ms": 7, "poll_interval_ms": 300, "include_messages": true,
        }));
        reads_as_serde::<ProgressArgs>(json!({
            "bead_id": "b", "progress_percent": 7, "message": "m", "files_touched": ["f"],
        }));
        reads_as_serde::<CompleteArgs>(json!({
            "bead_id": "b", "summary": "s", "files_touched": ["f"], "status": "blocked",
        }));
    }

    #[test]
    fn the_options_and_the_views_arguments_are_read_as_their_serde_attributes_say() {
        let mut options = serde_json::to_value(Options::default()).unwrap();
        options["max_running_per_model"] = json!({"p/m": 2});
        options["servers"] = json!([{"url": "http://a", "max_workers": 2, "directory": "/d"}]);
        options["verify"] = json!("npm test");
        options["max_load_percent"] = json!(150);
        reads_as_serde::<Options>(options);
        reads_as_serde::<Until>(json!({"seq": 3, "time": 5}));
        reads_as_serde::<EventFilter>(json!({
            "epic_id": "e", "bead_id": "b", "session_id": "s", "types": ["worker_failed"],
            "after_seq": 3, "limit": 7,
        }));
    }

    fn refusal<T: FromJson + Debug>(text: &str) -> String {
        let e = T::from_json(&parse(text).unwrap()).unwrap_err();
        e.naming("invalid argument", "invalid arguments")
    }

    #[test]
    fn a_refused_argument_is_named_with_what_it_must_be() {
        for (text, message) in [
            (
                r#"{"bead_id":5,"epic_id":"e","title":"t","files":[]}"#,
                "invalid argument `bead_id`: expected a string, got 5",
            ),
            (
                r#"{"bead_id":"b","epic_id":"e","files":[]}"#,
                "invalid argument `title`: missing",
            ),
            (
                r#"{"bead_id":"b","epic_id":"e","title":"t","files":["a",null]}"#,
                "invalid argument `files[1]`: expected a string, got null",
            ),
            (
                r#"{"bead_id":"b","epic_id":"e","title":"t","files":[],"priority":"urgent"}"#,
                r#"invalid argument `priority`: expected one of `high`, `normal`, `low`, got "urgent""#,
            ),
            ("null", "invalid arguments: expected an object, got null"),
        ] {
            assert_eq!(refusal::<SpawnArgs>(text), message);
        }
        assert_eq!(
            refusal::<ProgressArgs>(r#"{"bead_id":"b","progress_percent":300}"#),
            "invalid argument `progress_percent`: expected a whole number from 0 to 255, got 300"
        );
    }

    #[test]
    fn an_unknown_or_misspelt_option_is_refused_with_the_known_ones() {
        let e = refusal::<Options>(r#"{"max_runing":2}"#);
        assert!(
            e.starts_with("invalid arguments: unknown field `max_runing`, expected one of `worktrees`, `worktree_pool`,"),
            "{e}"
        );
        assert_eq!(
            refusal::<Options>(r#"{"servers":[{"url":"http://a","max_workers":1,"dir":"/d"}]}"#),
            "invalid argument `servers[0]`: unknown field `dir`, expected one of `url`, `max_workers`, `directory`"
        );
        assert_eq!(
            refusal::<Options>(r#"{"on_stall":"explode"}"#),
            r#"invalid argument `on_stall`: expected one of `retry`, `fail`, got "explode""#
        );
    }

    #[test]
    fn an_absent_option_keeps_its_default_and_a_given_one_replaces_it() {
        let read = |text: &str| Options::from_json(&parse(text).unwrap()).unwrap();
        assert_eq!(read("{}"), Options::default());
        let options = read(r#"{"worktrees":false,"max_load_percent":null,"verify":"make"}"#);
        assert!(!options.worktrees);
        assert_eq!(options.verify.as_deref(), Some("make"));
        assert_eq!(
            Options {
                worktrees: true,
                verify: None,
                ..options
            },
            Options::default()
        );
    }

    /// The codec writes `value` byte for byte as serde_json wrote it (what the TypeScript
    /// declarations say, and what the shim has always been given).
    fn writes_as_serde<T: serde::Serialize + crate::json::ToJson>(value: &T) {
        let mut ours = String::new();
        value.write(&mut ours);
        assert_eq!(ours, serde_json::to_string(value).unwrap());
    }

    /// A text with what JSON must escape.
    fn odd(s: &str) -> String {
        format!("{s} \"q\" \\ \n\u{1} é 🐝")
    }

    fn worker_view(full: bool) -> WorkerView {
        WorkerView {
            bead_id: odd("b"),
            session_id: "s".into(),
            title: "t".into(),
            state: "running".into(),
            attempt: 2,
            elapsed_ms: u64::MAX,
            progress_percent: full.then_some(40),
            note: full.then(|| odd("n")),
            files_touched: if full {
                vec!["a".into(), odd("b")]
            } else {
                vec![]
            },
            last_message: full.then(|| "m".into()),
            verify: full.then(|| "verified".into()),
            spent: full.then(|| "41k tok $0.12".into()),
        }
    }

    #[test]
    fn the_tools_replies_are_written_as_serde_wrote_them() {
        for full in [false, true] {
            let some = |s: &str| full.then(|| s.to_string());
            for status in SpawnStatus::ALL {
                writes_as_serde(&SpawnReply {
                    title: odd("t"),
                    output: odd("o"),
                    status,
                    session_id: "s".into(),
                    bead_id: "b".into(),
                    epic_id: "e".into(),
                    prompt_hash: "h".into(),
                    worktree: some("/w"),
                    branch: some("apiary/b"),
                    queue_position: full.then_some(3),
                });
            }
            for outcome in AwaitOutcome::ALL.map(Some).into_iter().chain([None]) {
                writes_as_serde(&PollReport {
                    title: "t".into(),
                    output: odd("o"),
                    epic_id: "e".into(),
                    total: 4,
                    completed: vec![worker_view(full)],
                    in_progress: vec![worker_view(!full), worker_view(full)],
                    failed: vec![],
                    pending: vec![worker_view(true)],
                    summary: "s".into(),
                    warning: some("w"),
                    outcome,
                    waited_ms: full.then_some(0),
                    spent: some("120k tok $0.36"),
                });
            }
            writes_as_serde(&MergeReply {
                title: "t".into(),
                output: "o".into(),
                merged: full,
                conflicts: if full { vec!["a".into()] } else { vec![] },
                commit: some("c0ffee"),
            });
            writes_as_serde(&ReviewReply {
                title: "t".into(),
                output: "o".into(),
                files: vec!["a".into(), "b".into()],
                outside: vec![],
                conflicts: if full { vec!["a".into()] } else { vec![] },
                blocked: vec![odd("c")],
            });
            writes_as_serde(&Reply {
                title: odd("t"),
                output: String::new(),
            });
        }
    }

    #[test]
    fn the_views_are_written_as_serde_wrote_them() {
        use crate::view::*;
        for full in [false, true] {
            let some = |s: &str| full.then(|| s.to_string());
            let health = Health {
                events: 9,
                bytes: 1 << 40,
                partial_bytes: 0,
                damage: full.then(|| Damage {
                    line: 3,
                    offset: 77,
                    reason: odd("r"),
                }),
                stopped: full,
                first_at: full.then_some(1),
                last_at: full.then_some(2),
            };
            writes_as_serde(&health);
            let worker = WorkerRow {
                bead_id: "b".into(),
                epic_id: "e".into(),
                attempt: 1,
                session_id: "s".into(),
                directory: some("/d"),
                title: odd("t"),
                agent: "build".into(),
                model: some("p/m"),
                state: "success".into(),
                spawned_at: 5,
                ended_at: full.then_some(6),
                duration_ms: 1,
                progress_percent: full.then_some(100),
                message: some("m"),
                branch: some("apiary/b"),
                merged: full,
                server: some("http://a"),
            };
            let queued = QueueRow {
                bead_id: "q".into(),
                epic_id: "e".into(),
                title: "t".into(),
                priority: "high".into(),
                state: "waiting".into(),
                position: full.then_some(1),
                reason: odd("r"),
                queued_at: 4,
                attempt: 2,
                not_before: full.then_some(9),
                dependencies: if full { vec!["b".into()] } else { vec![] },
            };
            writes_as_serde(&Overview {
                now: 10,
                health,
                running: 1,
                waiting: 2,
                blocked: 0,
                epics: vec![EpicView {
                    epic_id: "e".into(),
                    first_at: 1,
                    last_at: 2,
                    beads: 2,
                    running: 1,
                    succeeded: 0,
                    failed: 0,
                    waiting: 1,
                    to_merge: vec!["b".into()],
                    workers: vec![worker],
                    queue: vec![queued],
                }],
            });
            let group = Group {
                attempts: 3,
                success_percent: full.then_some(67),
                p50_ms: full.then_some(5),
                p95_ms: full.then_some(6),
                max_ms: full.then_some(7),
                span_ms: 8,
                tokens: 41_000,
                cost_micros: 120_000,
                ..Group::default()
            };
            writes_as_serde(&Stats {
                overall: group.clone(),
                epics: vec![Named {
                    name: odd("e"),
                    group: group.clone(),
                }],
                agents: vec![],
                models: vec![Named {
                    name: "p/m".into(),
                    group: group.clone(),
                }],
            });
            writes_as_serde(&EventPage {
                total: 2,
                events: vec![Entry {
                    seq: 1,
                    at: 2,
                    type_name: "worker_spawned".into(),
                    bead_id: some("b"),
                    epic_id: some("e"),
                    session_id: None,
                    detail: odd("d"),
                }],
            });
        }
    }
}
