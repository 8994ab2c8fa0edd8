//! The events of the log and their one-line JSON encoding.
//!
//! A line is an envelope (`seq`, schema version `v`, `timestamp`) flattened together with the
//! event's `type` and fields, so the file stays readable with `grep` and `jq`; the integrity
//! chain adds `h` as the last field (see `chain`). Adding an event type is its struct, its fields
//! in `json_fields!`, one line in `event_types!` below, and its arm in the projection.
use serde::{Deserialize, Serialize};

use crate::json::{self, json_fields, json_names, Fields, Json, ObjWriter};

/// The schema version this build writes. v1 lines (no `h`) are read as they are: their events
/// have the same fields, and the chain runs through them unchecked.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSpawned {
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    pub title: String,
    pub files: Vec<String>,
    pub dependencies: Vec<String>,
    pub prompt_hash: String,
    /// The directory the worker's session runs in: its worktree, or the coordinator's own
    /// directory when there is none.
    pub directory: Option<String>,
    pub worktree_path: Option<String>,
    pub branch: Option<String>,
    /// Links made in the worktree so OpenCode loads the same plugins there; never committed.
    pub config_links: Vec<String>,
    /// The agent and model the worker was started with, when the coordinator chose them.
    pub agent: Option<String>,
    pub model: Option<String>,
    /// The coordinator's session, so a later cancel or cleanup can find its workers.
    pub parent_session_id: Option<String>,
    /// The coordinator's directory, which selects its OpenCode instance.
    pub parent_directory: Option<String>,
    /// What the prompt was made from besides the fields above, so a retry can make it again.
    pub description: Option<String>,
    pub shared_context: Option<String>,
    pub priority: Option<Priority>,
    /// The OpenCode server it runs on (a `servers` option's url); absent: the coordinator's.
    pub server: Option<String>,
    /// Why the worker shares a directory rather than having its own worktree (worktrees on).
    pub note: Option<String>,
    /// The command its success must pass (`verify`), when the spawn or its epic named one.
    pub verify: Option<String>,
}

/// How soon a queued worker starts: higher first; waiting raises a worker's rank (aging).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    /// Every priority, as the spawn tool's schema lists them.
    pub const ALL: [Self; 3] = [Self::High, Self::Normal, Self::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }

    /// Rank levels: one level is worth `priority_aging_ms` of waiting.
    pub fn level(self) -> u64 {
        match self {
            Self::Low => 0,
            Self::Normal => 1,
            Self::High => 2,
        }
    }
}

/// A worker's session was seen busy for the first time: from now on, absent from the
/// server's status map means its turn ended, not that it has yet to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerObserved {
    pub session_id: String,
    pub bead_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerProgress {
    pub session_id: String,
    pub bead_id: String,
    pub progress_percent: u8,
    pub message: Option<String>,
    pub files_touched: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum CompletionStatus {
    #[default]
    Success,
    Failed,
    Blocked,
}

impl CompletionStatus {
    pub const ALL: [Self; 3] = [Self::Success, Self::Failed, Self::Blocked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerCompleted {
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    pub status: CompletionStatus,
    pub summary: String,
    pub files_touched: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerFailed {
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    pub error: String,
    pub stack: Option<String>,
    /// The failure came from outside the worker's own judgement (a provider error, a stall, a
    /// refused prompt): the retry policy may start the bead again.
    pub retryable: bool,
}

/// Something that happened to a bead, and why: `worker_cancelled` (stopped on purpose, by
/// `swarm_cancel` or with its coordinator), `worker_blocked` (a bead that had not started will
/// not start by itself: a dependency failed, was cancelled or is blocked in turn) and
/// `session_deleted` (a finished worker's session was deleted by the retention policy; its
/// record stays). A bead that never started has no session: `session_id` is empty. One shape
/// for the three keeps the `.wasm` smaller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerNote {
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    pub reason: String,
}

pub type WorkerCancelled = WorkerNote;

/// A spawn waits in the queue (concurrency limit, dependencies, load) before its session
/// exists. It carries the whole request, so the worker can start later, in any instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerQueued {
    pub bead_id: String,
    pub epic_id: String,
    pub title: String,
    /// For a retry, why the attempt before ended; empty for a spawn.
    pub reason: String,
    pub priority: Priority,
    pub files: Vec<String>,
    pub dependencies: Vec<String>,
    pub description: Option<String>,
    pub shared_context: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub parent_session_id: Option<String>,
    pub parent_directory: Option<String>,
    /// The command its success must pass, when the spawn or its epic named one.
    pub verify: Option<String>,
}

/// A failed worker's bead goes back to the queue for a new attempt, in a new session, not
/// before `not_before` (the backoff).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerRetried {
    pub bead_id: String,
    pub epic_id: String,
    /// The attempt about to start (2 for the first retry).
    pub attempt: u32,
    pub previous_session_id: String,
    pub reason: String,
    pub not_before: u64,
}

/// A round of the verify command a worker's `swarm_complete` with success runs: passed
/// (`ok`), or failed with its exit status (124 and `timed_out` when it was killed at the
/// timeout). `attempt` counts the rounds of this worker, from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerVerified {
    pub session_id: String,
    pub bead_id: String,
    pub ok: bool,
    pub exit_code: u32,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub attempt: u32,
}

/// What a worker's replies spent, as OpenCode recorded them on its assistant messages: those
/// after the one the last `worker_usage` of this worker counted up to, through `upto`. Counted
/// when its turn ends (or before its session is deleted); the projection counts a reply once.
/// `cost` is in millionths of the provider's currency, as OpenCode reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerUsage {
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    /// The id of the last reply counted (OpenCode's message ids ascend).
    pub upto: String,
    pub replies: u32,
    pub input: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub cost_micros: u64,
    pub provider: Option<String>,
    pub model: Option<String>,
}

impl WorkerUsage {
    /// Every token its replies read or wrote, cache included, as OpenCode totals them.
    pub fn tokens(&self) -> u64 {
        self.input + self.output + self.reasoning + self.cache_read + self.cache_write
    }
}

/// A message between agents (`coordinator` or bead ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSent {
    pub message_id: String,
    /// `coordinator`, or the sending worker's bead.
    pub from: String,
    /// The sending session: which coordinator, when several share the log.
    pub from_session: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub importance: Option<Importance>,
    pub thread_id: Option<String>,
}

/// How much a message matters: `high` and `urgent` to the coordinator wake it (and say the
/// sender is blocked); `urgent` to a worker reaches it as a prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Importance {
    pub const ALL: [Self; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }
}

/// A message reached one recipient (`message_delivered`: as a prompt, or shown by its inbox),
/// or the recipient acknowledged it (`message_read`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMark {
    pub message_id: String,
    pub recipient: String,
    pub via: Option<String>,
}

/// Paths (or globs) a worker owns, or gives back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesChanged {
    pub session_id: String,
    pub bead_id: String,
    pub paths: Vec<String>,
}

/// A worker's branch at a commit: merged into the coordinator's branch (`worktree_merged`,
/// `commit` is the coordinator's after the merge), or, for a worker on another server, pushed
/// to the shared remote `origin` where `swarm_worktree_merge` fetches it (`worktree_pushed`,
/// `commit` is the one pushed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchMark {
    pub session_id: String,
    pub bead_id: String,
    pub branch: String,
    pub commit: String,
}

/// A worker's worktree (and, when merged, its branch) was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorktreeRemoved {
    pub session_id: String,
    pub bead_id: String,
    pub path: String,
}

/// A worker's turn was cut off (the server restarted mid-turn) and nothing resumed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerInterrupted {
    pub session_id: String,
    pub bead_id: String,
    /// Whether the worker's session was prompted to continue.
    pub resumed: bool,
    /// The reply that was cut off: one cut-off reply is one interruption, however many times
    /// it is seen before the resumed turn replaces it.
    pub message_id: Option<String>,
}

/// The coordinator was told, in one message, that these workers finished.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoordinatorNotified {
    pub session_id: String,
    /// `session_id` of each worker reported (a bead's later attempt is a new worker).
    pub workers: Vec<String>,
    /// `message` (a prompt to the idle coordinator) or `tool` (a poll or await showed them).
    pub via: String,
}

/// An OpenCode server of the `servers` option stopped answering (`server_lost`), or answers
/// again (`server_back`): no worker is placed on it meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerNote {
    pub url: String,
    pub reason: String,
}

// The fields of each event body, in the order its lines spell them.
json_fields!(WorkerSpawned {
    req session_id,
    req bead_id,
    req epic_id,
    req title,
    req files,
    opt dependencies,
    req prompt_hash,
    opt directory,
    opt worktree_path,
    opt branch,
    opt config_links,
    opt agent,
    opt model,
    opt parent_session_id,
    opt parent_directory,
    opt description,
    opt shared_context,
    opt priority,
    opt server,
    opt note,
    opt verify,
});
json_fields!(WorkerObserved {
    req session_id,
    req bead_id,
});
json_fields!(WorkerProgress {
    req session_id,
    req bead_id,
    req progress_percent,
    opt message,
    opt files_touched,
});
json_fields!(WorkerCompleted {
    req session_id,
    req bead_id,
    req epic_id,
    req status,
    req summary,
    req files_touched,
    req duration_ms,
});
json_fields!(WorkerFailed {
    req session_id,
    req bead_id,
    req epic_id,
    req error,
    opt stack,
    opt retryable,
});
json_fields!(WorkerNote {
    opt session_id,
    req bead_id,
    req epic_id,
    req reason,
});
json_fields!(WorkerQueued {
    req bead_id,
    req epic_id,
    req title,
    opt reason,
    def priority,
    opt files,
    opt dependencies,
    opt description,
    opt shared_context,
    opt agent,
    opt model,
    opt parent_session_id,
    opt parent_directory,
    opt verify,
});
json_fields!(WorkerUsage {
    req session_id,
    req bead_id,
    req epic_id,
    req upto,
    req replies,
    opt input,
    opt output,
    opt reasoning,
    opt cache_read,
    opt cache_write,
    opt cost_micros,
    opt provider,
    opt model,
});
json_fields!(WorkerVerified {
    req session_id,
    req bead_id,
    req ok,
    req exit_code,
    opt timed_out,
    req duration_ms,
    req attempt,
});
json_fields!(WorkerRetried {
    req bead_id,
    req epic_id,
    req attempt,
    req previous_session_id,
    req reason,
    def not_before,
});
json_fields!(MessageSent {
    req message_id,
    req from,
    opt from_session,
    req to,
    req subject,
    req body,
    opt importance,
    opt thread_id,
});
json_fields!(MessageMark {
    req message_id,
    req recipient,
    opt via,
});
json_fields!(FilesChanged {
    req session_id,
    req bead_id,
    req paths,
});
json_fields!(BranchMark {
    req session_id,
    req bead_id,
    req branch,
    req commit,
});
json_fields!(WorktreeRemoved {
    req session_id,
    req bead_id,
    req path,
});
json_fields!(WorkerInterrupted {
    req session_id,
    req bead_id,
    req resumed,
    opt message_id,
});
json_fields!(CoordinatorNotified {
    req session_id,
    req workers,
    req via,
});
json_fields!(ServerNote {
    req url,
    opt reason,
});

// The enums of the log are their `as_str` names.
json_names!(Priority, Importance, CompletionStatus);

/// Declares every event type once: the enum, its `type` names, its encoder and its decoder.
macro_rules! event_types {
    ($($variant:ident($body:ty) = $name:literal,)+) => {
        /// Every event type this build knows.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum EventBody {
            $($variant($body),)+
        }

        impl EventBody {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            /// Every `type` name this build knows.
            pub const TYPE_NAMES: &'static [&'static str] = &[$($name,)+];

            fn write_fields(&self, o: &mut ObjWriter) {
                match self {
                    $(Self::$variant(body) => json::JsonFields::write_fields(body, o),)+
                }
            }

            /// Decodes the fields of an event of type `name`; `None` for a type this build
            /// does not know.
            fn decode_body(name: &str, fields: &Fields) -> Option<Result<Self, json::JsonError>> {
                match name {
                    $($name => Some(
                        <$body as json::JsonFields>::read_fields(fields).map(Self::$variant),
                    ),)+
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    WorkerSpawned(WorkerSpawned) = "worker_spawned",
    WorkerStarted(WorkerObserved) = "worker_started",
    WorkerIdle(WorkerObserved) = "worker_idle",
    WorkerProgress(WorkerProgress) = "worker_progress",
    WorkerCompleted(WorkerCompleted) = "worker_completed",
    WorkerFailed(WorkerFailed) = "worker_failed",
    WorkerCancelled(WorkerCancelled) = "worker_cancelled",
    WorkerQueued(WorkerQueued) = "worker_queued",
    WorkerRetried(WorkerRetried) = "worker_retried",
    MessageSent(MessageSent) = "message_sent",
    FilesReserved(FilesChanged) = "files_reserved",
    FilesReleased(FilesChanged) = "files_released",
    WorktreeMerged(BranchMark) = "worktree_merged",
    WorktreeRemoved(WorktreeRemoved) = "worktree_removed",
    WorktreePushed(BranchMark) = "worktree_pushed",
    WorkerInterrupted(WorkerInterrupted) = "worker_interrupted",
    CoordinatorNotified(CoordinatorNotified) = "coordinator_notified",
    WorkerBlocked(WorkerNote) = "worker_blocked",
    // A worker showed activity (its session streamed a reply or ran a tool); recorded at most
    // once per interval per worker, for stall detection.
    WorkerActive(WorkerObserved) = "worker_active",
    SessionDeleted(WorkerNote) = "session_deleted",
    MessageDelivered(MessageMark) = "message_delivered",
    MessageRead(MessageMark) = "message_read",
    ServerLost(ServerNote) = "server_lost",
    ServerBack(ServerNote) = "server_back",
    WorkerVerified(WorkerVerified) = "worker_verified",
    WorkerUsage(WorkerUsage) = "worker_usage",
}

/// An event's payload as read back: a known event, or one this build does not know (written
/// by a newer version), which is kept in the log and passed over by the projections.
// Events live briefly (decoded, applied, dropped); boxing the large variant would cost an
// allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Known(EventBody),
    Unknown { type_name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub version: u32,
    pub timestamp: u64,
    pub payload: Payload,
}

/// Encodes one event as a JSON line, without the trailing newline: the envelope, then the
/// event's `type` and fields.
pub fn encode(seq: u64, timestamp: u64, body: &EventBody) -> String {
    let mut out = String::with_capacity(256);
    let mut o = ObjWriter::new(&mut out);
    o.field("seq", &seq);
    o.field("v", &SCHEMA_VERSION);
    o.field("timestamp", &timestamp);
    o.field("type", &body.type_name());
    body.write_fields(&mut o);
    o.end();
    out
}

/// The envelope of a line, its `type`, and the object its event's fields are read from.
fn envelope<'j, 'a>(
    json: &'j Json<'a>,
) -> Result<(u64, u32, u64, &'j str, Fields<'j, 'a>), json::JsonError> {
    let f = Fields::of(json)?;
    let type_name = match f.get("type")? {
        Some(Json::Str(name)) => name,
        Some(other) => return Err(json::JsonError::want("a string", other).in_field("type")),
        None => return Err(json::JsonError::new("missing").in_field("type")),
    };
    Ok((
        f.req("seq")?,
        f.req("v")?,
        f.req("timestamp")?,
        type_name,
        f,
    ))
}

/// Decodes one line. An unknown `type` is not an error; a line that is not an event is. The
/// line is parsed once; the envelope and the event's fields are read from the same object, and
/// fields this build does not know are passed over (a newer build may add some).
pub fn decode(line: &str) -> Result<Event, String> {
    let json = json::parse(line).map_err(|e| format!("not an event envelope: {e}"))?;
    let (seq, version, timestamp, type_name, fields) =
        envelope(&json).map_err(|e| format!("not an event envelope: {e}"))?;
    let payload = match EventBody::decode_body(type_name, &fields) {
        Some(known) => {
            Payload::Known(known.map_err(|e| format!("malformed {type_name} event: {e}"))?)
        }
        None => Payload::Unknown {
            type_name: type_name.to_string(),
        },
    };
    Ok(Event {
        seq,
        version,
        timestamp,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawned() -> EventBody {
        EventBody::WorkerSpawned(WorkerSpawned {
            session_id: "ses_1".into(),
            bead_id: "bd-1".into(),
            epic_id: "ep".into(),
            title: "Add login".into(),
            files: vec!["src/auth/**".into()],
            dependencies: vec![],
            prompt_hash: "ab".repeat(32),
            parent_session_id: Some("ses_0".into()),
            ..WorkerSpawned::default()
        })
    }

    #[test]
    fn an_encoded_event_decodes_to_the_same_event() {
        let line = encode(7, 1_700_000_000_000, &spawned());
        let event = decode(&line).unwrap();
        assert_eq!(event.seq, 7);
        assert_eq!(event.version, SCHEMA_VERSION);
        assert_eq!(event.timestamp, 1_700_000_000_000);
        assert_eq!(event.payload, Payload::Known(spawned()));
    }

    #[test]
    fn a_line_starts_with_the_envelope_and_names_its_type() {
        let line = encode(1, 5, &spawned());
        assert!(
            line.starts_with(r#"{"seq":1,"v":2,"timestamp":5,"type":"worker_spawned","#),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn an_unknown_event_type_is_kept_not_fatal() {
        let event =
            decode(r#"{"seq":3,"v":9,"timestamp":1,"type":"worker_teleported","x":1}"#).unwrap();
        assert_eq!(
            event.payload,
            Payload::Unknown {
                type_name: "worker_teleported".into()
            }
        );
    }

    #[test]
    fn a_known_type_with_missing_fields_is_an_error_that_names_the_type() {
        let err = decode(r#"{"seq":3,"v":1,"timestamp":1,"type":"worker_spawned"}"#).unwrap_err();
        assert!(err.starts_with("malformed worker_spawned event"), "{err}");
    }

    #[test]
    fn lines_without_an_envelope_are_errors() {
        assert!(decode("garbage").is_err());
        assert!(decode(r#"{"v":1,"timestamp":1,"type":"worker_idle"}"#).is_err());
        assert!(decode(r#"{"seq":1,"v":1,"timestamp":1}"#).is_err());
    }

    #[test]
    fn every_type_name_is_listed_once_and_decoded_as_its_own_type() {
        for (i, name) in EventBody::TYPE_NAMES.iter().enumerate() {
            assert!(!EventBody::TYPE_NAMES[..i].contains(name), "{name} twice");
            let line = format!(r#"{{"seq":1,"v":1,"timestamp":1,"type":"{name}"}}"#);
            // A known type: fields it lacks are an error naming it, never an unknown event.
            match decode(&line) {
                Err(e) => assert!(e.contains(name), "{name}: {e}"),
                Ok(event) => match event.payload {
                    Payload::Known(body) => assert_eq!(body.type_name(), *name),
                    other => panic!("{name} decoded as {other:?}"),
                },
            }
        }
    }

    #[test]
    fn a_spawn_and_the_two_observations_encode_with_their_type_name_and_decode_back() {
        let obs = WorkerObserved {
            session_id: "s".into(),
            bead_id: "b".into(),
        };
        for body in [
            spawned(),
            EventBody::WorkerStarted(obs.clone()),
            EventBody::WorkerIdle(obs),
        ] {
            let line = encode(1, 1, &body);
            assert!(line.contains(&format!("\"type\":\"{}\"", body.type_name())));
            assert_eq!(decode(&line).unwrap().payload, Payload::Known(body));
        }
    }
}
