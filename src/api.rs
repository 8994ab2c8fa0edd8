//! The tools' arguments and replies: the types the TypeScript shim passes in and gets back.
//!
//! They are read and written with the core's own JSON codec (`json_fields!` in `codec`): serde's
//! derived decoders, a state machine per type, were the largest part of the `.wasm`. The serde
//! derives stay for `Tsify`, which writes their TypeScript declarations from the serde
//! attributes on wasm, and for tests; the `.wasm` never calls them, so it does not contain
//! them. `codec`'s tests check that both read and write alike, so the declarations stay true.
use serde::{Deserialize, Serialize};

mod codec;

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use std::collections::BTreeMap;

use crate::event::{CompletionStatus, Importance, Priority};

/// Who called a tool: the session, and the directory it works in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct CallContext {
    pub session_id: String,
    pub directory: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct SpawnArgs {
    pub bead_id: String,
    pub epic_id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub files: Vec<String>,
    #[serde(default)]
    pub dependencies: Option<Vec<String>>,
    #[serde(default)]
    pub shared_context: Option<String>,
    /// An OpenCode agent for the worker (`build`, or one from `.opencode/agent/`).
    #[serde(default)]
    pub agent: Option<String>,
    /// `provider/model` for the worker; the agent's or the server's default otherwise.
    #[serde(default)]
    pub model: Option<String>,
    /// Rank in the queue when the worker cannot start at once; `normal` by default.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// A shell command the worker's success must pass (`npm test`), for this bead and the
    /// epic's later spawns; the epic's last one, else the `verify` option, otherwise.
    #[serde(default)]
    pub verify: Option<String>,
}

/// The plugin's options: `.opencode/apiary.json`, overridden key by key by the plugin's entry
/// in opencode.json (`"plugin": [["opencode-apiary", { ... }]]`). Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Each worker gets its own git worktree and branch (when the directory is a repository
    /// with a commit).
    pub worktrees: bool,
    /// Worktrees kept ready for the next starts, each with its OpenCode instance started and
    /// warmed up (about 90 MB each): a start then takes one instead of making its own. Never
    /// more than `max_running`; 0 turns the pool off.
    pub worktree_pool: u32,
    /// Workers whose turn a server restart cut off are prompted to continue.
    pub resume_interrupted: bool,
    /// An idle coordinator gets one short message when its workers finish.
    pub wake_coordinator: bool,
    /// Workers running at once in this repository; more wait in the queue.
    pub max_running: u32,
    /// Workers running at once per `provider/model` or per `provider`; workers spawned
    /// without a model count under `default`.
    pub max_running_per_model: BTreeMap<String, u32>,
    /// Spawns beyond this many queued are refused.
    pub max_queued: u32,
    /// No worker starts while the 1-minute load average is above this percentage of the CPUs
    /// (150: 1.5 runnable tasks per CPU; off when null).
    pub max_load_percent: Option<u32>,
    /// No worker starts while less memory than this is available (MB; 0 is off).
    pub min_free_memory_mb: u64,
    /// Waiting this long raises a queued worker one priority level.
    pub priority_aging_ms: u64,
    /// Attempts per bead, the first included, for failures that are not the worker's own.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one, up to `max_retry_backoff_ms`.
    pub retry_backoff_ms: u64,
    pub max_retry_backoff_ms: u64,
    /// A running worker with no activity for this long is stalled (0 is off).
    pub stall_after_ms: u64,
    /// What happens to a stalled worker: `retry` (abort, then retry while attempts remain) or
    /// `fail` (abort and fail it).
    pub on_stall: StallPolicy,
    /// Aborting or deleting a coordinator session cancels its running and queued workers.
    pub cancel_with_coordinator: bool,
    /// Sessions of finished workers are deleted this long after they finish (0 keeps them).
    pub session_retention_ms: u64,
    /// At most this many finished workers' sessions are kept; the oldest go first (0: no cap).
    pub max_sessions_kept: u32,
    /// A merged worker's worktree and branch are removed right after the merge.
    pub remove_merged_worktrees: bool,
    /// A spawn whose files overlap a running worker's: `queue` (wait for them), `refuse`, or
    /// `allow` (reservations advisory: overlapping workers run together).
    pub on_file_conflict: FileConflict,
    /// A running worker's reservation lapses after this long without activity (0: never).
    pub reservation_ttl_ms: u64,
    /// A worker's edit, write and patch tool calls on files it does not own are stopped.
    pub enforce_files: bool,
    /// OpenCode servers to place workers on, each with its own limit; empty: the plugin's own
    /// server. The plugin passes them without their passwords.
    pub servers: Vec<ServerOption>,
    /// A toast in the TUI when a worker completes, fails or is blocked.
    pub toasts: bool,
    /// A shell command run in the worker's directory when it reports success (`npm test`);
    /// a failure refuses the completion. None by default.
    pub verify: Option<String>,
    /// The verify command is killed after this long.
    pub verify_timeout_ms: u64,
    /// Failed verify rounds after which the worker is recorded failed.
    pub verify_attempts: u32,
}

/// An OpenCode server workers may be placed on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(deny_unknown_fields)]
pub struct ServerOption {
    /// Its address, as a client reaches it (`http://10.0.0.5:4096`); also its name in the log.
    pub url: String,
    /// Workers on it at once.
    pub max_workers: u32,
    /// The repository's clone on that server's machine, where its workers run; by default the
    /// coordinator's directory (a server on the same machine).
    #[serde(default)]
    pub directory: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "snake_case")]
pub enum FileConflict {
    Queue,
    Refuse,
    Allow,
}

impl FileConflict {
    pub const ALL: [Self; 3] = [Self::Queue, Self::Refuse, Self::Allow];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::Refuse => "refuse",
            Self::Allow => "allow",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "snake_case")]
pub enum StallPolicy {
    Retry,
    Fail,
}

impl StallPolicy {
    pub const ALL: [Self; 2] = [Self::Retry, Self::Fail];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Fail => "fail",
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            worktrees: true,
            worktree_pool: 2,
            resume_interrupted: true,
            wake_coordinator: true,
            max_running: 8,
            max_running_per_model: BTreeMap::new(),
            max_queued: 64,
            max_load_percent: None,
            min_free_memory_mb: 256,
            priority_aging_ms: 120_000,
            max_attempts: 3,
            retry_backoff_ms: 10_000,
            max_retry_backoff_ms: 300_000,
            stall_after_ms: 900_000,
            on_stall: StallPolicy::Retry,
            cancel_with_coordinator: true,
            session_retention_ms: 86_400_000,
            max_sessions_kept: 100,
            remove_merged_worktrees: true,
            on_file_conflict: FileConflict::Queue,
            reservation_ttl_ms: 3_600_000,
            enforce_files: true,
            toasts: true,
            servers: Vec::new(),
            verify: None,
            verify_timeout_ms: 600_000,
            verify_attempts: 3,
        }
    }
}

/// The bounds of `verify_timeout_ms`: a second to a day.
pub const VERIFY_TIMEOUT_MS: (u64, u64) = (1_000, 86_400_000);

impl Options {
    /// Refuses settings that would stall the swarm or make no sense, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if self.max_running == 0 {
            return Err("max_running must be at least 1".into());
        }
        if let Some((k, _)) = self.max_running_per_model.iter().find(|(_, v)| **v == 0) {
            return Err(format!("max_running_per_model.{k} must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1 (1 means no retries)".into());
        }
        if self.verify_attempts == 0 {
            return Err("verify_attempts must be at least 1".into());
        }
        let (min, max) = VERIFY_TIMEOUT_MS;
        if !(min..=max).contains(&self.verify_timeout_ms) {
            return Err(format!("verify_timeout_ms must be from {min} to {max}"));
        }
        if self.max_load_percent == Some(0) {
            return Err("max_load_percent must be at least 1 (null turns it off)".into());
        }
        if self.priority_aging_ms == 0 {
            return Err("priority_aging_ms must be at least 1".into());
        }
        for (i, s) in self.servers.iter().enumerate() {
            if s.url.trim().is_empty() {
                return Err(format!("servers[{i}].url must not be empty"));
            }
            let host = s
                .url
                .strip_prefix("http://")
                .or(s.url.strip_prefix("https://"));
            if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
                return Err(format!(
                    "servers[{i}].url must be an http(s) address, e.g. http://10.0.0.5:4096"
                ));
            }
            if s.max_workers == 0 {
                return Err(format!(
                    "servers[{i}].max_workers must be at least 1 ({})",
                    s.url
                ));
            }
            if self.servers[..i].iter().any(|o| o.url == s.url) {
                return Err(format!("servers[{i}].url repeats {}", s.url));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct MergeArgs {
    pub bead_id: String,
    /// Merge a worker that did not succeed (failed, blocked, needs_review, ...) all the same.
    #[serde(default)]
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct ReviewArgs {
    pub bead_id: String,
}

/// The reply of the review tool: the report, and what it found, whole, for the shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct ReviewReply {
    pub title: String,
    pub output: String,
    /// Files the worker changed against its base.
    pub files: Vec<String>,
    /// Those of them outside the worker's reserved `files`.
    pub outside: Vec<String>,
    /// Files a merge into the coordinator's HEAD would conflict on.
    pub conflicts: Vec<String>,
    /// Files the merge would bring that the coordinator's tree has uncommitted changes to.
    pub blocked: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct CleanupArgs {
    /// Only this epic's workers; all epics when absent.
    #[serde(default)]
    pub epic_id: Option<String>,
    /// Also remove worktrees whose work was never merged (failed or abandoned workers).
    #[serde(default)]
    pub include_unmerged: Option<bool>,
}

/// The reply of the merge tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct MergeReply {
    pub title: String,
    pub output: String,
    pub merged: bool,
    /// Files in conflict, when the merge was refused for them.
    pub conflicts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "snake_case")]
pub enum SpawnStatus {
    /// Recorded; the scheduler starts it now, behind the call (its worktree, session and
    /// first prompt are prepared in the background).
    Starting,
    /// The bead already had a running worker; it is returned instead of a duplicate.
    AlreadyRunning,
    /// The worker waits in the queue and starts by itself (limit, dependencies, load).
    Queued,
    /// The bead was already waiting in the queue; nothing was added.
    AlreadyQueued,
}

impl SpawnStatus {
    pub const ALL: [Self; 4] = [
        Self::Starting,
        Self::AlreadyRunning,
        Self::Queued,
        Self::AlreadyQueued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::AlreadyRunning => "already_running",
            Self::Queued => "queued",
            Self::AlreadyQueued => "already_queued",
        }
    }
}

/// What a tool returns to OpenCode: `title` and `output` go to the model as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct SpawnReply {
    pub title: String,
    pub output: String,
    pub status: SpawnStatus,
    /// Empty until the worker's session exists (it is made behind the call).
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    pub prompt_hash: String,
    /// The worker's own checkout and branch, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 1-based place in the queue, when queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct CancelArgs {
    /// One bead; or give `epic_id` for every running and queued worker of an epic.
    #[serde(default)]
    pub bead_id: Option<String>,
    #[serde(default)]
    pub epic_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct SendArgs {
    /// `coordinator` and/or bead ids.
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub importance: Option<Importance>,
    #[serde(default)]
    pub thread_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct InboxArgs {
    #[serde(default)]
    pub unread_only: Option<bool>,
    #[serde(default)]
    pub thread_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct AckArgs {
    pub message_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct LogArgs {
    #[serde(default)]
    pub epic_id: Option<String>,
    #[serde(default)]
    pub bead_id: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    /// Event types (`worker_failed`, ...); all when absent.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// The last this many matching events; default 30, at most 200.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct StatusArgs {
    /// Only this epic's queue; the whole swarm when absent.
    #[serde(default)]
    pub epic_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct PollArgs {
    pub epic_id: String,
    #[serde(default)]
    pub include_messages: Option<bool>,
}

/// One worker as a poll shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct WorkerView {
    pub bead_id: String,
    pub session_id: String,
    pub title: String,
    /// starting, running, retrying, needs_review, success, failed or blocked.
    pub state: String,
    pub attempt: u32,
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<u8>,
    /// What the worker reported: its summary, its last progress message, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_touched: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    /// The verify gate's word: `verified`, or `verify failed 2/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    /// What its replies spent, once counted: `41k tok $0.12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct PollReport {
    pub title: String,
    pub output: String,
    pub epic_id: String,
    pub total: u32,
    pub completed: Vec<WorkerView>,
    pub in_progress: Vec<WorkerView>,
    pub failed: Vec<WorkerView>,
    pub pending: Vec<WorkerView>,
    /// `2 completed, 1 in progress, 0 failed, 0 pending`
    pub summary: String,
    /// The server's status map could not be read: states come from the log alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// `swarm_await_workers` only: how the wait ended, and how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AwaitOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
    /// What the epic's workers spent, every attempt counted: `120k tok $0.36`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "snake_case")]
pub enum AwaitOutcome {
    /// No worker of the epic is running any more.
    Done,
    /// The timeout passed first; some workers still run.
    TimedOut,
    /// The coordinator was interrupted; the workers go on in the background.
    Interrupted,
}

impl AwaitOutcome {
    pub const ALL: [Self; 3] = [Self::Done, Self::TimedOut, Self::Interrupted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::TimedOut => "timed_out",
            Self::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct AwaitArgs {
    pub epic_id: String,
    /// Default 10 minutes.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// How often to look even when nothing signals a change; default 5 s.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    #[serde(default)]
    pub include_messages: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct ProgressArgs {
    pub bead_id: String,
    pub progress_percent: u8,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub files_touched: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct CompleteArgs {
    pub bead_id: String,
    pub summary: String,
    #[serde(default)]
    pub files_touched: Vec<String>,
    #[serde(default)]
    pub status: Option<CompletionStatus>,
}

/// The reply of the worker-side tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Reply {
    pub title: String,
    pub output: String,
}
