//! Waking the coordinator (option `wake_coordinator`, on by default): when workers finish,
//! their coordinator's session gets one short message naming them, recorded in the log so it
//! is sent exactly once by whichever instance wins the record, and sent only while that
//! session is idle, as this instance saw it on the event stream. A busy coordinator gets it at
//! its next idle; a poll or await that already showed the workers counts as told.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::Apiary;
use crate::api::{AwaitArgs, CallContext, Options, PollArgs, PollReport};
use crate::error::ToolError;
use crate::event::{CoordinatorNotified, EventBody, Payload};
use crate::host::{Host, ServerEvent, SessionStatus};
use crate::projection::{Swarm, Worker, WorkerState};
use crate::schedule::will_retry;
use crate::text::spent;

/// Workers named in one message at most; the rest are counted.
const NAMED: usize = 12;

/// A coordinator's reply still unfinished this long after it began, while its session is not
/// busy, was cut off: a restart stops turns without marking their last reply. (A reply just
/// begun may not show busy yet; none is this old.)
const CUT_OFF_MS: u64 = 5_000;

/// Whether a worker's end is news for its coordinator: it is the bead's latest attempt and
/// no retry of it is queued (a failure the scheduler retries is not news yet).
fn finished(swarm: &Swarm, options: &Options, w: &Worker) -> bool {
    // A cancel is never news: the coordinator asked for it, or was itself stopped (woken, it
    // would start the turn its user just stopped).
    // A worker that asks its coordinator something is announced by its message (`mail`), not
    // as finished: told "finished", a coordinator reviews or respawns it instead of answering.
    !w.notified
        && w.asks.is_none()
        && w.state != WorkerState::Cancelled
        && !will_retry(w, options)
        && !w.state.is_active()
        && w.parent_session_id.is_some()
        && swarm.bead(&w.bead_id).map(|l| &l.session_id) == Some(&w.session_id)
        && swarm.queued(&w.bead_id).is_none()
}

/// Finished workers not yet reported, per coordinator session.
fn untold<'a>(swarm: &'a Swarm, options: &Options) -> BTreeMap<String, Vec<&'a Worker>> {
    let mut by_parent: BTreeMap<String, Vec<&Worker>> = BTreeMap::new();
    for w in swarm.workers().filter(|w| finished(swarm, options, w)) {
        if let Some(parent) = &w.parent_session_id {
            by_parent.entry(parent.clone()).or_default().push(w);
        }
    }
    by_parent
}

/// The record that `parent` was told about these workers, if any is still untold.
fn notice(
    swarm: &Swarm,
    options: &Options,
    parent: &str,
    via: &str,
    only: Option<&[String]>,
) -> Vec<EventBody> {
    let workers: Vec<String> = untold(swarm, options)
        .remove(parent)
        .unwrap_or_default()
        .into_iter()
        .filter(|w| only.is_none_or(|o| o.contains(&w.session_id)))
        .map(|w| w.session_id.clone())
        .collect();
    if workers.is_empty() {
        return Vec::new();
    }
    vec![EventBody::CoordinatorNotified(CoordinatorNotified {
        session_id: parent.to_string(),
        workers,
        via: via.to_string(),
    })]
}

/// The message: which workers finished, how, per epic, and the call that shows the details.
fn message(swarm: &Swarm, workers: &[String]) -> String {
    let ws: Vec<&Worker> = workers.iter().filter_map(|s| swarm.session(s)).collect();
    let mut text = String::from("[apiary] workers finished:");
    let mut named = 0;
    let mut epics: Vec<&str> = ws.iter().map(|w| w.epic_id.as_str()).collect();
    epics.sort_unstable();
    epics.dedup();
    for epic in epics {
        let mine: Vec<String> = ws
            .iter()
            .filter(|w| w.epic_id == epic)
            .map(|w| format!("{} {}", w.bead_id, w.state.name()))
            .collect();
        let shown = mine.len().min(NAMED.saturating_sub(named));
        named += shown;
        let _ = write!(text, "\nepic {epic}: {}", mine[..shown].join(", "));
        if shown < mine.len() {
            let _ = write!(
                text,
                "{}and {} more",
                if shown > 0 { ", " } else { "" },
                mine.len() - shown
            );
        }
        if let Some(u) = swarm.epic_usage(epic) {
            let _ = write!(text, "; epic spent {}", spent(u.tokens(), u.cost_micros));
        }
        let _ = write!(
            text,
            ". Details: swarm_poll_workers {{\"epic_id\":\"{epic}\"}}"
        );
    }
    text
}

/// Workers finishing within this of each other go in one message: each message is a model
/// turn of the coordinator.
const QUIET_MS: u64 = 2_000;
/// A message is held for later finishes at most this long after the first it names.
const HOLD_MS: u64 = 10_000;

/// When the message about these finished workers is due: once none has finished for
/// `QUIET_MS`, or `HOLD_MS` after the first.
fn due(workers: &[&Worker]) -> u64 {
    let ends = workers
        .iter()
        .map(|w| w.ended_at.unwrap_or(w.last_activity_at));
    let (first, last) = ends.fold((u64::MAX, 0), |(f, l), e| (f.min(e), l.max(e)));
    (last + QUIET_MS).min(first + HOLD_MS)
}

impl<H: Host> Apiary<H> {
    /// Follows sessions' busy and idle from the event stream; a coordinator going idle is
    /// the moment to tell it about finished workers.
    pub(super) async fn track_activity(&self, event: &ServerEvent) -> Result<(), ToolError> {
        let (session, busy) = match event {
            ServerEvent::Status { session_id, status } => {
                (session_id, !matches!(status, SessionStatus::Idle))
            }
            ServerEvent::Idle { session_id } | ServerEvent::Error { session_id, .. } => {
                (session_id, false)
            }
            ServerEvent::Deleted { session_id } => {
                self.busy.borrow_mut().remove(session_id);
                self.beats.borrow_mut().remove(session_id);
                return Ok(());
            }
            ServerEvent::Activity { .. } => return Ok(()),
        };
        self.busy.borrow_mut().insert(session.clone(), busy);
        if !busy {
            self.tell_idle().await?;
            self.tell_messages().await?;
            // A worker between turns gets the urgent messages that waited for its turn to end.
            let bead = self
                .log()
                .swarm()
                .session(session)
                .map(|w| w.bead_id.clone());
            if let Some(bead) = bead {
                self.deliver_urgent(&bead).await?;
            }
        }
        Ok(())
    }

    /// After a restart no event has shown this instance its coordinators idle or busy: asks the
    /// server, and tells those found idle (absent from their instance's status map, last reply
    /// finished). What was learnt is forgotten after: a coordinator in another instance sends
    /// its events there, so only the event stream may keep a state here.
    async fn tell_unseen_coordinators(&self) -> Result<u32, ToolError> {
        if !self.options.wake_coordinator {
            return Ok(0);
        }
        let mut learnt = Vec::new();
        let unknown: Vec<(String, Option<String>)> = untold(&self.log().swarm(), &self.options)
            .into_iter()
            .filter(|(_, ws)| self.tells(ws))
            .filter(|(parent, _)| !self.busy.borrow().contains_key(parent))
            .map(|(parent, ws)| (parent, ws[0].parent_directory.clone()))
            .collect();
        for (parent, dir) in unknown {
            let Ok(map) = self.host.status_map(None, dir.as_deref()).await else {
                continue;
            };
            if map.contains_key(&parent) {
                continue;
            }
            let Ok(messages) = self.host.messages(&parent, None, dir.as_deref(), 1).await else {
                continue;
            };
            let now = self.host.now_ms();
            let finished = messages.last().is_some_and(|m| {
                m.is_assistant()
                    && (m.info.time.completed.is_some()
                        || m.info.error.is_some()
                        || m.info.time.created.is_some_and(|c| now >= c + CUT_OFF_MS))
            });
            if finished && !self.busy.borrow().contains_key(&parent) {
                self.busy.borrow_mut().insert(parent.clone(), false);
                learnt.push(parent);
            }
        }
        if learnt.is_empty() {
            return Ok(0);
        }
        let told = self.tell_idle().await;
        for parent in learnt {
            self.busy.borrow_mut().remove(&parent);
        }
        told
    }

    /// Sends each idle coordinator one message about its finished, untold workers: those this
    /// instance saw idle, then those it has not seen at all (after a restart) if the server
    /// shows them idle. Returns the messages sent.
    pub async fn tell_coordinators(&self) -> Result<u32, ToolError> {
        let sent = self.tell_idle().await?;
        let unseen = self.tell_unseen_coordinators().await?;
        Ok(sent + unseen + self.tell_messages().await?)
    }

    async fn tell_idle(&self) -> Result<u32, ToolError> {
        if !self.options.wake_coordinator {
            return Ok(0);
        }
        self.refresh().await?;
        let now = self.host.now_ms();
        let mut held: Option<u64> = None;
        let idle: Vec<(String, Option<String>)> = untold(&self.log().swarm(), &self.options)
            .into_iter()
            .filter(|(_, ws)| self.tells(ws))
            .filter(|(parent, _)| self.busy.borrow().get(parent) == Some(&false))
            .filter(|(_, ws)| {
                let at = due(ws);
                if at > now {
                    held = Some(held.map_or(at, |h| h.min(at)));
                }
                at <= now
            })
            .map(|(parent, ws)| (parent, ws[0].parent_directory.clone()))
            .collect();
        // The duties' loop wakes for a held message (`tell_wait`).
        self.tell_due.set(held);
        let mut sent = 0;
        for (parent, directory) in idle {
            let recorded = self
                .log()
                .append_with(&self.host, self.host.now_ms(), {
                    let (parent, options) = (parent.clone(), self.options.clone());
                    move |swarm| notice(swarm, &options, &parent, "message", None)
                })
                .await?;
            let Some(Payload::Known(EventBody::CoordinatorNotified(n))) =
                recorded.into_iter().next().map(|e| e.payload)
            else {
                continue;
            };
            let text = message(&self.log().swarm(), &n.workers);
            // Recorded first, so a failure here never sends it twice; the coordinator can
            // still poll. The server's refusal is not the workers' failure.
            if self.prompt_coordinator(&parent, directory, text).await {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Whether this instance tells the coordinator of `workers` about them: a worker's instance,
    /// which folds only its part of the swarm, tells only the coordinators it started workers
    /// from (its own sessions); one message must name every finished worker, so the others are
    /// told by an instance with the whole swarm, their own coordinator's.
    fn tells(&self, workers: &[&Worker]) -> bool {
        match self.log().swarm().scope() {
            None => true,
            Some(home) => workers[0].parent_directory.as_deref() == Some(home),
        }
    }

    /// How long until a message held back for later finishes is due, if one is.
    pub(super) fn tell_wait(&self) -> Option<u64> {
        let due = self.tell_due.get()?;
        Some(due.saturating_sub(self.host.now_ms()).max(1))
    }

    /// A poll or await by the coordinator has shown it these workers: no message needed.
    pub(super) async fn told_by_tool(
        &self,
        caller: &str,
        shown: Vec<String>,
    ) -> Result<(), ToolError> {
        if caller.is_empty()
            || notice(
                &self.log().swarm(),
                &self.options,
                caller,
                "tool",
                Some(&shown),
            )
            .is_empty()
        {
            return Ok(());
        }
        let (caller, options) = (caller.to_string(), self.options.clone());
        self.log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                notice(swarm, &options, &caller, "tool", Some(&shown))
            })
            .await?;
        Ok(())
    }

    /// `swarm_poll_workers` as the coordinator calls it: what the report shows it counts as
    /// told.
    pub async fn poll_from(
        &self,
        ctx: &CallContext,
        args: &PollArgs,
    ) -> Result<PollReport, ToolError> {
        self.widen();
        let report = self.poll(args).await?;
        self.told_by_tool(&ctx.session_id, shown(&report)).await?;
        Ok(report)
    }

    /// `swarm_await_workers` as the coordinator calls it (see `poll_from`).
    pub async fn await_from(
        &self,
        ctx: &CallContext,
        args: &AwaitArgs,
        aborted: impl std::future::Future<Output = ()>,
    ) -> Result<PollReport, ToolError> {
        let report = self.await_workers(args, aborted).await?;
        self.told_by_tool(&ctx.session_id, shown(&report)).await?;
        Ok(report)
    }
}

/// The finished workers a report put in front of the coordinator.
fn shown(report: &PollReport) -> Vec<String> {
    report
        .completed
        .iter()
        .chain(&report.failed)
        .map(|v| v.session_id.clone())
        .collect()
}
