//! Cleanup of finished workers' sessions: deleted `session_retention_ms` after the worker
//! finished, or sooner, oldest first, beyond `max_sessions_kept`. Workers that need review or
//! were interrupted keep theirs (someone still has to read them); the log keeps every record.
use super::Apiary;
use crate::api::Options;
use crate::error::ToolError;
use crate::event::{EventBody, WorkerNote};
use crate::host::Host;
use crate::projection::{Swarm, Worker};
use crate::text::order_by;

/// Finished workers whose session is still on a server this instance reaches, oldest end
/// first.
fn kept<'a>(swarm: &'a Swarm, options: &Options) -> Vec<&'a Worker> {
    let mut ws: Vec<&Worker> = swarm
        .workers()
        .filter(|w| w.state.is_final() && !w.session_deleted && !w.session_id.is_empty())
        .filter(|w| crate::schedule::reachable(w, options))
        .collect();
    order_by(&mut ws, |w| (w.ended_at.unwrap_or(w.spawned_at), 0));
    ws
}

/// The sessions due for deletion now, with the reason, and when the next one falls due.
pub(crate) fn due(
    swarm: &Swarm,
    options: &Options,
    now: u64,
) -> (Vec<(String, String)>, Option<u64>) {
    // Both off: nothing is ever due, and the finished workers need not be gathered.
    if options.session_retention_ms == 0 && options.max_sessions_kept == 0 {
        return (Vec::new(), None);
    }
    let ws = kept(swarm, options);
    let over = match options.max_sessions_kept as usize {
        0 => 0,
        cap => ws.len().saturating_sub(cap),
    };
    let mut out = Vec::new();
    let mut next = None;
    for (i, w) in ws.iter().enumerate() {
        let ended = w.ended_at.unwrap_or(w.spawned_at);
        if i < over {
            out.push((
                w.session_id.clone(),
                "more finished sessions than max_sessions_kept".into(),
            ));
        } else if options.session_retention_ms > 0 {
            let at = ended + options.session_retention_ms;
            if at <= now {
                out.push((w.session_id.clone(), "retention period over".into()));
            } else {
                next = Some(next.map_or(at, |n: u64| n.min(at)));
            }
        }
    }
    (out, next)
}

impl<H: Host> Apiary<H> {
    /// Deletes the sessions due and records each; returns when the next falls due.
    pub(super) async fn apply_retention(&self) -> Result<Option<u64>, ToolError> {
        let now = self.host.now_ms();
        let (due_now, next) = due(&self.log().swarm(), &self.options, now);
        if due_now.is_empty() {
            return Ok(next);
        }
        let options = self.options.clone();
        // Recorded first, under the lock, so two instances never both delete.
        let recorded = self
            .log()
            .append_with(&self.host, now, move |swarm| {
                due(swarm, &options, now)
                    .0
                    .into_iter()
                    .filter_map(|(session, reason)| {
                        let w = swarm.session(&session)?;
                        Some(EventBody::SessionDeleted(WorkerNote {
                            session_id: session,
                            bead_id: w.bead_id.clone(),
                            epic_id: w.epic_id.clone(),
                            reason,
                        }))
                    })
                    .collect()
            })
            .await?;
        for event in recorded {
            if let crate::event::Payload::Known(EventBody::SessionDeleted(d)) = event.payload {
                let (server, dir) = self
                    .log()
                    .swarm()
                    .session(&d.session_id)
                    .map(|w| {
                        let dir = w.worktree.clone().filter(|_| !w.worktree_removed);
                        (
                            w.server.clone(),
                            dir.or(w.server.as_ref().and(w.directory.clone())),
                        )
                    })
                    .unwrap_or_default();
                // What its replies spent stays in the log; a session already gone is what
                // was wanted.
                self.count_usage(&d.session_id).await?;
                let _ = self
                    .host
                    .delete_session(&d.session_id, server.as_deref(), dir.as_deref())
                    .await;
            }
        }
        Ok(next)
    }
}
