//! `swarm_status`: the scheduler's view in a few lines: running against the limits, the
//! queue in order with why each bead waits, blocked beads, and the machine.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::Apiary;
use crate::api::{Reply, StatusArgs};
use crate::error::ToolError;
use crate::host::Host;
use crate::ids::check_id;
use crate::projection::QueueState;
use crate::schedule::{self, model_keys};
use crate::text::{duration, spent};

/// Queue lines shown at most; the rest are counted.
const SHOWN: usize = 20;

impl<H: Host> Apiary<H> {
    pub async fn status(&self, args: &StatusArgs) -> Result<Reply, ToolError> {
        self.widen();
        if let Some(e) = &args.epic_id {
            check_id("epic_id", e)?;
        }
        self.refresh().await?;
        let machine = self.host.machine().await.ok();
        let now = self.host.now_ms();
        let swarm = self.log().swarm();
        let plan = schedule::plan(&swarm, &self.options, machine.as_ref(), now);
        let in_scope = |epic: &str| args.epic_id.as_deref().is_none_or(|e| e == epic);

        let running: Vec<_> = swarm.workers().filter(|w| w.state.is_active()).collect();
        let mut per_key: BTreeMap<String, u32> = BTreeMap::new();
        for w in &running {
            for k in model_keys(w.model.as_deref()) {
                *per_key.entry(k).or_default() += 1;
            }
        }
        let blocked: Vec<_> = swarm
            .queue()
            .filter(|q| matches!(q.state, QueueState::Blocked(_)) && in_scope(&q.request.epic_id))
            .collect();
        let mut out = String::new();
        // Beads the plan starts hold their slots while their workers are prepared.
        let starting = match plan.start.len() {
            0 => String::new(),
            n => format!(" ({n} starting)"),
        };
        let _ = writeln!(
            out,
            "running {}/{}{starting} · queued {} (max {}) · blocked {}",
            running.len() + plan.start.len(),
            self.options.max_running,
            plan.waits.len(),
            self.options.max_queued,
            blocked.len()
        );
        for (key, limit) in &self.options.max_running_per_model {
            let _ = writeln!(
                out,
                "limit {key}: {}/{limit} running",
                per_key.get(key).copied().unwrap_or(0)
            );
        }
        for server in &self.options.servers {
            if swarm.server_down(&server.url) {
                let _ = writeln!(out, "server {}: lost", server.url);
                continue;
            }
            let on = running
                .iter()
                .filter(|w| w.server.as_deref() == Some(server.url.as_str()))
                .count();
            let _ = writeln!(
                out,
                "server {}: {on}/{} running",
                server.url, server.max_workers
            );
        }
        if let Some(m) = machine {
            let _ = writeln!(
                out,
                "machine: load {}% of CPUs, {} MB free",
                m.load_percent, m.free_memory_mb
            );
        }
        if let Some(u) = args.epic_id.as_deref().and_then(|e| swarm.epic_usage(e)) {
            let _ = writeln!(out, "spent: {}", spent(u.tokens(), u.cost_micros));
        }
        let scoped: Vec<_> = plan
            .waits
            .iter()
            .enumerate()
            .filter_map(|(i, (bead, wait))| {
                let q = swarm.queued(bead)?;
                in_scope(&q.request.epic_id).then_some((i + 1, q, wait))
            })
            .collect();
        if !scoped.is_empty() {
            out.push_str("queue:\n");
        }
        for (position, q, wait) in scoped.iter().take(SHOWN) {
            let _ = write!(
                out,
                "  #{position} {} (epic {}) {}, waited {}",
                q.request.bead_id,
                q.request.epic_id,
                q.request.priority.as_str(),
                duration(now.saturating_sub(q.queued_at))
            );
            if q.attempt > 1 {
                let _ = write!(out, ", attempt {}", q.attempt);
            }
            let _ = writeln!(out, ": {}", wait.describe(now));
        }
        if scoped.len() > SHOWN {
            let _ = writeln!(out, "  and {} more", scoped.len() - SHOWN);
        }
        if !blocked.is_empty() {
            out.push_str("blocked:\n");
        }
        for q in blocked.iter().take(SHOWN) {
            if let QueueState::Blocked(why) = &q.state {
                let _ = writeln!(
                    out,
                    "  {} (epic {}): {why}",
                    q.request.bead_id, q.request.epic_id
                );
            }
        }
        Ok(Reply {
            title: format!("{} running, {} queued", running.len(), plan.waits.len()),
            output: out.trim_end().to_string(),
        })
    }
}
