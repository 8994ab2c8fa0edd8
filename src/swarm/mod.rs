//! `Apiary`: the tools' logic over a host. Each tool is a file of its own.
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::api::Options;
use crate::error::ToolError;
use crate::host::Host;
use crate::log::EventLog;

mod args;
mod cancel;
mod compaction;
mod duties;
mod gate;
mod guard;
mod history;
mod mail;
mod notify;
mod observe;
mod poll;
mod queue;
mod race;
mod remote;
mod report;
mod resume;
mod retention;
mod review;
mod servers;
mod spawn;
mod starter;
mod status;
mod toast;
mod usage;
mod verify;
mod wait;
mod worker;
mod worktree;

/// Limits on what a coordinator may pass: generous for real work, small enough to keep the
/// prompt and the log sane.
pub(crate) mod limits {
    pub const TITLE: usize = 200;
    pub const DESCRIPTION: usize = 32 * 1024;
    pub const SHARED_CONTEXT: usize = 32 * 1024;
    pub const SUMMARY: usize = 8 * 1024;
    pub const FILES: usize = 200;
    pub const DEPENDENCIES: usize = 100;
    pub const AGENT: usize = 64;
    pub const MODEL: usize = 128;
    /// `swarm_spawn_async`'s verify command.
    pub const VERIFY: usize = 4096;
    /// `swarm_await_workers`: its longest wait (24 h), and its safety net's bounds.
    pub const AWAIT_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;
    pub const POLL_INTERVAL_MS: (u64, u64) = (50, 10 * 60 * 1000);
    /// `swarm_log`: the most events one call shows.
    pub const LOG_EVENTS: u32 = 200;
    /// `swarm_progress`: a percentage.
    pub const PROGRESS_PERCENT: u8 = 100;
}

pub struct Apiary<H: Host> {
    host: H,
    options: Options,
    /// The log as a worker's instance folds it at first: its own part (`EventLog::scoped`).
    part: EventLog,
    /// The whole log, once a question about the whole swarm was asked (`widen`); from then on
    /// the one used.
    whole: std::cell::OnceCell<EventLog>,
    /// Worktree changes of this instance take turns: git cannot add two at once.
    git_gate: gate::Gate,
    /// Sessions this instance saw busy (true) or idle (false) on the event stream.
    busy: RefCell<BTreeMap<String, bool>>,
    /// The scheduler's runs in this instance take turns.
    drain_gate: gate::Gate,
    /// When each session's activity was last recorded, to record it at most once per interval.
    beats: RefCell<BTreeMap<String, u64>>,
    /// When this instance started: outcomes before it are not toasted.
    started_at: u64,
    /// The outcomes this instance toasted.
    toasted: RefCell<BTreeSet<String>>,
    /// The directory of this instance, when the plugin says: it then starts only the queued
    /// beads of coordinators in that directory, which its options can place as they asked (a
    /// server sharing the log, with other options, leaves them to their own instance).
    home: RefCell<Option<String>>,
    /// Starts of this instance on their way to each server (see `schedule::place`).
    starting: RefCell<BTreeMap<String, u32>>,
    /// Queued beads this instance is starting: a scheduler round leaves them to that start.
    preparing: RefCell<BTreeSet<String>>,
    /// Starts prepared at once (`starter::PREPARE_AT_ONCE`).
    prepare_gate: gate::Gate,
    /// The repository top level of each directory workers were placed from (see
    /// `worktree_root`).
    repo_roots: RefCell<BTreeMap<String, String>>,
    /// The pools (server and repository) a refill is under way for (see `worktree::pool`).
    refilling: RefCell<BTreeSet<String>>,
    /// The idle spell (its start) this instance emptied its pools for.
    pools_retired_for: std::cell::Cell<Option<u64>>,
    /// The starts handed to the duties (see `starter`).
    starter: RefCell<starter::Starter>,
    /// The log as `swarm_log` read it so far: each call reads only what was appended since.
    journal: RefCell<history::Journal>,
    /// Each server's probes that failed in a row, since it last answered.
    probe_failures: RefCell<BTreeMap<String, u32>>,
    /// When a wake-up held back for workers finishing close together is due (see `notify`).
    tell_due: std::cell::Cell<Option<u64>>,
}

impl<H: Host> Apiary<H> {
    pub fn new(host: H) -> Self {
        Self::with_options(host, Options::default())
    }

    pub fn with_options(host: H, options: Options) -> Self {
        let started_at = host.now_ms();
        Self {
            host,
            options,
            part: EventLog::new(),
            whole: std::cell::OnceCell::new(),
            git_gate: gate::Gate::default(),
            busy: RefCell::default(),
            drain_gate: gate::Gate::default(),
            beats: RefCell::default(),
            started_at,
            toasted: RefCell::default(),
            home: RefCell::default(),
            starting: RefCell::default(),
            preparing: RefCell::default(),
            prepare_gate: gate::Gate::with_capacity(starter::PREPARE_AT_ONCE),
            repo_roots: RefCell::default(),
            refilling: RefCell::default(),
            tell_due: std::cell::Cell::default(),
            pools_retired_for: std::cell::Cell::new(None),
            starter: RefCell::default(),
            journal: RefCell::new(history::Journal::for_history()),
            probe_failures: RefCell::default(),
        }
    }

    /// This instance's directory (see `home`).
    pub fn set_home(&self, directory: &str) {
        *self.home.borrow_mut() = Some(directory.to_string());
        if is_worker_directory(directory) {
            self.part.scope_to(directory);
        }
    }

    /// Makes the whole swarm this instance's view, for a question a worker's part cannot
    /// answer (every tool but a worker's own). The next catch-up opens the whole log, from
    /// its snapshot; the part is not read again.
    pub(crate) fn widen(&self) {
        if self.whole.get().is_none() && self.part.swarm().scope().is_some() {
            let _ = self.whole.set(EventLog::new());
        }
    }

    /// Whether this instance may start a bead its coordinator queued from `parent_directory`.
    pub(crate) fn starts_for(&self, parent_directory: Option<&str>) -> bool {
        match (self.home.borrow().as_deref(), parent_directory) {
            (Some(home), Some(parent)) => home == parent,
            _ => true,
        }
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    pub fn log(&self) -> &EventLog {
        self.whole.get().unwrap_or(&self.part)
    }

    /// Catches up with the log (events other instances appended).
    pub async fn refresh(&self) -> Result<(), ToolError> {
        self.log().refresh(&self.host).await?;
        Ok(())
    }
}

pub use args::{arg_limits, ArgLimit};
pub use compaction::coordinator_context;
pub use duties::is_worker_directory;
pub use guard::{WriteArgs, WRITE_TOOLS};
pub use servers::FAILED_PROBES;
