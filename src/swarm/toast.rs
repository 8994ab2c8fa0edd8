//! Toasts in the OpenCode TUI (option `toasts`, on by default): one when a worker completes,
//! fails or is blocked (it reported blocked, a dependency blocked it, or it asks its
//! coordinator). The coordinator's plugin instance shows them from its watch loop, each
//! outcome once, and only outcomes after the instance started: a restart does not replay old
//! ones.
use super::Apiary;
use crate::error::ToolError;
use crate::event::CompletionStatus;
use crate::host::{Host, Toast};
use crate::projection::{QueueState, Swarm, WorkerState};
use crate::text::excerpt;

const MESSAGE_CHARS: usize = 120;

/// Every outcome worth a toast, with a key that names it once: (key, toast).
fn outcomes(swarm: &Swarm, since: u64) -> Vec<(String, Toast)> {
    let mut out = Vec::new();
    for w in swarm.workers() {
        let ended = w.ended_at.unwrap_or(0) >= since;
        let toast = match w.state {
            WorkerState::Completed(CompletionStatus::Success) if ended => Some((
                "success",
                format!("{} completed", w.bead_id),
                w.summary.clone().unwrap_or_default(),
            )),
            WorkerState::Completed(CompletionStatus::Blocked) if ended => Some((
                "warning",
                format!("{} is blocked", w.bead_id),
                w.summary.clone().unwrap_or_default(),
            )),
            WorkerState::Completed(CompletionStatus::Failed) | WorkerState::Failed if ended => {
                Some((
                    "error",
                    format!("{} failed", w.bead_id),
                    w.error
                        .clone()
                        .or_else(|| w.summary.clone())
                        .unwrap_or_default(),
                ))
            }
            _ => None,
        };
        if let Some((variant, title, message)) = toast {
            out.push((
                format!("end:{}", w.session_id),
                toast_of(variant, title, &message, &w.epic_id),
            ));
        }
        if let Some(asks) = w.asks.as_ref().filter(|_| w.last_activity_at >= since) {
            out.push((
                format!("asks:{}:{asks}", w.session_id),
                toast_of("warning", format!("{} asks", w.bead_id), asks, &w.epic_id),
            ));
        }
    }
    for q in swarm.queue() {
        if let QueueState::Blocked(why) = &q.state {
            if q.queued_at >= since {
                out.push((
                    format!("blocked:{}:{}", q.request.bead_id, q.seq),
                    toast_of(
                        "warning",
                        format!("{} is blocked", q.request.bead_id),
                        why,
                        &q.request.epic_id,
                    ),
                ));
            }
        }
    }
    out
}

fn toast_of(variant: &str, title: String, message: &str, epic: &str) -> Toast {
    Toast {
        title: format!("apiary · {title}"),
        message: format!("{} (epic {epic})", excerpt(message, MESSAGE_CHARS)),
        variant: variant.to_string(),
    }
}

impl<H: Host> Apiary<H> {
    /// Shows a toast for each new outcome. Returns how many were shown.
    pub async fn toast_news(&self) -> Result<u32, ToolError> {
        self.widen();
        if !self.options.toasts {
            return Ok(0);
        }
        self.refresh().await?;
        let since = self.started_at;
        let fresh: Vec<(String, Toast)> = outcomes(&self.log().swarm(), since)
            .into_iter()
            .filter(|(key, _)| !self.toasted.borrow().contains(key))
            .collect();
        let mut shown = 0;
        for (key, toast) in fresh {
            self.toasted.borrow_mut().insert(key);
            // A TUI that is not there (a headless server) is not an error of the swarm.
            if self.host.show_toast(&toast).await.is_ok() {
                shown += 1;
            }
        }
        Ok(shown)
    }
}
