//! The host boundary: everything the core needs from outside, as plain Rust traits.
//!
//! The wasm layer implements them over imported JavaScript functions (the OpenCode SDK client
//! and the plugin's storage); `testing` implements them with in-memory fakes. The futures are
//! not `Send`: on wasm they await JavaScript promises.
#![allow(async_fn_in_trait)]

use std::collections::BTreeMap;
use std::future::Future;

use crate::error::HostError;
use crate::json::{json_fields, Fields, FromJson, Json, JsonError};

/// A toast in the OpenCode TUI (`tui.showToast`); `variant` is info, success, warning or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub title: String,
    pub message: String,
    pub variant: String,
}

/// A request to create a child session for a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    /// The coordinator's session: OpenCode shows the worker as its child.
    pub parent_id: Option<String>,
    pub title: String,
    /// The directory the session works in (a worktree); `None` is the plugin's own. OpenCode
    /// runs a session in the instance of its directory.
    pub directory: Option<String>,
    /// The OpenCode server it runs on (a `servers` option's url); `None` is the plugin's own.
    pub server: Option<String>,
}

/// A prompt to a session, sent without waiting for the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptRequest {
    pub session_id: String,
    /// The session's server (`None`: the plugin's own) and directory.
    pub server: Option<String>,
    pub directory: Option<String>,
    pub text: String,
    /// An OpenCode agent (`build`, or one from `.opencode/agent/`).
    pub agent: Option<String>,
    /// `provider/model`.
    pub model: Option<ModelRef>,
    /// Tools the session is not offered for this turn (a worker's: `WORKER_TOOLS_OFF`).
    pub tools_off: &'static [&'static str],
    /// The text is the plugin's, not the user's (OpenCode marks the part synthetic).
    pub synthetic: bool,
}

/// What a worker's session is never offered: the coordinator's tools (a worker that spawned,
/// merged or cancelled would act on the swarm it is part of) and `question`, whose question
/// nobody would see (it asks its coordinator with `swarm_send` instead).
pub const WORKER_TOOLS_OFF: &[&str] = &[
    "swarm_spawn_async",
    "swarm_await_workers",
    "swarm_cancel",
    "swarm_worktree_merge",
    "swarm_review",
    "swarm_worktree_cleanup",
    "question",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub provider_id: String,
    pub model_id: String,
}

/// What a git command printed, and how it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A session's state in the server's status map. Idle sessions are absent from the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    Busy,
    Idle,
    Retry {
        attempt: u32,
        message: String,
    },
    /// A `type` this build does not know.
    Other,
}

/// A message of a session, in the shape of the SDK's `session.messages` items, reduced to
/// what the core reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub info: MessageInfo,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageInfo {
    /// The message's id (`msg_…`); empty when the server gave none.
    pub id: String,
    pub role: String,
    pub time: MessageTime,
    pub error: Option<MessageError>,
    /// What an assistant reply cost, in millionths of the provider's currency.
    pub cost: Micros,
    pub tokens: Tokens,
    pub provider_id: Option<String>,
    pub model_id: Option<String>,
}

/// The tokens of an assistant reply, as OpenCode counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cache: CacheTokens,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheTokens {
    pub read: u64,
    pub write: u64,
}

/// An amount of money in millionths, read from a JSON number (`0.0123`, `1.5e-3`) without
/// floats (float parsing would add several KB to the wasm module); below a millionth rounds
/// to the nearest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Micros(pub u64);

impl FromJson for Micros {
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        match json {
            Json::Num(text) => scaled(text, 6)
                .map(Micros)
                .ok_or_else(|| JsonError::want("a sum of money from 0", json)),
            _ => Err(JsonError::want("a number", json)),
        }
    }
}

/// `text`, a JSON number, times 10^`scale`, rounded to a whole number; `None` below zero.
fn scaled(text: &str, scale: i32) -> Option<u64> {
    if text.starts_with('-') {
        return None;
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut value: u64 = 0;
    let mut power = scale + exp - frac.len() as i32;
    for d in whole.bytes().chain(frac.bytes()) {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    while power > 0 {
        value = value.saturating_mul(10);
        power -= 1;
    }
    while power < 0 {
        // Rounded at the last digit dropped.
        value = if power == -1 {
            (value + 5) / 10
        } else {
            value / 10
        };
        power += 1;
    }
    Some(value)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageTime {
    pub created: Option<u64>,
    pub completed: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageError {
    pub name: Option<String>,
    pub data: Option<ErrorData>,
}

/// The part of an error's `data` the core reads; other fields are passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorData {
    pub message: Option<String>,
}

impl MessageError {
    /// `ProviderAuthError: invalid key`, or as much of that as the server gave.
    pub fn describe(&self) -> String {
        let name = self.name.as_deref().unwrap_or("error");
        let message = self.data.as_ref().and_then(|d| d.message.as_deref());
        match message {
            Some(m) => format!("{name}: {m}"),
            None => name.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text {
        text: String,
    },
    Tool {
        tool: String,
    },
    /// A `type` this build does not read (`step-start`, `reasoning`, ...).
    Other,
}

impl Message {
    pub fn is_assistant(&self) -> bool {
        self.info.role == "assistant"
    }

    /// The message's text parts joined, for excerpts.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let Part::Text { text } = part {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(text);
            }
        }
        out
    }
}

/// A server event the plugin's `event` hook forwards, reduced to what the core acts on. The
/// shim passes every event's `type` and `properties`; the core ignores the types it does not
/// name here without decoding their properties.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Status {
        session_id: String,
        status: SessionStatus,
    },
    Idle {
        session_id: String,
    },
    Error {
        session_id: String,
        error: Option<MessageError>,
    },
    Deleted {
        session_id: String,
    },
    /// A message or a part of it changed: the session is doing something.
    Activity {
        session_id: String,
    },
}

impl ServerEvent {
    /// Whether the core wants events of this type at all (checked before decoding).
    pub fn wanted(event_type: &str) -> bool {
        matches!(
            event_type,
            "session.status"
                | "session.idle"
                | "session.error"
                | "session.deleted"
                | "message.updated"
                | "message.part.updated"
        )
    }

    /// Decodes the `properties` of a wanted event type, given as JSON text.
    pub fn decode(event_type: &str, properties: &str) -> Result<Option<Self>, String> {
        let json = crate::json::parse(properties)?;
        Ok(Self::read(event_type, &json)?)
    }

    fn read(event_type: &str, properties: &Json) -> Result<Option<Self>, JsonError> {
        /// What names the session in a message event's `info` or `part`.
        #[derive(Default)]
        struct SessionRef {
            session_id: String,
        }
        json_fields!(read SessionRef {
            req session_id = "sessionID",
        });
        /// A message event as the server sends it (`info` or `part` holds the session), or
        /// reduced by the shim to its `sessionID`.
        #[derive(Default)]
        struct WithMessage {
            session_id: Option<String>,
            info: Option<SessionRef>,
            part: Option<SessionRef>,
        }
        json_fields!(read WithMessage {
            opt session_id = "sessionID",
            opt info,
            opt part,
        });
        #[derive(Default)]
        struct Info {
            id: String,
        }
        json_fields!(read Info {
            req id,
        });

        let p = || Fields::of(properties);
        Ok(match event_type {
            "session.status" => Some(Self::Status {
                session_id: p()?.req("sessionID")?,
                status: p()?.req("status")?,
            }),
            "session.idle" => Some(Self::Idle {
                session_id: p()?.req("sessionID")?,
            }),
            "session.error" => {
                let session_id: Option<String> = p()?.opt("sessionID")?;
                let error = p()?.opt("error")?;
                session_id.map(|session_id| Self::Error { session_id, error })
            }
            "session.deleted" => Some(Self::Deleted {
                session_id: p()?.req::<Info>("info")?.id,
            }),
            // Only a hint of activity: a shape this build does not expect is passed over.
            "message.updated" | "message.part.updated" => {
                let p = Option::<WithMessage>::from_json(properties).ok().flatten();
                p.and_then(|p| {
                    p.session_id
                        .or(p.info.map(|i| i.session_id))
                        .or(p.part.map(|i| i.session_id))
                })
                .map(|session_id| Self::Activity { session_id })
            }
            _ => None,
        })
    }
}

// How the host's answers are read, in the SDK's shapes; fields the core does not read are
// passed over.
json_fields!(read GitOutput {
    req code,
    opt stdout,
    opt stderr,
});
json_fields!(read Message {
    req info,
    opt parts,
});
json_fields!(read MessageInfo {
    opt id,
    req role,
    opt time,
    opt error,
    opt cost,
    opt tokens,
    opt provider_id = "providerID",
    opt model_id = "modelID",
});
json_fields!(read Tokens {
    opt input,
    opt output,
    opt reasoning,
    opt cache,
});
json_fields!(read CacheTokens {
    opt read,
    opt write,
});
json_fields!(read MessageTime {
    opt created,
    opt completed,
});
json_fields!(read MessageError {
    opt name,
    opt data,
});
json_fields!(read ErrorData {
    opt message,
});
json_fields!(read AgentInfo {
    req name,
    opt mode,
});

/// An object's fields, and its `type`: the field that says which variant it is.
fn tagged<'j, 'a>(json: &'j Json<'a>) -> Result<(Fields<'j, 'a>, String), JsonError> {
    let f = Fields::of(json)?;
    let tag = f.req("type")?;
    Ok((f, tag))
}

impl FromJson for SessionStatus {
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        let (f, tag) = tagged(json)?;
        Ok(match tag.as_str() {
            "busy" => Self::Busy,
            "idle" => Self::Idle,
            "retry" => Self::Retry {
                attempt: f.opt("attempt")?,
                message: f.opt("message")?,
            },
            _ => Self::Other,
        })
    }
}

impl FromJson for Part {
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        let (f, tag) = tagged(json)?;
        Ok(match tag.as_str() {
            "text" => Self::Text {
                text: f.opt("text")?,
            },
            "tool" => Self::Tool {
                tool: f.opt("tool")?,
            },
            _ => Self::Other,
        })
    }
}

/// OpenCode sessions, through the SDK client the plugin was given or, for a session on another
/// server (`server`: a `servers` option's url), through a client for that server. `directory`
/// names the OpenCode instance a session belongs to (`None`: the plugin's own).
pub trait Sessions {
    /// Creates a session and returns its id.
    async fn create_session(&self, request: &CreateSession) -> Result<String, HostError>;
    /// Deletes a session (and its children).
    async fn delete_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<(), HostError>;
    /// Sends a prompt without waiting for the model (`prompt_async`).
    async fn prompt_async(&self, request: &PromptRequest) -> Result<(), HostError>;
    /// The status map of a directory's instance. Idle sessions are absent.
    async fn status_map(
        &self,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<BTreeMap<String, SessionStatus>, HostError>;
    /// The last `limit` messages of a session, oldest first.
    async fn messages(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, HostError>;
    /// The names of the agents the server knows.
    async fn agents(&self) -> Result<Vec<String>, HostError>;
    /// Shows a toast in the TUI.
    async fn show_toast(&self, toast: &Toast) -> Result<(), HostError>;
    /// Stops a session's running turn (`session.abort`).
    async fn abort_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<(), HostError>;
    /// Readies the server's OpenCode instance for `directory` for a first prompt, with no
    /// model call: starts it and has it load what a first prompt would (its providers, its
    /// file search, its first snapshot of the tree), which costs a new directory a second or
    /// more (a minute in a repository of 20,000 files) and a used one a tenth of that.
    async fn warm_instance(&self, server: Option<&str>, directory: &str) -> Result<(), HostError>;
    /// Lets the server forget its OpenCode instance for `directory` (`instance.dispose`): the
    /// directory is gone, and the instance held its memory (about 90 MB) until the server
    /// stopped.
    async fn dispose_instance(
        &self,
        server: Option<&str>,
        directory: &str,
    ) -> Result<(), HostError>;
    /// Asks another server (a `servers` option's url) a cheap question; `Ok` when it answered
    /// within `timeout_ms`. The core counts the failures and decides what they mean.
    async fn probe_server(&self, server: &str, timeout_ms: u64) -> Result<(), HostError>;
}

/// An agent of an OpenCode server, as `app.agents` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    pub name: String,
    /// `primary`, `subagent` or `all`.
    pub mode: String,
}

/// The repository the workers' worktrees live in.
pub trait Workspace {
    /// Runs `git` with `args` in `cwd`. A non-zero exit is an `Ok` output; only a git that
    /// could not run at all is an error.
    async fn git(&self, cwd: &str, args: &[&str]) -> Result<GitOutput, HostError>;
    /// Runs a POSIX `sh` script in `cwd` on this machine and returns what it printed (stdout
    /// and stderr together). The script reports its own success: a shell that ran it is an
    /// `Ok`, whatever its exit; only a shell that could not start is an error.
    async fn shell(&self, cwd: &str, script: &str) -> Result<String, HostError>;
    /// Runs a POSIX `sh` script in `directory` on another OpenCode server (a `servers`
    /// option's url), through that server's shell command, and returns what it printed
    /// (stdout and stderr together). The script reports its own success: a server that ran it
    /// is an `Ok`, whatever the script printed.
    async fn remote_shell(
        &self,
        server: &str,
        directory: &str,
        script: &str,
        agent: &str,
    ) -> Result<String, HostError>;
    /// The agents of another server's instance for `directory` (`app.agents`): each one's
    /// name, and whether it is a primary agent (one a shell command may run under).
    async fn remote_agents(
        &self,
        server: &str,
        directory: &str,
    ) -> Result<Vec<AgentInfo>, HostError>;
    /// The machine's load and free memory, which hold the queue back above the thresholds.
    async fn machine(&self) -> Result<crate::schedule::Machine, HostError>;
}

/// The byte store behind the event log: one append-only file, or memory.
pub trait Storage {
    /// Takes the exclusive write lock (shared by every writer of the same log, in every
    /// process).
    async fn lock(&self) -> Result<(), HostError>;
    async fn unlock(&self) -> Result<(), HostError>;
    /// Bytes from `offset`: at least `max` of them unless the log ends sooner (a store may
    /// give more, up to the end). Readers go through a long log in such pieces, so that it is
    /// never held whole in memory.
    async fn read_from(&self, offset: u64, max: u64) -> Result<Vec<u8>, HostError>;
    /// Appends bytes, with the lock held. Not yet durable: see `sync`.
    async fn write(&self, bytes: &[u8]) -> Result<(), HostError>;
    /// Returns once everything written before the call is durable. Called after the lock is
    /// released, so that concurrent writers can share one flush (group commit).
    async fn sync(&self) -> Result<(), HostError>;
    /// Cuts the store to `len` bytes; only called with the lock held, to drop a torn last line.
    async fn truncate(&self, len: u64) -> Result<(), HostError>;
    /// The snapshot saved beside the log, if any. A snapshot is only a cache of the log.
    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, HostError>;
    /// Replaces the snapshot atomically (a reader sees the old one or the new one).
    async fn save_snapshot(&self, bytes: &[u8]) -> Result<(), HostError>;
}

pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// What lets the core wait for something to happen instead of looping.
pub trait Waits {
    /// Resolves when the log may have changed since the call: an append by any instance in
    /// this process, or (where the host can tell) by another process. It is created at once,
    /// so a change between the call and the first poll is not missed.
    type Changed: Future<Output = ()>;
    fn log_changed(&self) -> Self::Changed;
    /// Resolves after `ms` milliseconds.
    async fn sleep(&self, ms: u64);
    /// Resolves after `ms` milliseconds, without keeping the process alive for it: the timer of
    /// a background duty, which must never hold a process open by itself.
    async fn idle_sleep(&self, ms: u64) {
        self.sleep(ms).await
    }
}

/// Where the core tells what went wrong in a background duty, which has no caller to return
/// its error to (the plugin writes it to the server's log).
pub trait Diagnostics {
    fn warn(&self, message: &str);
}

/// Everything the core needs, in one bound.
pub trait Host: Sessions + Storage + Clock + Waits + Workspace + Diagnostics {}
impl<T: Sessions + Storage + Clock + Waits + Workspace + Diagnostics> Host for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn read<T: FromJson>(text: &str) -> Result<T, String> {
        Ok(T::from_json(&parse(text)?)?)
    }

    #[test]
    fn a_status_map_in_the_servers_shape_is_read() {
        let map: BTreeMap<String, SessionStatus> = read(
            r#"{"a":{"type":"busy"},"b":{"type":"retry","attempt":2,"message":"429","next":5},"c":{"type":"sleepy"}}"#,
        )
        .unwrap();
        assert_eq!(map["a"], SessionStatus::Busy);
        assert_eq!(
            map["b"],
            SessionStatus::Retry {
                attempt: 2,
                message: "429".into()
            }
        );
        assert_eq!(map["c"], SessionStatus::Other);
    }

    fn decode(t: &str, json: &str) -> Option<ServerEvent> {
        ServerEvent::decode(t, json).unwrap()
    }

    #[test]
    fn server_events_in_the_sdks_shape_are_decoded() {
        assert_eq!(
            decode(
                "session.status",
                r#"{"sessionID":"s","status":{"type":"busy"}}"#
            ),
            Some(ServerEvent::Status {
                session_id: "s".into(),
                status: SessionStatus::Busy
            })
        );
        assert_eq!(
            decode("session.idle", r#"{"sessionID":"s"}"#),
            Some(ServerEvent::Idle {
                session_id: "s".into()
            })
        );
        assert_eq!(
            decode("session.deleted", r#"{"info":{"id":"s","title":"t"}}"#),
            Some(ServerEvent::Deleted {
                session_id: "s".into()
            })
        );
        let Some(ServerEvent::Error { error, .. }) = decode(
            "session.error",
            r#"{"sessionID":"s","error":{"name":"APIError","data":{"message":"boom"}}}"#,
        ) else {
            panic!("not an error event");
        };
        assert_eq!(error.unwrap().describe(), "APIError: boom");
        assert_eq!(decode("session.error", r#"{"error":null}"#), None);
        assert!(!ServerEvent::wanted("file.edited"));
        let active = Some(ServerEvent::Activity {
            session_id: "s".into(),
        });
        assert_eq!(
            decode(
                "message.part.updated",
                r#"{"part":{"sessionID":"s","type":"text","text":"hi"}}"#
            ),
            active
        );
        assert_eq!(
            decode(
                "message.updated",
                r#"{"info":{"sessionID":"s","role":"assistant"}}"#
            ),
            active
        );
        assert_eq!(decode("message.updated", r#"{"sessionID":"s"}"#), active);
        assert_eq!(decode("message.part.updated", "null"), None);
        assert_eq!(decode("message.part.updated", r#"{"part":7}"#), None);
    }

    #[test]
    fn messages_in_the_sdks_shape_are_read_with_their_text_and_error() {
        let msgs: Vec<Message> = read(
            r#"[{"info":{"role":"assistant","id":"m","time":{"created":1,"completed":2},
                 "error":{"name":"APIError","data":{"message":"quota"}}},
                 "parts":[{"type":"step-start"},{"type":"text","text":"hello"},{"type":"tool","tool":"bash","state":{}},{"type":"text","text":"world"}]}]"#,
        )
        .unwrap();
        assert!(msgs[0].is_assistant());
        assert_eq!(msgs[0].text(), "hello world");
        assert_eq!(msgs[0].info.time.completed, Some(2));
        assert_eq!(
            msgs[0].info.error.as_ref().unwrap().describe(),
            "APIError: quota"
        );
    }

    #[test]
    fn a_status_or_part_without_a_type_or_with_a_field_of_the_wrong_type_is_refused() {
        let status = read::<BTreeMap<String, SessionStatus>>;
        assert_eq!(
            status(r#"{"a":{"attempt":2}}"#).unwrap_err(),
            "`a.type`: missing"
        );
        assert_eq!(
            status(r#"{"a":{"type":"retry","attempt":"2"}}"#).unwrap_err(),
            r#"`a.attempt`: expected a whole number from 0 to 4294967295, got "2""#
        );
        assert_eq!(
            status(r#"{"a":{"type":"retry"},"b":{"type":"idle","attempt":"x"}}"#).unwrap()["a"],
            SessionStatus::Retry {
                attempt: 0,
                message: String::new()
            }
        );
        assert_eq!(
            read::<Vec<Part>>(
                r#"[{"type":"text"},{"type":"tool","tool":"bash"},{"type":"file","text":1}]"#
            ),
            Ok(vec![
                Part::Text {
                    text: String::new()
                },
                Part::Tool {
                    tool: "bash".into()
                },
                Part::Other
            ])
        );
        assert_eq!(
            read::<Vec<Part>>(r#"[{"type":"text","text":["a"]}]"#).unwrap_err(),
            "`[0].text`: expected a string, got a list"
        );
    }

    #[test]
    fn a_replys_cost_is_read_in_millionths_without_floats_and_its_tokens_by_name() {
        let money = |text: &str| read::<Micros>(text).map(|m| m.0);
        let read_all = [
            "0",
            "12",
            "0.0123",
            "1.5e-3",
            "2.5E+2",
            "1e-7",
            "5e-7",
            "0.1234565",
        ];
        assert_eq!(
            read_all.map(money),
            [0, 12_000_000, 12_300, 1_500, 250_000_000, 0, 1, 123_457].map(Ok)
        );
        assert_eq!(
            money("-0.5").unwrap_err(),
            "expected a sum of money from 0, got -0.5"
        );
        let msgs: Vec<Message> = read(
            r#"[{"info":{"id":"msg_2","role":"assistant","cost":0.0021,"providerID":"p",
                "modelID":"m","tokens":{"input":10,"output":5,"reasoning":1,
                "cache":{"read":3,"write":0}}}}]"#,
        )
        .unwrap();
        let info = &msgs[0].info;
        assert_eq!(info.cost, Micros(2_100));
        assert_eq!(
            (info.tokens.input, info.tokens.output, info.tokens.reasoning),
            (10, 5, 1)
        );
        assert_eq!(info.tokens.cache.read, 3);
        assert_eq!(
            (info.provider_id.as_deref(), info.model_id.as_deref()),
            (Some("p"), Some("m"))
        );
    }

    #[test]
    fn a_message_needs_its_role_and_reads_the_rest_as_absent_when_missing() {
        let msgs: Vec<Message> = read(r#"[{"info":{"role":"user","error":null}}]"#).unwrap();
        assert_eq!(
            msgs[0],
            Message {
                info: MessageInfo {
                    id: String::new(),
                    role: "user".into(),
                    time: MessageTime::default(),
                    error: None,
                    cost: Micros(0),
                    tokens: Tokens::default(),
                    provider_id: None,
                    model_id: None,
                },
                parts: vec![],
            }
        );
        assert_eq!(
            read::<Vec<Message>>(r#"[{"info":{"id":"m"},"parts":[]}]"#).unwrap_err(),
            "`[0].info.role`: missing"
        );
        assert_eq!(
            read::<Vec<Message>>(r#"[{"info":{"role":"user","time":{"created":-1}}}]"#)
                .unwrap_err(),
            "`[0].info.time.created`: expected a whole number from 0 to 18446744073709551615, got -1"
        );
    }

    #[test]
    fn gits_agents_and_the_machines_answers_are_read_with_their_defaults() {
        assert_eq!(
            read::<GitOutput>(r#"{"code":-1,"stderr":"no git"}"#),
            Ok(GitOutput {
                code: -1,
                stdout: String::new(),
                stderr: "no git".into()
            })
        );
        assert_eq!(
            read::<GitOutput>(r#"{"code":1.5}"#).unwrap_err(),
            "`code`: expected a whole number from -2147483648 to 2147483647, got 1.5"
        );
        assert_eq!(
            read::<Vec<AgentInfo>>(r#"[{"name":"build","mode":"primary"},{"name":"x"}]"#),
            Ok(vec![
                AgentInfo {
                    name: "build".into(),
                    mode: "primary".into()
                },
                AgentInfo {
                    name: "x".into(),
                    mode: String::new()
                }
            ])
        );
        assert_eq!(
            read::<crate::schedule::Machine>(r#"{"load_percent":10}"#).unwrap_err(),
            "`free_memory_mb`: missing"
        );
    }

    #[test]
    fn a_wanted_event_without_its_session_is_refused_naming_the_field() {
        assert_eq!(
            ServerEvent::decode("session.idle", r#"{"session":"s"}"#),
            Err("`sessionID`: missing".into())
        );
        assert_eq!(
            ServerEvent::decode("session.status", r#"{"sessionID":"s","status":"busy"}"#),
            Err(r#"`status`: expected an object, got "busy""#.into())
        );
        assert_eq!(
            ServerEvent::decode("session.deleted", r#"{"info":{}}"#),
            Err("`info.id`: missing".into())
        );
        assert_eq!(
            ServerEvent::decode("session.idle", "{"),
            Err("expected a field name at byte 1".into())
        );
    }
}
