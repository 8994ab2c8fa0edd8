//! The background duties of a plugin instance, for its lifetime: the recovery sweep at start,
//! the scheduler loop (drain, toasts, telling coordinators, waiting on the log or the next due
//! time) and the liveness of the `servers` option's servers. The host only starts them
//! (`run_duties`) and lends plain capabilities: a timer, the log's change signal, a probe.
use std::cell::Cell;
use std::future::{pending, Future};
use std::pin::{pin, Pin};

use super::race::{first, join_all};
use super::servers::{judge, Verdict};
use super::worktree::WORKTREES;
use super::Apiary;
use crate::error::ToolError;
use crate::host::Host;

/// How long after the plugin starts its duties begin: a call to this instance's own server
/// while it is still starting would wait for the start, which waits for the plugin.
pub const START_DELAY_MS: u64 = 500;
/// The longest the scheduler waits for recovery before it starts anyway.
pub const RECOVERY_WAIT_MS: u64 = 10_000;
/// How often the scheduler looks whether recovery is done, while it waits for it.
const RECOVERY_CHECK_MS: u64 = 50;
/// The scheduler's safety-net recheck; log changes wake it sooner.
pub const WATCH_INTERVAL_MS: u64 = 30_000;
/// Between two probes of each server.
pub const PROBE_EVERY_MS: u64 = 2_000;
/// A probe not answered in this time failed.
pub const PROBE_TIMEOUT_MS: u64 = 2_000;

/// Whether `directory` is a worker's worktree: its instance leaves scheduling, toasts and
/// probing to the coordinator's, and only tells coordinators.
pub fn is_worker_directory(directory: &str) -> bool {
    let unix = directory.replace('\\', "/");
    unix.contains(&format!("/{WORKTREES}/"))
}

type Duty<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

impl<H: Host> Apiary<H> {
    /// Whether this instance is a worker's (see `is_worker_directory`); an instance whose
    /// directory the plugin never gave is a coordinator's.
    pub fn is_worker_instance(&self) -> bool {
        self.home
            .borrow()
            .as_deref()
            .is_some_and(is_worker_directory)
    }

    /// Runs the instance's duties; never returns. Recovery goes first: a worker a restart cut
    /// off is resumed in its own session, not taken for a stalled one (its last activity is
    /// from before the restart) and retried afresh. A recovery that hangs (a server slow to
    /// answer) holds the scheduler back `RECOVERY_WAIT_MS` at most, and goes on meanwhile:
    /// dropping it could leave the log's lock taken.
    pub async fn run_duties(&self) {
        self.know_own_repository().await;
        self.host.idle_sleep(START_DELAY_MS).await;
        let recovered = Cell::new(false);
        let recovery: Duty = Box::pin(async {
            let outcome = self.recover().await;
            self.report("recovery", outcome);
            recovered.set(true);
            // Ready worktrees for the next starts, where workers were started from here
            // lately (members a restart left are reused); elsewhere the first start fills the
            // pool, so that a server nobody coordinates on holds no instance for nothing.
            if self.pools_wanted() {
                self.refill_all().await;
            }
        });
        let scheduler: Duty = Box::pin(async {
            let mut waited = 0;
            while !recovered.get() && waited < RECOVERY_WAIT_MS {
                self.host.idle_sleep(RECOVERY_CHECK_MS).await;
                waited += RECOVERY_CHECK_MS;
            }
            self.schedule_forever().await;
        });
        let liveness: Duty = Box::pin(self.watch_servers());
        let starter: Duty = Box::pin(self.run_starter());
        join_all(vec![recovery, scheduler, liveness, starter]).await;
    }

    /// Whenever the log changes (a worker in any instance or process finished, failed or
    /// went quiet) and at least every `WATCH_INTERVAL_MS`: runs the scheduler, which starts
    /// queued workers, retries, fails stalled ones and deletes old sessions, shows a toast per
    /// worker outcome, then tells idle coordinators about finished workers. The scheduler
    /// names the next moment it has something to do (a backoff ending, a stall deadline) and
    /// the loop wakes then.
    async fn schedule_forever(&self) {
        let coordinates = !self.is_worker_instance();
        loop {
            // Subscribed before the work, so that an append during it wakes the next round.
            let changed = self.host.log_changed();
            let mut wait = WATCH_INTERVAL_MS;
            // A worker's instance starts only what its own worker spawned.
            if coordinates || self.has_own_waiting() {
                if let Some(due) = self.report("scheduling", self.drain().await) {
                    if due > 0 {
                        wait = wait.min(due);
                    }
                }
            }
            if coordinates {
                let toasts = self.toast_news().await;
                self.report("toasts", toasts);
            }
            let told = self.tell_coordinators().await;
            self.report("waking the coordinator", told);
            if let Some(due) = self.tell_wait() {
                wait = wait.min(due);
            }
            first(changed, self.host.idle_sleep(wait), pin!(pending::<()>())).await;
        }
    }

    /// Finds the repository of the instance's directory ahead of the first spawn, whose reply
    /// names it: thirty spawns in one step would otherwise each ask git for it while the first
    /// workers' preparation loads the machine.
    async fn know_own_repository(&self) {
        let home = self.home.borrow().clone();
        if let Some(home) = home.filter(|_| self.options.worktrees && !self.is_worker_instance()) {
            // A failure is found again, and said, by the first spawn.
            let _ = self.worktree_root(&home).await;
        }
    }

    /// Whether a bead this instance starts waits in the queue (see `starts_for`).
    fn has_own_waiting(&self) -> bool {
        self.log()
            .swarm()
            .waiting()
            .any(|q| self.starts_for(q.request.parent_directory.as_deref()))
    }

    /// Probes the `servers` option's servers every `PROBE_EVERY_MS`, for the instance's
    /// lifetime; a worker's instance and one with no servers have nothing to do.
    async fn watch_servers(&self) {
        if self.options.servers.is_empty() || self.is_worker_instance() {
            return;
        }
        loop {
            self.host.idle_sleep(PROBE_EVERY_MS).await;
            self.probe_servers().await;
        }
    }

    /// One round of probes, every server at once. A server that failed `FAILED_PROBES` in a
    /// row is recorded lost, and one that answers while the log says lost is recorded back:
    /// the log, not this instance's memory, says what is lost, so a restart forgets nothing.
    /// Resolves to the servers recorded lost or back in this round.
    pub async fn probe_servers(&self) -> u32 {
        let urls: Vec<String> = self.options.servers.iter().map(|s| s.url.clone()).collect();
        let answers: Vec<Option<String>> = {
            let slots: Vec<Cell<Option<String>>> = urls.iter().map(|_| Cell::new(None)).collect();
            let probes: Vec<Duty> = urls
                .iter()
                .zip(&slots)
                .map(|(url, slot)| -> Duty {
                    Box::pin(async move { slot.set(self.probe(url).await) })
                })
                .collect();
            join_all(probes).await;
            slots.into_iter().map(Cell::into_inner).collect()
        };
        if let Err(e) = self.refresh().await {
            self.host.warn(&format!("servers: {e}"));
            return 0;
        }
        let mut changed = 0;
        for (url, failure) in urls.iter().zip(answers) {
            let in_a_row = {
                let mut failures = self.probe_failures.borrow_mut();
                let n = failures.entry(url.clone()).or_default();
                *n = if failure.is_some() { *n + 1 } else { 0 };
                *n
            };
            let down = self.log().swarm().server_down(url);
            let recorded = match judge(down, in_a_row) {
                Some(Verdict::Lost) => {
                    let why = failure.unwrap_or_default();
                    let reason = format!("no answer to {in_a_row} probes: {why}");
                    self.report("servers", self.server_lost(url, &reason).await)
                        .is_some()
                }
                Some(Verdict::Back) => self
                    .report("servers", self.server_back(url).await)
                    .is_some_and(|back| back),
                None => false,
            };
            changed += u32::from(recorded);
        }
        changed
    }

    /// Why a probe of `url` failed, or `None` when it answered in time.
    async fn probe(&self, url: &str) -> Option<String> {
        let answer = Cell::new(None);
        let probe = async {
            answer.set(Some(self.host.probe_server(url, PROBE_TIMEOUT_MS).await));
        };
        first(
            probe,
            self.host.idle_sleep(PROBE_TIMEOUT_MS),
            pin!(pending::<()>()),
        )
        .await;
        match answer.into_inner() {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e.message),
            None => Some(format!("no answer in {PROBE_TIMEOUT_MS} ms")),
        }
    }

    /// A duty's outcome: its value, or `None` after telling the host what failed (a duty has
    /// no caller to return its error to).
    fn report<T>(&self, what: &str, outcome: Result<T, ToolError>) -> Option<T> {
        match outcome {
            Ok(v) => Some(v),
            Err(e) => {
                self.host.warn(&format!("{what}: {e}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_worker_directory;

    #[test]
    fn a_directory_inside_the_worktrees_folder_is_a_workers() {
        assert!(is_worker_directory("/repo/.apiary/worktrees/bd-1"));
        assert!(is_worker_directory(r"C:\repo\.apiary\worktrees\bd-1"));
        assert!(!is_worker_directory("/repo"));
        assert!(!is_worker_directory("/repo/.apiary"));
    }
}
