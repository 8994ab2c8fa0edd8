//! `swarm_cancel`: stops a bead's or an epic's workers. Queued beads leave the queue; running
//! sessions are recorded cancelled first (so their abort is not taken for a failure) and then
//! aborted; their slots free at once and their dependents are blocked by the next drain.
//! A coordinator session that is aborted or deleted cancels its own workers the same way.
use super::Apiary;
use crate::api::{CancelArgs, Reply};
use crate::error::ToolError;
use crate::event::{EventBody, Payload, WorkerCancelled};
use crate::host::Host;
use crate::ids::{check_id, check_text};
use crate::projection::{QueueState, Swarm, WorkerState};

const REASON_CHARS: usize = 500;

/// Which beads a cancel names.
#[derive(Debug, Clone)]
enum Target {
    Bead(String),
    Epic(String),
    /// Every worker started by this coordinator session.
    Coordinator(String),
}

/// The cancel records for every live bead of the target.
fn cancels(swarm: &Swarm, target: &Target, reason: &str) -> Vec<EventBody> {
    let beads: Vec<String> = match target {
        Target::Bead(b) => vec![b.clone()],
        Target::Epic(e) => swarm.epic_beads(e).to_vec(),
        Target::Coordinator(parent) => {
            let mut beads: Vec<String> = Vec::new();
            let candidates = swarm
                .workers()
                .filter(|w| w.parent_session_id.as_deref() == Some(parent.as_str()))
                .map(|w| &w.bead_id)
                .chain(
                    swarm
                        .waiting()
                        .filter(|q| q.request.parent_session_id.as_deref() == Some(parent))
                        .map(|q| &q.request.bead_id),
                );
            for b in candidates {
                if !beads.contains(b) {
                    beads.push(b.clone());
                }
            }
            beads
        }
    };
    let mut out = Vec::new();
    for bead in beads {
        let cancel = |session_id: String, epic_id: String| {
            EventBody::WorkerCancelled(WorkerCancelled {
                session_id,
                bead_id: bead.clone(),
                epic_id,
                reason: reason.to_string(),
            })
        };
        if let Some(q) = swarm.queued(&bead) {
            if q.state == QueueState::Waiting {
                out.push(cancel(String::new(), q.request.epic_id.clone()));
            }
            continue;
        }
        if let Some(w) = swarm.bead(&bead) {
            // A worker that needs review is only cancelled when named: an epic's or a
            // coordinator's cancel stops what runs and what waits.
            let named = matches!(target, Target::Bead(_));
            let live = w.state.is_active()
                || (named && matches!(w.state, WorkerState::Idle | WorkerState::Interrupted));
            if live {
                out.push(cancel(w.session_id.clone(), w.epic_id.clone()));
            }
        }
    }
    out
}

impl<H: Host> Apiary<H> {
    pub async fn cancel(&self, args: &CancelArgs) -> Result<Reply, ToolError> {
        self.widen();
        let target = match (&args.bead_id, &args.epic_id) {
            (Some(b), None) => {
                check_id("bead_id", b)?;
                Target::Bead(b.clone())
            }
            (None, Some(e)) => {
                check_id("epic_id", e)?;
                Target::Epic(e.clone())
            }
            _ => {
                return Err(ToolError::invalid(
                    "bead_id",
                    "give exactly one of bead_id and epic_id",
                ))
            }
        };
        if let Some(r) = &args.reason {
            check_text("reason", r, REASON_CHARS, false)?;
        }
        let reason = args
            .reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "cancelled by the coordinator".into());
        self.refresh().await?;
        {
            let swarm = self.log().swarm();
            let known = match &target {
                Target::Bead(b) => swarm.bead(b).is_some() || swarm.queued(b).is_some(),
                Target::Epic(e) => !swarm.epic_beads(e).is_empty(),
                Target::Coordinator(_) => true,
            };
            if !known {
                return Err(ToolError::Refused(match &target {
                    Target::Bead(b) => format!("no bead {b} was spawned or queued"),
                    Target::Epic(e) => format!("no worker was spawned or queued for epic {e}"),
                    Target::Coordinator(_) => unreachable!(),
                }));
            }
        }
        let (running, queued) = self.cancel_target(target, &reason).await?;
        let total = running.len() + queued.len();
        let mut output = format!("cancelled {total}");
        if total == 0 {
            output = "nothing to cancel: every worker named had already finished".into();
        } else {
            if !running.is_empty() {
                output.push_str(&format!("; stopped: {}", running.join(", ")));
            }
            if !queued.is_empty() {
                output.push_str(&format!("; taken off the queue: {}", queued.join(", ")));
            }
        }
        Ok(Reply {
            title: format!("cancelled {total}"),
            output,
        })
    }

    /// A coordinator session was aborted or deleted: its workers go with it (option
    /// `cancel_with_coordinator`).
    pub(super) async fn cancel_for_coordinator(
        &self,
        session: &str,
        why: &str,
    ) -> Result<(), ToolError> {
        if !self.options.cancel_with_coordinator {
            return Ok(());
        }
        let target = Target::Coordinator(session.to_string());
        if cancels(&self.log().swarm(), &target, why).is_empty() {
            return Ok(());
        }
        self.cancel_target(target, why).await.map(drop)
    }

    /// Records the cancels, aborts the running sessions, then lets the scheduler fill the
    /// freed slots. Returns the beads stopped and those taken off the queue.
    async fn cancel_target(
        &self,
        target: Target,
        reason: &str,
    ) -> Result<(Vec<String>, Vec<String>), ToolError> {
        let reason = reason.to_string();
        let recorded = self
            .log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                cancels(swarm, &target, &reason)
            })
            .await?;
        let (mut running, mut queued) = (Vec::new(), Vec::new());
        for event in recorded {
            let Payload::Known(EventBody::WorkerCancelled(c)) = event.payload else {
                continue;
            };
            if c.session_id.is_empty() {
                queued.push(c.bead_id);
                continue;
            }
            let (server, dir) = self
                .log()
                .swarm()
                .session(&c.session_id)
                .map(|w| (w.server.clone(), w.directory.clone()))
                .unwrap_or_default();
            // A session already idle or gone needs no abort; the record stands either way.
            let _ = self
                .host
                .abort_session(&c.session_id, server.as_deref(), dir.as_deref())
                .await;
            running.push(c.bead_id);
        }
        self.drain().await?;
        Ok((running, queued))
    }
}
