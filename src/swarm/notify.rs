//! Waking the coordinator (option `wake_coordinator`, on by default): when workers finish,
//! their coordinator's session gets one short message naming them, recorded in the log so it
//! is sent exactly once by whichever instance wins the record, and sent only while that
//! session is idle, as this instance saw it on the event stream. A busy coordinator gets it at
//! its next idle; a poll or await that already showed the workers counts as told.
use std::collections::BTreeMap;

use super::report::state_name;
use super::Apiary;
use crate::api::{AwaitArgs, CallContext, PollArgs, PollReport};
use crate::error::ToolError;
use crate::event::{CoordinatorNotified, EventBody, Payload};
use crate::host::{Host, PromptRequest, ServerEvent, SessionStatus};
use crate::projection::{Swarm, Worker};

/// Workers named in one message at most; the rest are counted.
const NAMED: usize = 12;

/// Whether a worker's end is news for its coordinator.
fn finished(w: &Worker) -> bool {
    !w.notified && !w.state.is_active() && w.parent_session_id.is_some()
}

/// Finished workers not yet reported, per coordinator session.
fn untold(swarm: &Swarm) -> BTreeMap<String, Vec<&Worker>> {
    let mut by_parent: BTreeMap<String, Vec<&Worker>> = BTreeMap::new();
    for w in swarm.workers().filter(|w| finished(w)) {
        if let Some(parent) = &w.parent_session_id {
            by_parent.entry(parent.clone()).or_default().push(w);
        }
    }
    by_parent
}

/// The record that `parent` was told about these workers, if any is still untold.
fn notice(swarm: &Swarm, parent: &str, via: &str, only: Option<&[String]>) -> Vec<EventBody> {
    let workers: Vec<String> = untold(swarm)
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

/// The message: which workers finished, how, and what to call next.
fn message(swarm: &Swarm, workers: &[String]) -> String {
    let ws: Vec<&Worker> = workers.iter().filter_map(|s| swarm.session(s)).collect();
    let mut text = format!("[apiary] {} worker(s) finished: ", ws.len());
    let named: Vec<String> = ws
        .iter()
        .take(NAMED)
        .map(|w| format!("{} {} (epic {})", w.bead_id, state_name(w.state), w.epic_id))
        .collect();
    text.push_str(&named.join(", "));
    if ws.len() > NAMED {
        text.push_str(&format!(", and {} more", ws.len() - NAMED));
    }
    text.push_str(". Details: swarm_poll_workers { epic_id }.");
    text
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
                return Ok(());
            }
        };
        self.busy.borrow_mut().insert(session.clone(), busy);
        if !busy {
            self.tell_coordinators().await?;
        }
        Ok(())
    }

    /// Sends each idle coordinator one message about its finished, untold workers.
    pub async fn tell_coordinators(&self) -> Result<u32, ToolError> {
        if !self.options.wake_coordinator {
            return Ok(0);
        }
        self.refresh().await?;
        let idle: Vec<String> = untold(&self.log.swarm())
            .into_keys()
            .filter(|parent| self.busy.borrow().get(parent) == Some(&false))
            .collect();
        let mut sent = 0;
        for parent in idle {
            let recorded = self
                .log
                .append_with(&self.host, self.host.now_ms(), {
                    let parent = parent.clone();
                    move |swarm| notice(swarm, &parent, "message", None)
                })
                .await?;
            let Some(Payload::Known(EventBody::CoordinatorNotified(n))) =
                recorded.into_iter().next().map(|e| e.payload)
            else {
                continue;
            };
            let text = message(&self.log.swarm(), &n.workers);
            let request = PromptRequest {
                session_id: parent.clone(),
                directory: None,
                text,
                agent: None,
                model: None,
            };
            // Recorded first, so a failure here never sends it twice; the coordinator can
            // still poll. The server's refusal is not the workers' failure.
            if self.host.prompt_async(&request).await.is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// A poll or await by the coordinator has shown it these workers: no message needed.
    pub(super) async fn told_by_tool(
        &self,
        caller: &str,
        shown: Vec<String>,
    ) -> Result<(), ToolError> {
        if caller.is_empty() || notice(&self.log.swarm(), caller, "tool", Some(&shown)).is_empty() {
            return Ok(());
        }
        let caller = caller.to_string();
        self.log
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                notice(swarm, &caller, "tool", Some(&shown))
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
