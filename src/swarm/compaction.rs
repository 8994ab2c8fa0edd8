//! What a coordinator's compacted context must keep: its live epics, each bead's state, and
//! what waits on it. OpenCode's compaction summarises the conversation in prose, which loses
//! bead ids; this text, read from the log, goes into the compaction prompt (the plugin's
//! `experimental.session.compacting` hook), so the coordinator carries on without guessing.
use std::fmt::Write;

use super::Apiary;
use crate::error::ToolError;
use crate::event::CompletionStatus;
use crate::host::Host;
use crate::projection::{QueueState, Swarm, WorkerState};
use crate::text::excerpt;

/// Beads named per group at most; the rest are counted.
const NAMED: usize = 12;

/// Where a bead stands, as the coordinator acts on it; the order is the order shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stands {
    Asks,
    ToMerge,
    Failed,
    Review,
    Running,
    Queued,
    Blocked,
    Merged,
}

const ALL: [Stands; 8] = [
    Stands::Asks,
    Stands::ToMerge,
    Stands::Failed,
    Stands::Review,
    Stands::Running,
    Stands::Queued,
    Stands::Blocked,
    Stands::Merged,
];

impl Stands {
    fn label(self) -> &'static str {
        match self {
            Self::Asks => "asks you",
            Self::ToMerge => "succeeded, to review and merge",
            Self::Failed => "failed or blocked (respawn or cancel)",
            Self::Review => "ended without reporting (review)",
            Self::Running => "running",
            Self::Queued => "queued",
            Self::Blocked => "blocked in the queue",
            Self::Merged => "merged",
        }
    }
}

/// Where `bead` stands for the coordinator `session`, and how it is named; `None`: not its
/// bead, or nothing to do (cancelled).
fn stands(swarm: &Swarm, session: &str, bead: &str) -> Option<(Stands, String)> {
    let mine = |parent: &Option<String>| parent.as_deref() == Some(session);
    if let Some(q) = swarm.queued(bead) {
        return match q.state {
            QueueState::Waiting if mine(&q.request.parent_session_id) => {
                Some((Stands::Queued, bead.into()))
            }
            QueueState::Blocked(_) if mine(&q.request.parent_session_id) => {
                Some((Stands::Blocked, bead.into()))
            }
            _ => None,
        };
    }
    let w = swarm.bead(bead).filter(|w| mine(&w.parent_session_id))?;
    let stands = match w.state {
        _ if w.merged_commit.is_some() => Stands::Merged,
        _ if w.asks.is_some() => Stands::Asks,
        WorkerState::Starting | WorkerState::Running => Stands::Running,
        WorkerState::Completed(CompletionStatus::Success) => Stands::ToMerge,
        WorkerState::Idle => Stands::Review,
        WorkerState::Cancelled => return None,
        _ => Stands::Failed,
    };
    let named = match &w.asks {
        Some(subject) if stands == Stands::Asks => format!("{bead} \"{}\"", excerpt(subject, 60)),
        _ => bead.into(),
    };
    Some((stands, named))
}

/// The coordinator `session`'s epics that still have something running, queued or waiting on
/// it, one block each, what waits on it first; empty when there is none.
pub fn coordinator_context(swarm: &Swarm, session: &str) -> String {
    let mut out = String::new();
    for epic in swarm.epic_ids() {
        let beads: Vec<(Stands, String)> = swarm
            .epic_beads(epic)
            .iter()
            .filter_map(|b| stands(swarm, session, b))
            .collect();
        // An epic whose beads are all merged needs nothing more.
        if beads.iter().all(|(s, _)| *s == Stands::Merged) {
            continue;
        }
        let _ = writeln!(out, "epic {epic}:");
        for group in ALL {
            let named: Vec<&str> = beads
                .iter()
                .filter(|(s, _)| *s == group)
                .map(|(_, b)| b.as_str())
                .collect();
            if named.is_empty() {
                continue;
            }
            let more = named.len().saturating_sub(NAMED);
            let _ = write!(
                out,
                "  {}: {}",
                group.label(),
                named[..named.len() - more].join(", ")
            );
            if more > 0 {
                let _ = write!(out, " +{more} more");
            }
            out.push('\n');
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("Apiary swarm you coordinate (from its log; swarm_poll_workers {{ epic_id }} for details):\n{out}")
}

impl<H: Host> Apiary<H> {
    /// `coordinator_context` of the log as it is now.
    pub async fn compaction_context(&self, session: &str) -> Result<String, ToolError> {
        self.widen();
        self.refresh().await?;
        Ok(coordinator_context(&self.log().swarm(), session))
    }
}
