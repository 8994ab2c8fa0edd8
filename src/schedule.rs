//! The scheduler's decisions, as pure functions of the projection, the options, the machine's
//! load and the time: which queued beads start now, which are blocked, why the others wait,
//! which failures are retried and when, which workers have stalled. Nothing here talks to a
//! host, so every rule is tested with a fake clock; `swarm::queue` carries the decisions out.
//! A single start's admission (`admit`) and a new spawn's intake (`intake`) are decided here
//! too, for `swarm::queue` and `swarm::spawn` to carry out around the host's steps.
use std::collections::BTreeMap;

pub mod admit;
pub mod intake;

use crate::api::{Options, StallPolicy};
use crate::event::{CompletionStatus, EventBody, WorkerNote, WorkerRetried};
use crate::projection::{QueueState, Queued, Swarm, Worker, WorkerState};
use crate::text::order_by;

/// The machine as the host reads it.
#[derive(Debug, Clone, Default, Copy, PartialEq, Eq)]
pub struct Machine {
    /// The 1-minute load average as a percentage of the CPUs (200: twice as many runnable
    /// tasks as CPUs). Whole numbers keep float parsing and printing out of the core.
    pub load_percent: u32,
    pub free_memory_mb: u64,
}

crate::json::json_fields!(read Machine {
    req load_percent,
    req free_memory_mb,
});

/// Why a queued bead has not started.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// The repository's limit of running workers is reached.
    Slot { running: u32, limit: u32 },
    /// The limit of its provider or model is reached.
    ModelSlot {
        key: String,
        running: u32,
        limit: u32,
    },
    /// The machine is above a threshold.
    Machine(String),
    /// A retry waits out its backoff.
    Backoff { until: u64 },
    /// Dependencies still running or queued; they start it when they complete.
    Dependencies(Vec<String>),
    /// Its files overlap those a running worker holds: `bead`, and the overlapping patterns.
    Files { bead: String, paths: Vec<String> },
    /// Only the coordinator can move it on: a dependency needs review or was never spawned.
    Coordinator(String),
    /// Every server of the `servers` option is full or lost: each one's state.
    Servers(String),
}

impl Wait {
    /// Whether it will start without anyone acting (a wait worth awaiting).
    pub fn resolves_itself(&self) -> bool {
        !matches!(self, Self::Coordinator(_))
    }

    /// A short phrase for the coordinator.
    pub fn describe(&self, now: u64) -> String {
        match self {
            Self::Slot { running, limit } => format!("limit: {running}/{limit} running"),
            Self::ModelSlot {
                key,
                running,
                limit,
            } => format!("limit for {key}: {running}/{limit} running"),
            Self::Machine(why) => why.clone(),
            Self::Backoff { until } => format!(
                "retry backoff, starts in {}",
                crate::text::duration(until.saturating_sub(now))
            ),
            Self::Dependencies(deps) => format!("waits for {}", deps.join(", ")),
            Self::Files { bead, paths } => {
                format!("files held by {bead}: {}", paths.join(", "))
            }
            Self::Coordinator(why) => why.clone(),
            Self::Servers(state) => format!("no server has room: {state}"),
        }
    }
}

/// What the scheduler decided at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Beads to start now, in this order.
    pub start: Vec<String>,
    /// Beads that will never start by themselves, with the reason.
    pub block: Vec<(String, String)>,
    /// The other waiting beads, in queue order (position 1 first), with why they wait.
    pub waits: Vec<(String, Wait)>,
    /// With the `servers` option: the server each bead of `start` goes to.
    pub placed: Vec<(String, String)>,
    /// The next moment something may change with no event to say so (a backoff ending, a
    /// machine to look at again).
    pub wake_at: Option<u64>,
}

impl Plan {
    /// 1-based place of a bead among those still waiting.
    pub fn position(&self, bead: &str) -> Option<u32> {
        self.waits
            .iter()
            .position(|(b, _)| b == bead)
            .map(|i| i as u32 + 1)
    }

    pub fn wait(&self, bead: &str) -> Option<&Wait> {
        self.waits.iter().find(|(b, _)| b == bead).map(|(_, w)| w)
    }
}

/// How long to look again later when the machine holds the queue back.
pub const MACHINE_RECHECK_MS: u64 = 5_000;

/// Where a dependency stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dep {
    Done,
    /// Running, queued or about to be retried: it will settle by itself.
    Pending,
    NeedsCoordinator(String),
    Dead(String),
}

fn dependency(swarm: &Swarm, options: &Options, bead: &str) -> Dep {
    if let Some(q) = swarm.queued(bead) {
        return match &q.state {
            QueueState::Waiting => Dep::Pending,
            QueueState::Blocked(_) => Dep::Dead(format!("{bead} is blocked")),
            QueueState::Cancelled(_) => Dep::Dead(format!("{bead} was cancelled")),
            QueueState::Failed { .. } if start_will_retry(q, options) => Dep::Pending,
            QueueState::Failed { .. } => Dep::Dead(format!("{bead} could not start")),
        };
    }
    let Some(w) = swarm.bead(bead) else {
        return Dep::NeedsCoordinator(format!("{bead} was never spawned"));
    };
    match w.state {
        WorkerState::Completed(CompletionStatus::Success) => Dep::Done,
        WorkerState::Starting | WorkerState::Running => Dep::Pending,
        WorkerState::Failed if will_retry(w, options) => Dep::Pending,
        WorkerState::Idle => Dep::NeedsCoordinator(format!("{bead} needs review")),
        WorkerState::Interrupted => Dep::NeedsCoordinator(format!("{bead} was interrupted")),
        WorkerState::Failed => Dep::Dead(format!("{bead} failed")),
        WorkerState::Cancelled => Dep::Dead(format!("{bead} was cancelled")),
        WorkerState::Completed(s) => Dep::Dead(format!("{bead} reported {}", s.as_str())),
    }
}

/// A queued bead whose start failed, that the retry policy will start again.
pub fn start_will_retry(q: &Queued, options: &Options) -> bool {
    matches!(
        q.state,
        QueueState::Failed {
            retryable: true,
            ..
        }
    ) && q.attempt < options.max_attempts
}

/// A failed worker the retry policy will start again.
pub fn will_retry(w: &Worker, options: &Options) -> bool {
    w.state == WorkerState::Failed && w.retryable && w.attempt < options.max_attempts
}

/// The limit keys a worker counts under: its `provider/model` and its provider, or `default`.
pub fn model_keys(model: Option<&str>) -> Vec<String> {
    match model {
        None => vec!["default".to_string()],
        Some(m) => {
            let mut keys = vec![m.to_string()];
            if let Some((provider, _)) = m.split_once('/') {
                keys.push(provider.to_string());
            }
            keys
        }
    }
}

/// How long a worker that reported keeps its slot at most while its session has not been seen
/// idle (the event may be lost, e.g. to a restart).
pub const FINISH_GRACE_MS: u64 = 120_000;

/// Whether a worker takes a slot: it runs, or it reported and its session is still making its
/// last reply (for `FINISH_GRACE_MS` at most).
pub fn holds_slot(w: &Worker, now: u64) -> bool {
    w.state.is_active() || finishing_until(w).is_some_and(|until| until > now)
}

/// Until when a worker that reported may still hold its slot.
fn finishing_until(w: &Worker) -> Option<u64> {
    let reported = matches!(w.state, WorkerState::Completed(_)) && !w.turn_over;
    reported.then(|| w.ended_at.unwrap_or(w.spawned_at) + FINISH_GRACE_MS)
}

/// Whether a worker holds its files: it runs, and has shown activity within the TTL (a
/// worker that vanished lets go).
pub fn holds_files(w: &Worker, options: &Options, now: u64) -> bool {
    w.state.is_active()
        && !w.files.is_empty()
        && (options.reservation_ttl_ms == 0
            || now.saturating_sub(w.last_activity_at) < options.reservation_ttl_ms)
}

/// The first running worker (other than `bead`'s) whose files overlap `files`, with the
/// overlapping patterns.
pub fn file_conflict(
    swarm: &Swarm,
    options: &Options,
    bead: &str,
    files: &[String],
    now: u64,
) -> Option<(String, Vec<String>)> {
    if files.is_empty() || options.on_file_conflict == crate::api::FileConflict::Allow {
        return None;
    }
    swarm
        .workers()
        .filter(|w| w.bead_id != bead && holds_files(w, options, now))
        .find_map(|w| {
            let paths = crate::glob::overlaps(files, &w.files);
            (!paths.is_empty()).then(|| (w.bead_id.clone(), paths))
        })
}

/// Running workers, in all and per limit key (counted only for keys with a limit).
fn running(swarm: &Swarm, options: &Options, now: u64) -> (u32, BTreeMap<String, u32>) {
    let mut total = 0;
    let mut per_key = BTreeMap::new();
    for w in swarm.workers().filter(|w| holds_slot(w, now)) {
        // A bead's earlier attempts are never active alongside its latest.
        total += 1;
        if options.max_running_per_model.is_empty() {
            continue;
        }
        for key in model_keys(w.model.as_deref()) {
            *per_key.entry(key).or_insert(0) += 1;
        }
    }
    (total, per_key)
}

/// The queue's order: rank (priority level, raised one level per `priority_aging_ms` waited)
/// first, highest first, then the order of arrival.
fn rank(q: &Queued, options: &Options, now: u64) -> (u64, u64) {
    let waited = now.saturating_sub(q.queued_at);
    let score = q.request.priority.level() * options.priority_aging_ms + waited;
    (u64::MAX - score, q.seq)
}

/// Why the machine holds the queue back, if it does.
fn machine_hold(options: &Options, machine: Option<&Machine>) -> Option<String> {
    let m = machine?;
    if let Some(max) = options.max_load_percent {
        if m.load_percent > max {
            return Some(format!("load {}% of CPUs is above {max}%", m.load_percent));
        }
    }
    if options.min_free_memory_mb > 0 && m.free_memory_mb < options.min_free_memory_mb {
        return Some(format!(
            "{} MB free is below {} MB",
            m.free_memory_mb, options.min_free_memory_mb
        ));
    }
    None
}

/// Workers holding a slot on each server of the `servers` option, in its order.
fn server_load(swarm: &Swarm, options: &Options, now: u64) -> Vec<u32> {
    options
        .servers
        .iter()
        .map(|s| {
            swarm
                .workers()
                .filter(|w| w.server.as_deref() == Some(s.url.as_str()) && holds_slot(w, now))
                .count() as u32
        })
        .collect()
}

/// The server with the most free slots among those not lost (the first listed on a tie), or
/// why none will do.
fn best_server(swarm: &Swarm, options: &Options, load: &[u32]) -> Result<usize, String> {
    let mut best: Option<(usize, u32)> = None;
    for (i, s) in options.servers.iter().enumerate() {
        let free = s.max_workers.saturating_sub(load[i]);
        if free > 0 && !swarm.server_down(&s.url) && best.is_none_or(|(_, f)| free > f) {
            best = Some((i, free));
        }
    }
    best.map(|(i, _)| i).ok_or_else(|| {
        let states: Vec<String> = options
            .servers
            .iter()
            .zip(load)
            .map(|(s, n)| match swarm.server_down(&s.url) {
                true => format!("{} lost", s.url),
                false => format!("{} {n}/{}", s.url, s.max_workers),
            })
            .collect();
        states.join(", ")
    })
}

/// Where a worker starting now goes: `Ok(None)` without the `servers` option, the url of the
/// server with the most room, or why no server will do. `starting` counts, per server, the
/// starts already on their way there and not yet recorded (readying a worktree on another
/// machine takes a while), so that spawns made together spread instead of all choosing the
/// same server and losing the race for its slots.
pub fn place(
    swarm: &Swarm,
    options: &Options,
    starting: &BTreeMap<String, u32>,
    now: u64,
) -> Result<Option<String>, String> {
    if options.servers.is_empty() {
        return Ok(None);
    }
    let mut load = server_load(swarm, options, now);
    for (s, n) in options.servers.iter().zip(&mut load) {
        *n += starting.get(&s.url).copied().unwrap_or(0);
    }
    best_server(swarm, options, &load).map(|i| Some(options.servers[i].url.clone()))
}

/// Whether the server at `url` has a free slot and is not lost.
pub fn room_on(swarm: &Swarm, options: &Options, url: &str, now: u64) -> bool {
    let load = server_load(swarm, options, now);
    options
        .servers
        .iter()
        .zip(load)
        .any(|(s, n)| s.url == url && n < s.max_workers && !swarm.server_down(url))
}

/// Decides what the queue does now.
pub fn plan(swarm: &Swarm, options: &Options, machine: Option<&Machine>, now: u64) -> Plan {
    let mut plan = Plan::default();
    let mut waiting: Vec<&Queued> = swarm.waiting().collect();
    order_by(&mut waiting, |q| rank(q, options, now));

    // Blocked first, to a fixed point: a bead blocked now blocks its own dependents.
    let mut dead: Vec<(String, String)> = Vec::new();
    let is_dead = |dead: &[(String, String)], b: &str| dead.iter().any(|(d, _)| d == b);
    loop {
        let before = dead.len();
        for q in &waiting {
            if is_dead(&dead, &q.request.bead_id) {
                continue;
            }
            for d in &q.request.dependencies {
                let why = if is_dead(&dead, d) {
                    Some(format!("{d} is blocked"))
                } else {
                    match dependency(swarm, options, d) {
                        Dep::Dead(why) => Some(why),
                        _ => None,
                    }
                };
                if let Some(why) = why {
                    dead.push((q.request.bead_id.clone(), format!("dependency {why}")));
                    break;
                }
            }
        }
        if dead.len() == before {
            break;
        }
    }

    let (mut total, mut per_key) = running(swarm, options, now);
    let mut load = server_load(swarm, options, now);
    let hold = machine_hold(options, machine);
    // Files of the beads this plan starts: two queued beads never start on the same files.
    let mut starting: Vec<(String, Vec<String>)> = Vec::new();
    for q in waiting {
        let bead = &q.request.bead_id;
        if let Some(i) = dead.iter().position(|(d, _)| d == bead) {
            let (_, why) = dead.swap_remove(i);
            plan.block.push((bead.clone(), why));
            continue;
        }
        let mut pending = Vec::new();
        let mut coordinator = None;
        for d in &q.request.dependencies {
            match dependency(swarm, options, d) {
                Dep::Done => {}
                Dep::Pending => pending.push(d.clone()),
                Dep::NeedsCoordinator(why) => coordinator = coordinator.or(Some(why)),
                Dep::Dead(_) => unreachable!("blocked above"),
            }
        }
        let wait = if let Some(why) = coordinator {
            Some(Wait::Coordinator(why))
        } else if !pending.is_empty() {
            Some(Wait::Dependencies(pending))
        } else if q.not_before > now {
            Some(Wait::Backoff {
                until: q.not_before,
            })
        } else if let Some(why) = &hold {
            Some(Wait::Machine(why.clone()))
        } else if let Some((other, paths)) =
            file_conflict(swarm, options, bead, &q.request.files, now).or_else(|| {
                // Beads this round starts hold their files as running ones do.
                let held = options.on_file_conflict != crate::api::FileConflict::Allow;
                starting.iter().filter(|_| held).find_map(|(b, files)| {
                    let paths = crate::glob::overlaps(&q.request.files, files);
                    (!paths.is_empty()).then(|| (b.clone(), paths))
                })
            })
        {
            Some(Wait::Files { bead: other, paths })
        } else if total >= options.max_running {
            Some(Wait::Slot {
                running: total,
                limit: options.max_running,
            })
        } else if let Some(why) = (!options.servers.is_empty())
            .then(|| best_server(swarm, options, &load).err())
            .flatten()
        {
            Some(Wait::Servers(why))
        } else {
            let keys = model_keys(q.request.model.as_deref());
            keys.iter()
                .find_map(|k| {
                    let limit = *options.max_running_per_model.get(k)?;
                    let running = per_key.get(k).copied().unwrap_or(0);
                    (running >= limit).then(|| Wait::ModelSlot {
                        key: k.clone(),
                        running,
                        limit,
                    })
                })
                .or_else(|| {
                    total += 1;
                    for k in keys {
                        *per_key.entry(k).or_insert(0) += 1;
                    }
                    if let Ok(i) = best_server(swarm, options, &load) {
                        load[i] += 1;
                        plan.placed
                            .push((bead.clone(), options.servers[i].url.clone()));
                    }
                    None
                })
        };
        match wait {
            None => {
                starting.push((bead.clone(), q.request.files.clone()));
                plan.start.push(bead.clone());
            }
            Some(w) => {
                let next = match &w {
                    Wait::Backoff { until } => Some(*until),
                    Wait::Machine(_) => Some(now + MACHINE_RECHECK_MS),
                    // A slot held by a finishing worker frees by itself at the latest then.
                    Wait::Slot { .. } | Wait::ModelSlot { .. } | Wait::Servers(_) => swarm
                        .workers()
                        .filter_map(finishing_until)
                        .filter(|&until| until > now)
                        .min(),
                    _ => None,
                };
                plan.wake_at = match (plan.wake_at, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                plan.waits.push((bead.clone(), w));
            }
        }
    }
    plan
}

/// The `worker_blocked` events a plan calls for.
pub fn blocked_events(swarm: &Swarm, plan: &Plan) -> Vec<EventBody> {
    plan.block
        .iter()
        .filter_map(|(bead, why)| {
            let q = swarm.queued(bead)?;
            Some(EventBody::WorkerBlocked(WorkerNote {
                session_id: String::new(),
                bead_id: bead.clone(),
                epic_id: q.request.epic_id.clone(),
                reason: why.clone(),
            }))
        })
        .collect()
}

/// The wait before attempt `attempt` (2 for the first retry): the base, doubled per retry.
pub fn backoff(options: &Options, attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(2).min(20);
    options
        .retry_backoff_ms
        .saturating_mul(1 << doublings)
        .min(options.max_retry_backoff_ms)
}

/// A retry for every failed bead the policy starts again and that is not queued yet.
pub fn retries(swarm: &Swarm, options: &Options, now: u64) -> Vec<EventBody> {
    swarm
        .workers()
        .filter(|w| {
            swarm
                .bead(&w.bead_id)
                .is_some_and(|l| l.session_id == w.session_id)
        })
        .filter(|w| will_retry(w, options) && swarm.queued(&w.bead_id).is_none())
        .map(|w| {
            let attempt = w.attempt + 1;
            EventBody::WorkerRetried(WorkerRetried {
                bead_id: w.bead_id.clone(),
                epic_id: w.epic_id.clone(),
                attempt,
                previous_session_id: w.session_id.clone(),
                reason: w.error.clone().unwrap_or_else(|| "failed".into()),
                not_before: now + backoff(options, attempt),
            })
        })
        .chain(
            swarm
                .queue()
                .filter(|q| start_will_retry(q, options))
                .map(|q| {
                    let attempt = q.attempt + 1;
                    let QueueState::Failed { error, .. } = &q.state else {
                        unreachable!("start_will_retry holds only for failed starts")
                    };
                    EventBody::WorkerRetried(WorkerRetried {
                        bead_id: q.request.bead_id.clone(),
                        epic_id: q.request.epic_id.clone(),
                        attempt,
                        // None: the attempt before never had a session.
                        previous_session_id: String::new(),
                        reason: error.clone(),
                        not_before: now + backoff(options, attempt),
                    })
                }),
        )
        .collect()
}

/// Running workers with no activity for `stall_after_ms`, and the next moment one may stall.
pub fn stalled<'a>(
    swarm: &'a Swarm,
    options: &Options,
    now: u64,
) -> (Vec<&'a Worker>, Option<u64>) {
    if options.stall_after_ms == 0 {
        return (Vec::new(), None);
    }
    let mut next: Option<u64> = None;
    let mut out = Vec::new();
    for w in swarm
        .workers()
        .filter(|w| w.state.is_active() && reachable(w, options))
    {
        let deadline = w.last_activity_at + options.stall_after_ms;
        if deadline <= now {
            out.push(w);
        } else {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        }
    }
    (out, next)
}

/// Whether an instance with these options reaches a worker's session: one on its own server,
/// or on a server of its `servers` option. Another instance (other options, the same log)
/// leaves the worker to the instances that placed it.
pub fn reachable(w: &Worker, options: &Options) -> bool {
    w.server
        .as_deref()
        .is_none_or(|url| options.servers.iter().any(|s| s.url == url))
}

/// Whether a stalled worker is failed as retryable (the policy may start it again).
pub fn stall_is_retryable(options: &Options) -> bool {
    options.on_stall == StallPolicy::Retry
}

/// The chain of dependencies that leads from `deps` back to `bead` through beads still
/// waiting, as `a -> b -> a`, if the new edges close a cycle.
pub fn cycle(swarm: &Swarm, bead: &str, deps: &[String]) -> Option<String> {
    fn edges<'a>(swarm: &'a Swarm, b: &str) -> &'a [String] {
        match swarm.queued(b) {
            Some(q) if q.state == QueueState::Waiting => &q.request.dependencies,
            _ => &[],
        }
    }
    fn walk(
        swarm: &Swarm,
        target: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut Vec<String>,
    ) -> bool {
        if at == target {
            return true;
        }
        if seen.iter().any(|s| s == at) {
            return false;
        }
        seen.push(at.to_string());
        for next in edges(swarm, at) {
            path.push(next.clone());
            if walk(swarm, target, next, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut seen = Vec::new();
    for d in deps {
        let mut path = vec![bead.to_string(), d.clone()];
        if walk(swarm, bead, d, &mut path, &mut seen) {
            return Some(path.join(" -> "));
        }
    }
    None
}

/// Why a dependency will never complete by itself, if that is so.
pub fn dead_dependency(swarm: &Swarm, options: &Options, bead: &str) -> Option<String> {
    match dependency(swarm, options, bead) {
        Dep::Dead(why) => Some(why),
        _ => None,
    }
}
