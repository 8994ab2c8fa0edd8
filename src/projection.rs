//! The state of every worker, folded from the log one event at a time.
//!
//! `apply` is the only way in, and it is incremental: a poll costs the events that are new
//! since the last one. Replaying the same events always gives the same state.
use std::collections::BTreeMap;

mod snapshot;

use crate::event::{
    CompletionStatus, Event, EventBody, Importance, MessageSent, Payload, Priority, WorkerQueued,
    WorkerUsage,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerState {
    /// Spawned; the server has not shown the session busy yet.
    #[default]
    Starting,
    /// The session was seen busy (or the worker reported progress).
    Running,
    /// The session's turn ended without `swarm_complete`: its result needs review.
    Idle,
    /// The worker reported with `swarm_complete`.
    Completed(CompletionStatus),
    /// The session failed (provider error, deleted session, failed prompt).
    Failed,
    /// Stopped on purpose.
    Cancelled,
    /// Its turn was cut off by a server restart and it was not resumed (policy off).
    Interrupted,
}

impl WorkerState {
    /// Running or about to: a second spawn of the bead returns this worker.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Starting | Self::Running)
    }

    /// The state's one-word name, as poll, the views and the messages write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Idle => "needs_review",
            Self::Completed(s) => s.as_str(),
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    /// Nothing will change this worker's state by itself any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed(_) | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Worker {
    pub bead_id: String,
    pub epic_id: String,
    pub session_id: String,
    pub title: String,
    pub files: Vec<String>,
    pub dependencies: Vec<String>,
    /// 1 for the first worker of a bead, 2 for the next spawn of the same bead, ...
    pub attempt: u32,
    pub state: WorkerState,
    pub spawned_at: u64,
    pub last_activity_at: u64,
    pub ended_at: Option<u64>,
    pub progress_percent: Option<u8>,
    pub progress_message: Option<String>,
    pub summary: Option<String>,
    pub error: Option<String>,
    pub files_touched: Vec<String>,
    pub duration_ms: Option<u64>,
    /// The coordinator's session.
    pub parent_session_id: Option<String>,
    pub parent_directory: Option<String>,
    /// Where the session runs (its worktree, or the coordinator's directory).
    pub directory: Option<String>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    pub config_links: Vec<String>,
    /// The agent and `provider/model` it was started with, so a resume uses the same.
    pub agent: Option<String>,
    pub model: Option<String>,
    /// The coordinator's commit after this worker's branch was merged.
    pub merged_commit: Option<String>,
    /// The commit a worker on another server pushed to the shared remote.
    pub pushed_commit: Option<String>,
    pub worktree_removed: bool,
    /// Times a server restart cut its turn off, and the last reply cut off.
    pub interruptions: u32,
    pub interrupted_message: Option<String>,
    /// The coordinator was told this worker finished.
    pub notified: bool,
    /// The rest of the request, so a retry can make the same prompt.
    pub description: Option<String>,
    pub shared_context: Option<String>,
    pub priority: Priority,
    /// Its failure may be retried (not the worker's own verdict).
    pub retryable: bool,
    /// Its session was deleted from the server by the retention policy.
    pub session_deleted: bool,
    /// What it asked the coordinator with a high or urgent message, until the coordinator
    /// answers it or it reports.
    pub asks: Option<String>,
    /// Its session went idle after it reported: the reply that follows `swarm_complete` is a
    /// model call too, so until then the worker still holds its slot.
    pub turn_over: bool,
    /// The OpenCode server it runs on (a `servers` option's url); `None`: the coordinator's.
    pub server: Option<String>,
    /// Why it shares a directory rather than having its own worktree.
    pub place_note: Option<String>,
    /// The command its success must pass, as its spawn or its epic named it.
    pub verify: Option<String>,
    /// Each verify round's outcome (passed: true), in order.
    pub verify_rounds: Vec<bool>,
    /// What its replies spent, once counted (boxed: most of a long log's workers are done
    /// and read for little else).
    pub usage: Option<Box<Usage>>,
}

/// What a worker's replies spent, summed over its `worker_usage` events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub replies: u32,
    pub input: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// In millionths of the provider's currency.
    pub cost_micros: u64,
    /// The last reply counted: later ones are counted next.
    pub upto: String,
    /// `provider/model` of the last reply counted.
    pub model: Option<String>,
}

impl Usage {
    /// Every token a reply read or wrote, cache included, as OpenCode totals them.
    pub fn tokens(&self) -> u64 {
        self.input + self.output + self.reasoning + self.cache_read + self.cache_write
    }

    /// Adds the replies a `worker_usage` counted, once: a count up to a reply counted already
    /// is passed over (two instances may count the same turn's end).
    pub fn count(&mut self, e: &WorkerUsage) {
        if e.upto <= self.upto {
            return;
        }
        self.replies += e.replies;
        self.input += e.input;
        self.output += e.output;
        self.reasoning += e.reasoning;
        self.cache_read += e.cache_read;
        self.cache_write += e.cache_write;
        self.cost_micros += e.cost_micros;
        self.upto.clone_from(&e.upto);
        if let Some(model) = &e.model {
            let provider = e.provider.as_deref().unwrap_or("?");
            self.model = Some(format!("{provider}/{model}"));
        }
    }

    pub fn add(&mut self, other: &Usage) {
        self.replies += other.replies;
        self.input += other.input;
        self.output += other.output;
        self.reasoning += other.reasoning;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.cost_micros += other.cost_micros;
    }
}

/// A message and what became of it, per recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    pub sent: MessageSent,
    pub at: u64,
    /// (recipient, when, how: `prompt` or `inbox`).
    pub delivered: Vec<(String, u64, String)>,
    /// (recipient, when).
    pub read: Vec<(String, u64)>,
}

impl Mail {
    pub fn importance(&self) -> Importance {
        self.sent.importance.unwrap_or_default()
    }

    pub fn delivered_to(&self, recipient: &str) -> Option<&(String, u64, String)> {
        self.delivered.iter().find(|(r, _, _)| r == recipient)
    }

    pub fn read_by(&self, recipient: &str) -> Option<u64> {
        self.read
            .iter()
            .find(|(r, _)| r == recipient)
            .map(|(_, at)| *at)
    }
}

/// Where a bead that has not started (or is about to start again) stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum QueueState {
    /// Waits for a slot, its dependencies, the machine or its retry backoff.
    #[default]
    Waiting,
    /// Will not start by itself: a dependency failed, was cancelled or is blocked.
    Blocked(String),
    /// Cancelled before it started.
    Cancelled(String),
    /// Its start failed before its worker ran (its worktree or its session could not be
    /// made): the reason, and whether the retry policy may queue it again.
    Failed { error: String, retryable: bool },
}

/// A bead in the queue: the whole request, so any instance can start it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queued {
    pub request: WorkerQueued,
    pub state: QueueState,
    /// When it entered the queue, and its order among equals.
    pub queued_at: u64,
    pub seq: u64,
    /// The attempt it will start as (1 unless it is a retry).
    pub attempt: u32,
    /// A retry's backoff: not started before this time.
    pub not_before: u64,
    /// The session of the attempt before, for a retry.
    pub previous_session_id: Option<String>,
}

/// Serializable, so a snapshot of it can be kept beside the log for fast opening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swarm {
    /// Boxed, so that growing the list moves pointers, not whole workers: with thousands of
    /// them, a list of workers inline held the old and the new copy at once when it grew.
    #[allow(clippy::vec_box)]
    workers: Vec<Box<Worker>>,
    /// The latest worker of each bead.
    by_bead: BTreeMap<String, usize>,
    by_session: BTreeMap<String, usize>,
    /// Beads per epic, in the order they were first spawned or queued.
    epics: BTreeMap<String, Vec<String>>,
    /// Beads waiting to start, and beads that never started and will not by themselves.
    queue: BTreeMap<String, Queued>,
    /// Every message, in the order sent.
    mail: Vec<Mail>,
    /// Servers of the `servers` option that stopped answering, until they answer again.
    servers_down: Vec<String>,
    last_seq: u64,
    /// A worker's instance keeps only the workers of its directory (see `scoped`).
    scope: Option<String>,
}

impl Worker {
    /// Its last verify round passed (`Some(true)`) or failed; `None` before any.
    pub fn verified(&self) -> Option<bool> {
        self.verify_rounds.last().copied()
    }

    /// Verify rounds it failed.
    pub fn verify_failures(&self) -> u32 {
        self.verify_rounds.iter().filter(|ok| !**ok).count() as u32
    }
}

impl Swarm {
    /// The projection a worker's instance folds: only the workers that ran in `home` (its own
    /// bead's attempts) or were started from it (the workers it spawned), with their epics.
    /// The queue, the mail and the servers stay whole; every other bead's worker is passed
    /// over, so that thirty workers' instances do not each hold the whole swarm. A question
    /// about the whole swarm is answered by a whole projection (`EventLog::widen`).
    pub fn scoped(home: &str) -> Self {
        Self {
            scope: Some(home.to_string()),
            ..Self::default()
        }
    }

    /// The directory a scoped projection keeps the workers of.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Whether a worker of `bead` in `directory`, started from `parent`, is kept.
    fn keeps(&self, bead: &str, directory: Option<&str>, parent: Option<&str>) -> bool {
        match self.scope.as_deref() {
            None => true,
            Some(home) => {
                directory == Some(home) || parent == Some(home) || self.by_bead.contains_key(bead)
            }
        }
    }

    pub fn apply(&mut self, event: &Event) {
        self.last_seq = event.seq;
        let Payload::Known(body) = &event.payload else {
            return;
        };
        let at = event.timestamp;
        match body {
            EventBody::WorkerSpawned(e)
                if !self.keeps(
                    &e.bead_id,
                    e.directory.as_deref(),
                    e.parent_directory.as_deref(),
                ) =>
            {
                self.queue.remove(&e.bead_id);
            }
            EventBody::WorkerSpawned(e) => {
                // The attempt its queue entry starts as (a start that failed counts as one).
                let attempt = match self.queue.get(&e.bead_id) {
                    Some(q) => q.attempt,
                    None => self.bead(&e.bead_id).map_or(1, |w| w.attempt + 1),
                };
                let index = self.workers.len();
                self.workers.push(Box::new(Worker {
                    bead_id: e.bead_id.clone(),
                    epic_id: e.epic_id.clone(),
                    session_id: e.session_id.clone(),
                    title: e.title.clone(),
                    files: e.files.clone(),
                    dependencies: e.dependencies.clone(),
                    attempt,
                    state: WorkerState::Starting,
                    spawned_at: at,
                    last_activity_at: at,
                    ended_at: None,
                    progress_percent: None,
                    progress_message: None,
                    summary: None,
                    error: None,
                    files_touched: Vec::new(),
                    duration_ms: None,
                    parent_session_id: e.parent_session_id.clone(),
                    parent_directory: e.parent_directory.clone(),
                    directory: e.directory.clone(),
                    worktree: e.worktree_path.clone(),
                    branch: e.branch.clone(),
                    config_links: e.config_links.clone(),
                    agent: e.agent.clone(),
                    model: e.model.clone(),
                    merged_commit: None,
                    pushed_commit: None,
                    worktree_removed: false,
                    interruptions: 0,
                    interrupted_message: None,
                    notified: false,
                    description: e.description.clone(),
                    shared_context: e.shared_context.clone(),
                    priority: e.priority.unwrap_or_default(),
                    retryable: false,
                    session_deleted: false,
                    turn_over: false,
                    asks: None,
                    server: e.server.clone(),
                    place_note: e.note.clone(),
                    verify: e.verify.clone(),
                    verify_rounds: Vec::new(),
                    usage: None,
                }));
                // A scoped projection adds a bead to its epic here, not when it is queued.
                let queued = self.queue.remove(&e.bead_id).is_some() && self.scope.is_none();
                if self.by_bead.insert(e.bead_id.clone(), index).is_none() && !queued {
                    self.add_to_epic(&e.epic_id, &e.bead_id);
                }
                self.by_session.insert(e.session_id.clone(), index);
            }
            EventBody::WorkerQueued(e) => {
                let attempt = self.bead(&e.bead_id).map_or(1, |w| w.attempt + 1);
                if self.bead(&e.bead_id).is_none()
                    && !self.queue.contains_key(&e.bead_id)
                    && self.scope.is_none()
                {
                    self.add_to_epic(&e.epic_id, &e.bead_id);
                }
                self.queue.insert(
                    e.bead_id.clone(),
                    Queued {
                        request: e.clone(),
                        state: QueueState::Waiting,
                        queued_at: at,
                        seq: event.seq,
                        attempt,
                        not_before: 0,
                        previous_session_id: None,
                    },
                );
            }
            // A start that failed before its worker ran: the queue entry itself is retried.
            EventBody::WorkerRetried(e) if e.previous_session_id.is_empty() => {
                if let Some(q) = self.queue.get_mut(&e.bead_id) {
                    if matches!(q.state, QueueState::Failed { .. }) {
                        q.state = QueueState::Waiting;
                        q.request.reason = e.reason.clone();
                        (q.queued_at, q.seq, q.attempt) = (at, event.seq, e.attempt);
                        q.not_before = e.not_before;
                    }
                }
            }
            EventBody::WorkerRetried(e) => {
                if let Some(w) = self.bead(&e.bead_id) {
                    let entry = Queued {
                        request: request_of(w, &e.reason),
                        state: QueueState::Waiting,
                        queued_at: at,
                        seq: event.seq,
                        attempt: e.attempt,
                        not_before: e.not_before,
                        previous_session_id: Some(e.previous_session_id.clone()),
                    };
                    self.queue.insert(e.bead_id.clone(), entry);
                }
            }
            EventBody::WorkerBlocked(e) => {
                if let Some(q) = self.queue.get_mut(&e.bead_id) {
                    if q.state == QueueState::Waiting {
                        q.state = QueueState::Blocked(e.reason.clone());
                    }
                }
            }
            EventBody::WorkerActive(e) => self.update(&e.session_id, at, |_| {}),
            EventBody::SessionDeleted(e) => {
                if let Some(&i) = self.by_session.get(&e.session_id) {
                    self.workers[i].session_deleted = true;
                }
            }
            EventBody::WorkerStarted(e) => self.update(&e.session_id, at, |w| {
                if matches!(
                    w.state,
                    WorkerState::Starting | WorkerState::Idle | WorkerState::Interrupted
                ) {
                    w.state = WorkerState::Running;
                    w.turn_over = false;
                    w.ended_at = None;
                }
            }),
            EventBody::WorkerIdle(e) => self.update(&e.session_id, at, |w| {
                w.turn_over = true;
                if w.state.is_active() {
                    w.state = WorkerState::Idle;
                    w.ended_at = Some(at);
                }
            }),
            EventBody::WorkerProgress(e) => self.update(&e.session_id, at, |w| {
                if w.state == WorkerState::Starting {
                    w.state = WorkerState::Running;
                }
                w.progress_percent = Some(e.progress_percent);
                if e.message.is_some() {
                    w.progress_message.clone_from(&e.message);
                }
                merge_files(&mut w.files_touched, &e.files_touched);
            }),
            EventBody::WorkerCompleted(e) => self.update(&e.session_id, at, |w| {
                w.state = WorkerState::Completed(e.status);
                w.asks = None;
                w.summary = Some(e.summary.clone());
                merge_files(&mut w.files_touched, &e.files_touched);
                w.duration_ms = Some(e.duration_ms);
                w.ended_at = Some(at);
                if e.status == CompletionStatus::Success {
                    w.progress_percent = Some(100);
                }
            }),
            EventBody::WorkerFailed(e) if e.session_id.is_empty() => {
                if let Some(q) = self.queue.get_mut(&e.bead_id) {
                    if q.state == QueueState::Waiting {
                        q.state = QueueState::Failed {
                            error: e.error.clone(),
                            retryable: e.retryable,
                        };
                    }
                }
            }
            EventBody::WorkerFailed(e) => self.update(&e.session_id, at, |w| {
                if !w.state.is_final() {
                    w.state = WorkerState::Failed;
                    w.retryable = e.retryable;
                    w.error = Some(e.error.clone());
                    w.ended_at = Some(at);
                    w.duration_ms = Some(at.saturating_sub(w.spawned_at));
                }
            }),
            // Cancelled while queued: there is no session, the queue entry ends.
            EventBody::WorkerCancelled(e) if e.session_id.is_empty() => {
                if let Some(q) = self.queue.get_mut(&e.bead_id) {
                    if q.state == QueueState::Waiting {
                        q.state = QueueState::Cancelled(e.reason.clone());
                    }
                }
            }
            EventBody::WorkerCancelled(e) => self.update(&e.session_id, at, |w| {
                if !w.state.is_final() {
                    w.state = WorkerState::Cancelled;
                    w.error = Some(e.reason.clone());
                    w.ended_at = Some(at);
                    w.duration_ms = Some(at.saturating_sub(w.spawned_at));
                }
            }),
            EventBody::WorkerInterrupted(e) => self.update(&e.session_id, at, |w| {
                if !w.state.is_final() {
                    w.interruptions += 1;
                    w.interrupted_message.clone_from(&e.message_id);
                    // Resumed: starting again until the server shows the new turn busy.
                    w.state = if e.resumed {
                        WorkerState::Starting
                    } else {
                        WorkerState::Interrupted
                    };
                    w.ended_at = (!e.resumed).then_some(at);
                }
            }),
            EventBody::WorkerUsage(e) => self.update(&e.session_id, at, |w| {
                w.usage.get_or_insert_with(Box::default).count(e);
            }),
            EventBody::WorkerVerified(e) => self.update(&e.session_id, at, |w| {
                w.verify_rounds.push(e.ok);
            }),
            EventBody::WorktreeMerged(e) => self.update(&e.session_id, at, |w| {
                w.merged_commit = Some(e.commit.clone());
            }),
            EventBody::WorktreePushed(e) => self.update(&e.session_id, at, |w| {
                w.pushed_commit = Some(e.commit.clone());
            }),
            EventBody::WorktreeRemoved(e) => self.update(&e.session_id, at, |w| {
                w.worktree_removed = true;
            }),
            // Not the worker's own activity: `last_activity_at` stays.
            EventBody::CoordinatorNotified(e) => {
                for session in &e.workers {
                    if let Some(&i) = self.by_session.get(session) {
                        self.workers[i].notified = true;
                    }
                }
            }
            EventBody::MessageSent(e) => {
                let asks = matches!(e.importance, Some(Importance::High | Importance::Urgent))
                    && e.to.iter().any(|t| t == "coordinator");
                if let Some(&i) = self.by_bead.get(&e.from) {
                    if asks && !self.workers[i].state.is_final() {
                        self.workers[i].asks = Some(e.subject.clone());
                    }
                }
                // The coordinator's answer ends the wait of the workers it goes to.
                if e.from == "coordinator" {
                    for to in &e.to {
                        if let Some(&i) = self.by_bead.get(to) {
                            self.workers[i].asks = None;
                        }
                    }
                }
                self.mail.push(Mail {
                    sent: e.clone(),
                    at,
                    delivered: Vec::new(),
                    read: Vec::new(),
                });
            }
            EventBody::MessageDelivered(e) => {
                if let Some(m) = self
                    .mail
                    .iter_mut()
                    .find(|m| m.sent.message_id == e.message_id)
                {
                    if m.delivered_to(&e.recipient).is_none() {
                        let via = e.via.clone().unwrap_or_else(|| "inbox".into());
                        m.delivered.push((e.recipient.clone(), at, via));
                    }
                }
            }
            EventBody::MessageRead(e) => {
                if let Some(m) = self
                    .mail
                    .iter_mut()
                    .find(|m| m.sent.message_id == e.message_id)
                {
                    if m.read_by(&e.recipient).is_none() {
                        m.read.push((e.recipient.clone(), at));
                    }
                }
            }
            // Recorded and replayed; reservations are derived from the workers' files.
            EventBody::FilesReserved(_) | EventBody::FilesReleased(_) => {}
            EventBody::ServerLost(e) => {
                if !self.servers_down.contains(&e.url) {
                    self.servers_down.push(e.url.clone());
                }
            }
            EventBody::ServerBack(e) => self.servers_down.retain(|u| *u != e.url),
        }
    }

    fn add_to_epic(&mut self, epic: &str, bead: &str) {
        self.epics
            .entry(epic.to_string())
            .or_default()
            .push(bead.to_string());
    }

    fn update(&mut self, session_id: &str, at: u64, change: impl FnOnce(&mut Worker)) {
        if let Some(&i) = self.by_session.get(session_id) {
            let worker = &mut self.workers[i];
            worker.last_activity_at = worker.last_activity_at.max(at);
            change(worker);
        }
    }

    /// The sequence number of the last event applied (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The latest worker of a bead.
    pub fn bead(&self, bead_id: &str) -> Option<&Worker> {
        self.by_bead.get(bead_id).map(|&i| &*self.workers[i])
    }

    pub fn session(&self, session_id: &str) -> Option<&Worker> {
        self.by_session.get(session_id).map(|&i| &*self.workers[i])
    }

    /// The latest worker of each bead of an epic, in spawn order.
    pub fn epic(&self, epic_id: &str) -> Vec<&Worker> {
        self.epics
            .get(epic_id)
            .into_iter()
            .flatten()
            .filter_map(|bead| self.bead(bead))
            .collect()
    }

    /// What an epic's workers spent, every attempt counted; `None` while nothing was spent.
    pub fn epic_usage(&self, epic_id: &str) -> Option<Usage> {
        let mut total = Usage::default();
        for w in self.workers.iter().filter(|w| w.epic_id == epic_id) {
            if let Some(u) = &w.usage {
                total.add(u);
            }
        }
        (total.tokens() > 0 || total.cost_micros > 0).then_some(total)
    }

    /// Every worker ever spawned (a bead's earlier attempts too), in spawn order.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.iter().map(|w| &**w)
    }

    pub fn epic_ids(&self) -> impl Iterator<Item = &str> {
        self.epics.keys().map(String::as_str)
    }

    /// Every bead of an epic, in the order it was first spawned or queued.
    pub fn epic_beads(&self, epic_id: &str) -> &[String] {
        self.epics.get(epic_id).map_or(&[], Vec::as_slice)
    }

    /// A bead's queue entry: waiting to start, or never started and blocked or cancelled.
    pub fn queued(&self, bead_id: &str) -> Option<&Queued> {
        self.queue.get(bead_id)
    }

    /// Every queue entry (waiting, blocked or cancelled), by bead id.
    pub fn queue(&self) -> impl Iterator<Item = &Queued> {
        self.queue.values()
    }

    /// Every message, in the order sent.
    pub fn mail(&self) -> &[Mail] {
        &self.mail
    }

    /// Whether a server of the `servers` option was recorded lost (and not back since).
    pub fn server_down(&self, url: &str) -> bool {
        self.servers_down.iter().any(|u| u == url)
    }

    /// The verify command last recorded for a bead of `epic_id` (its latest bead first), which
    /// a spawn that names none takes on.
    pub fn epic_verify(&self, epic_id: &str) -> Option<&str> {
        self.epic_beads(epic_id).iter().rev().find_map(|b| {
            let queued = self.queue.get(b).and_then(|q| q.request.verify.as_deref());
            queued.or_else(|| self.bead(b).and_then(|w| w.verify.as_deref()))
        })
    }

    /// The beads waiting to start.
    pub fn waiting(&self) -> impl Iterator<Item = &Queued> {
        self.queue
            .values()
            .filter(|q| q.state == QueueState::Waiting)
    }
}

/// A worker's request as a queue entry, for its retry.
fn request_of(w: &Worker, reason: &str) -> WorkerQueued {
    WorkerQueued {
        bead_id: w.bead_id.clone(),
        epic_id: w.epic_id.clone(),
        title: w.title.clone(),
        reason: reason.to_string(),
        priority: w.priority,
        files: w.files.clone(),
        dependencies: w.dependencies.clone(),
        description: w.description.clone(),
        shared_context: w.shared_context.clone(),
        agent: w.agent.clone(),
        model: w.model.clone(),
        parent_session_id: w.parent_session_id.clone(),
        parent_directory: w.parent_directory.clone(),
        verify: w.verify.clone(),
    }
}

fn merge_files(into: &mut Vec<String>, new: &[String]) {
    for file in new {
        if !into.contains(file) {
            into.push(file.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{WorkerCompleted, WorkerFailed, WorkerObserved, WorkerSpawned};

    fn ev(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            version: 1,
            timestamp: seq * 1000,
            payload: Payload::Known(body),
        }
    }

    fn spawned(bead: &str, session: &str) -> EventBody {
        EventBody::WorkerSpawned(WorkerSpawned {
            session_id: session.into(),
            bead_id: bead.into(),
            epic_id: "ep".into(),
            title: format!("task {bead}"),
            files: vec![],
            dependencies: vec![],
            prompt_hash: String::new(),
            ..WorkerSpawned::default()
        })
    }

    fn observed(session: &str) -> WorkerObserved {
        WorkerObserved {
            session_id: session.into(),
            bead_id: String::new(),
        }
    }

    #[test]
    fn a_spawned_worker_is_starting_until_seen_busy() {
        let mut s = Swarm::default();
        s.apply(&ev(1, spawned("b1", "s1")));
        assert_eq!(s.bead("b1").unwrap().state, WorkerState::Starting);
        s.apply(&ev(2, EventBody::WorkerStarted(observed("s1"))));
        assert_eq!(s.bead("b1").unwrap().state, WorkerState::Running);
        s.apply(&ev(3, EventBody::WorkerIdle(observed("s1"))));
        let w = s.bead("b1").unwrap();
        assert_eq!(w.state, WorkerState::Idle);
        assert_eq!(w.ended_at, Some(3000));
    }

    #[test]
    fn completion_is_final_and_later_observations_do_not_undo_it() {
        let mut s = Swarm::default();
        s.apply(&ev(1, spawned("b1", "s1")));
        s.apply(&ev(
            2,
            EventBody::WorkerCompleted(WorkerCompleted {
                session_id: "s1".into(),
                bead_id: "b1".into(),
                epic_id: "ep".into(),
                status: CompletionStatus::Success,
                summary: "ok".into(),
                files_touched: vec!["a".into()],
                duration_ms: 1000,
            }),
        ));
        s.apply(&ev(3, EventBody::WorkerIdle(observed("s1"))));
        s.apply(&ev(
            4,
            EventBody::WorkerFailed(WorkerFailed {
                session_id: "s1".into(),
                bead_id: "b1".into(),
                epic_id: "ep".into(),
                error: "late".into(),
                stack: None,
                retryable: false,
            }),
        ));
        let w = s.bead("b1").unwrap();
        assert_eq!(w.state, WorkerState::Completed(CompletionStatus::Success));
        assert_eq!(w.summary.as_deref(), Some("ok"));
        assert_eq!(w.error, None);
    }

    #[test]
    fn a_respawned_bead_counts_attempts_and_keeps_its_place_in_the_epic() {
        let mut s = Swarm::default();
        s.apply(&ev(1, spawned("b1", "s1")));
        s.apply(&ev(2, spawned("b2", "s2")));
        s.apply(&ev(3, spawned("b1", "s3")));
        let beads: Vec<_> = s
            .epic("ep")
            .iter()
            .map(|w| (w.bead_id.as_str(), w.attempt))
            .collect();
        assert_eq!(beads, vec![("b1", 2), ("b2", 1)]);
        assert_eq!(s.session("s1").unwrap().attempt, 1);
    }

    #[test]
    fn unknown_events_are_passed_over() {
        let mut s = Swarm::default();
        s.apply(&Event {
            seq: 1,
            version: 2,
            timestamp: 0,
            payload: Payload::Unknown {
                type_name: "x".into(),
            },
        });
        assert_eq!(s.last_seq(), 1);
        assert!(s.epic("ep").is_empty());
    }

    #[test]
    fn events_for_unknown_sessions_change_nothing() {
        let mut s = Swarm::default();
        s.apply(&ev(1, EventBody::WorkerStarted(observed("nope"))));
        assert_eq!(
            s,
            Swarm {
                last_seq: 1,
                ..Swarm::default()
            }
        );
    }
}
