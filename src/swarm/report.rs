//! How a worker is shown to the coordinator: compact lines, one per worker.
use std::fmt::Write;

use crate::api::{AwaitOutcome, Options, PollReport, WorkerView};
use crate::event::CompletionStatus;
use crate::projection::{QueueState, Queued, Worker, WorkerState};
use crate::schedule::{start_will_retry, Plan, Wait};
use crate::text::{duration, excerpt, spent};

/// Excerpt lengths that keep a poll of 20 workers around 2 KB.
const NOTE_CHARS: usize = 72;
pub(crate) const MESSAGE_CHARS: usize = 56;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Completed,
    InProgress,
    Failed,
    Pending,
}

pub(crate) fn group(state: WorkerState) -> Group {
    match state {
        WorkerState::Starting => Group::Pending,
        WorkerState::Running => Group::InProgress,
        WorkerState::Idle | WorkerState::Completed(CompletionStatus::Success) => Group::Completed,
        WorkerState::Completed(_)
        | WorkerState::Failed
        | WorkerState::Cancelled
        | WorkerState::Interrupted => Group::Failed,
    }
}

/// The verify gate's word on a worker: `verified`, or `verify failed N/M` (M: rounds allowed).
fn verify_word(w: &Worker, rounds: u32) -> Option<String> {
    match w.verified()? {
        true => Some("verified".into()),
        false => Some(format!("verify failed {}/{rounds}", w.verify_failures())),
    }
}

pub(crate) fn view(w: &Worker, now: u64, verify_rounds: u32) -> WorkerView {
    let note = match w.state {
        // Explained once in a footer rather than on every line.
        WorkerState::Idle => None,
        WorkerState::Failed | WorkerState::Cancelled => w.error.clone(),
        WorkerState::Interrupted => {
            Some("turn cut off by a server restart; not resumed (policy off)".into())
        }
        WorkerState::Starting if w.interruptions > 0 => Some(format!(
            "resumed after {} interrupted turn(s)",
            w.interruptions
        )),
        _ => w.summary.clone().or_else(|| w.progress_message.clone()),
    };
    WorkerView {
        bead_id: w.bead_id.clone(),
        session_id: w.session_id.clone(),
        title: w.title.clone(),
        state: w.state.name().to_string(),
        attempt: w.attempt,
        elapsed_ms: w.ended_at.unwrap_or(now).saturating_sub(w.spawned_at),
        progress_percent: w.progress_percent,
        note,
        files_touched: w.files_touched.clone(),
        last_message: None,
        verify: verify_word(w, verify_rounds),
        // A worker whose replies spent nothing (a provider that refused them) shows no figure.
        spent: w
            .usage
            .as_ref()
            .filter(|u| u.tokens() > 0 || u.cost_micros > 0)
            .map(|u| spent(u.tokens(), u.cost_micros)),
    }
}

/// A bead in the queue: waiting (`queued`, or `waiting` when only the coordinator can move it
/// on), or never started and `blocked`, `cancelled` or `failed` (a start that failed and is
/// not retried; one the policy retries is `queued` until its retry is recorded).
pub(crate) fn queued_view(
    q: &Queued,
    plan: &Plan,
    options: &Options,
    now: u64,
) -> (WorkerView, Group) {
    let (state, note, group) = match &q.state {
        QueueState::Waiting => {
            let bead = &q.request.bead_id;
            let wait = plan.wait(bead);
            if wait.is_none() && plan.start.contains(bead) {
                // Its worker is being prepared: shown as a worker that has not run yet.
                return queued_row(q, "starting", None, Group::Pending, now);
            }
            let state = match wait {
                Some(Wait::Coordinator(_)) => "waiting",
                _ => "queued",
            };
            let why = wait.map_or_else(|| "starting".to_string(), |w| w.describe(now));
            let note = match plan.position(bead) {
                Some(p) => format!("#{p}: {why}"),
                None => why,
            };
            (state, note, Group::Pending)
        }
        QueueState::Blocked(why) => ("blocked", why.clone(), Group::Failed),
        QueueState::Cancelled(why) => ("cancelled", why.clone(), Group::Failed),
        QueueState::Failed { error, .. } if start_will_retry(q, options) => {
            ("queued", format!("retrying: {error}"), Group::Pending)
        }
        QueueState::Failed { error, .. } => ("failed", error.clone(), Group::Failed),
    };
    queued_row(q, state, Some(note), group, now)
}

fn queued_row(
    q: &Queued,
    state: &str,
    note: Option<String>,
    group: Group,
    now: u64,
) -> (WorkerView, Group) {
    let view = WorkerView {
        bead_id: q.request.bead_id.clone(),
        session_id: q.previous_session_id.clone().unwrap_or_default(),
        title: q.request.title.clone(),
        state: state.to_string(),
        attempt: q.attempt,
        elapsed_ms: now.saturating_sub(q.queued_at),
        progress_percent: None,
        note,
        files_touched: Vec::new(),
        last_message: None,
        verify: None,
        spent: None,
    };
    (view, group)
}

/// The state of a running worker that asked the coordinator and waits for its answer.
pub(crate) const ASKING: &str = "blocked";

/// Whether a pending or in-progress line will move on without the coordinator (await waits
/// for it): not a bead waiting on a review or a spawn, not a worker waiting for an answer.
pub(crate) fn moves_by_itself(v: &WorkerView) -> bool {
    v.state != "waiting" && v.state != ASKING
}

/// The lines an await still waits for.
pub(crate) fn still_moving(report: &PollReport) -> usize {
    report
        .in_progress
        .iter()
        .chain(&report.pending)
        .filter(|v| moves_by_itself(v))
        .count()
}

/// Fills in `summary`, `title` and `output` from the groups.
pub(crate) fn render(report: &mut PollReport) {
    // Workers that ended without reporting are grouped with the completed but counted apart,
    // so a coordinator reading only the counts is not told they all succeeded.
    let review = report
        .completed
        .iter()
        .filter(|w| w.state == "needs_review")
        .count();
    let counts = format!(
        "{} completed{}, {} in progress, {} failed, {} pending",
        report.completed.len(),
        if review > 0 {
            format!(" ({review} needs review)")
        } else {
            String::new()
        },
        report.in_progress.len(),
        report.failed.len(),
        report.pending.len()
    );
    report.title = format!("epic {}: {counts}", report.epic_id);
    let mut out = headline(report);
    let _ = writeln!(
        out,
        "epic {}: {} worker{}: {counts}",
        report.epic_id,
        report.total,
        if report.total == 1 { "" } else { "s" }
    );
    if let Some(s) = &report.spent {
        let _ = writeln!(out, "spent: {s}");
    }
    if let Some(w) = &report.warning {
        let _ = writeln!(out, "warning: {w}");
    }
    for (name, list) in [
        ("completed", &report.completed),
        ("in progress", &report.in_progress),
        ("failed", &report.failed),
        ("pending", &report.pending),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{name}:");
        for w in list {
            line(&mut out, w);
        }
    }
    if report.completed.iter().any(|w| w.state == "needs_review") {
        out.push_str("needs_review: ended its turn without swarm_complete; read its session\n");
    }
    report.summary = counts;
    report.output = out.trim_end().to_string();
}

/// What `swarm_await_workers` says before the groups: how the wait ended.
fn headline(report: &PollReport) -> String {
    let Some(outcome) = report.outcome else {
        return String::new();
    };
    let waited = duration(report.waited_ms.unwrap_or(0));
    let running = still_moving(report);
    let on_you = report.in_progress.len() + report.pending.len() - running;
    match outcome {
        AwaitOutcome::Done if on_you == 0 => {
            format!("done: no worker running (waited {waited})\n")
        }
        AwaitOutcome::Done => format!(
            "done: no worker running (waited {waited}); {on_you} wait on you (blocked or \
             waiting)\n"
        ),
        AwaitOutcome::TimedOut => format!(
            "timed out after {waited}: {running} still running; call swarm_await_workers again \
             to keep waiting\n"
        ),
        AwaitOutcome::Interrupted => {
            format!("interrupted after {waited}: {running} still running in the background\n")
        }
    }
}

fn line(out: &mut String, w: &WorkerView) {
    let _ = write!(out, "  {} {}", w.bead_id, w.state);
    if let Some(p) = w.progress_percent.filter(|_| w.state == "running") {
        let _ = write!(out, " {p}%");
    }
    let _ = write!(out, " {}", duration(w.elapsed_ms));
    if w.attempt > 1 {
        let _ = write!(out, " attempt {}", w.attempt);
    }
    if let Some(v) = &w.verify {
        let _ = write!(out, " ({v})");
    }
    if let Some(s) = &w.spent {
        let _ = write!(out, " {s}");
    }
    if let Some(n) = &w.note {
        let _ = write!(out, ": {}", excerpt(n, NOTE_CHARS));
    }
    out.push('\n');
    if let Some(m) = &w.last_message {
        let _ = writeln!(out, "    last: {m}");
    }
}
