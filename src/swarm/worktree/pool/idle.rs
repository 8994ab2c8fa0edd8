//! When a pool is worth its memory: kept while the swarm of its directory works, and for
//! `POOL_IDLE_MS` after its last worker ended; emptied then, by the scheduler's round, and
//! refilled by the next start (or at an instance's start, when the swarm worked lately).
use crate::host::Host;
use crate::swarm::Apiary;

/// How long the pools outlive the last worker of the directory they serve: then their members
/// go, and with them the OpenCode instances they hold (the next start refills them).
pub(crate) const POOL_IDLE_MS: u64 = 10 * 60_000;

/// See `Apiary::activity`.
enum Activity {
    Busy,
    IdleSince(u64),
    Never,
}

impl<H: Host> Apiary<H> {
    /// What the swarm of this instance's directory is doing: at work (a worker of it runs,
    /// waits or is being prepared), idle since its last worker ended, or never started one.
    fn activity(&self) -> Activity {
        if !self.preparing.borrow().is_empty() {
            return Activity::Busy;
        }
        let home = self.home.borrow().clone();
        let swarm = self.log().swarm();
        let own = |parent: &Option<String>| home.is_none() || *parent == home;
        if swarm.waiting().any(|q| own(&q.request.parent_directory)) {
            return Activity::Busy;
        }
        let mut last = Activity::Never;
        for w in swarm.workers().filter(|w| own(&w.parent_directory)) {
            if w.state.is_active() {
                return Activity::Busy;
            }
            let at = w.ended_at.unwrap_or(w.spawned_at);
            if !matches!(last, Activity::IdleSince(l) if l >= at) {
                last = Activity::IdleSince(at);
            }
        }
        last
    }

    /// Whether this instance's pools are worth keeping ready: its swarm is at work, or was
    /// within `POOL_IDLE_MS`.
    pub(crate) fn pools_wanted(&self) -> bool {
        match self.activity() {
            Activity::Busy => true,
            Activity::IdleSince(t) => self.host.now_ms() < t + POOL_IDLE_MS,
            Activity::Never => false,
        }
    }

    /// Refills every pool of this instance's directory (here, or on each server).
    pub(crate) async fn refill_all(&self) {
        let servers: Vec<String> = self.options.servers.iter().map(|s| s.url.clone()).collect();
        self.refill_for(None, None).await;
        for url in &servers {
            self.refill_for(Some(url), None).await;
        }
    }

    /// The scheduler's round: once the swarm of this instance's directory has been idle for
    /// `POOL_IDLE_MS`, empties its pools (once for each idle spell). Returns when that falls
    /// due.
    pub(in crate::swarm) async fn retire_idle_pools(&self) -> Option<u64> {
        if self.options.worktree_pool == 0 || !self.options.worktrees || self.is_worker_instance() {
            return None;
        }
        let Activity::IdleSince(since) = self.activity() else {
            return None;
        };
        let due = since + POOL_IDLE_MS;
        if self.host.now_ms() < due {
            return Some(due);
        }
        if self.pools_retired_for.replace(Some(since)) != Some(since) {
            if let Err(e) = self.empty_pools(None).await {
                self.host.warn(&format!("worktree pool: {e}"));
            }
        }
        None
    }
}
