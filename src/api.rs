//! The tools' arguments and replies: the types the TypeScript shim passes in and gets back.
//!
//! On wasm they also derive `Tsify`, which writes their TypeScript declarations; natively they
//! are plain serde types, so the core does not depend on tsify.
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::event::CompletionStatus;

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
}

/// The plugin's options (`opencode.json`: `"plugin": [["opencode-apiary", { ... }]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Each worker gets its own git worktree and branch (when the directory is a repository
    /// with a commit).
    pub worktrees: bool,
    /// Workers whose turn a server restart cut off are prompted to continue.
    pub resume_interrupted: bool,
    /// An idle coordinator gets one short message when its workers finish.
    pub wake_coordinator: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            worktrees: true,
            resume_interrupted: true,
            wake_coordinator: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct MergeArgs {
    pub bead_id: String,
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
    /// A new worker session was created and prompted.
    Spawned,
    /// The bead already had a running worker; it is returned instead of a duplicate.
    AlreadyRunning,
}

/// What a tool returns to OpenCode: `title` and `output` go to the model as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct SpawnReply {
    pub title: String,
    pub output: String,
    pub status: SpawnStatus,
    pub session_id: String,
    pub bead_id: String,
    pub epic_id: String,
    pub prompt_hash: String,
    /// The worker's own checkout and branch, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
