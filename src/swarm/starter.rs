//! Starts behind the calls: the scheduler decides which queued beads start and hands them
//! here; each is prepared (its worktree, its session, its first prompt) while the tool call
//! that queued it has long returned. A running instance keeps its starts in its duties
//! (`run_starter`), so a scheduler round never waits for one; with no duties running (a test,
//! a one-off call) the round carries out its own starts before it returns.
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Poll, Waker};

use super::Apiary;
use crate::error::ToolError;
use crate::host::Host;
use crate::projection::{QueueState, Queued};
use crate::schedule::admit;
use crate::schedule::Machine;

/// Starts prepared at once, at most: each boots an OpenCode instance for its worktree (about
/// 90 MB and a burst of CPU); more at once on a small machine only slows them all.
pub(super) const PREPARE_AT_ONCE: u32 = 4;

/// The starts handed to the instance's duties, and how to wake them.
#[derive(Default)]
pub(super) struct Starter {
    /// The duties run a starter: hand starts to it rather than carry them out.
    running: bool,
    handed: Vec<(String, Option<Machine>)>,
    waker: Option<Waker>,
}

/// A bead this instance is starting: counted in `Apiary::preparing` until the start ends,
/// however it ends.
struct Preparing<'a> {
    set: &'a RefCell<BTreeSet<String>>,
    bead: String,
}

impl Drop for Preparing<'_> {
    fn drop(&mut self) {
        self.set.borrow_mut().remove(&self.bead);
    }
}

type Start<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

impl<H: Host> Apiary<H> {
    /// Claims for this instance the beads of `plan_start` that no start of it is preparing.
    pub(super) fn claim_starts(&self, plan_start: &[String]) -> Vec<String> {
        let mut preparing = self.preparing.borrow_mut();
        plan_start
            .iter()
            .filter(|b| preparing.insert((*b).clone()))
            .cloned()
            .collect()
    }

    /// Whether the duties run a starter (a plugin instance, not a one-off process).
    pub(super) fn starter_runs(&self) -> bool {
        self.starter.borrow().running
    }

    /// Starts the claimed `beads`: handed to the duties' starter when it runs, otherwise
    /// carried out here before this resolves.
    pub(super) async fn launch(&self, beads: Vec<String>, machine: Option<Machine>) {
        {
            let mut starter = self.starter.borrow_mut();
            if starter.running {
                starter
                    .handed
                    .extend(beads.into_iter().map(|b| (b, machine)));
                if let Some(w) = starter.waker.take() {
                    w.wake();
                }
                return;
            }
        }
        let starts: Vec<Start> = beads
            .into_iter()
            .map(|b| Box::pin(self.start_claimed(b, machine)) as Start)
            .collect();
        super::race::join_all(starts).await;
    }

    /// The duty that carries out the starts the scheduler hands over, several at once; it
    /// never returns.
    pub(super) async fn run_starter(&self) {
        self.starter.borrow_mut().running = true;
        let mut starts: Vec<Start> = Vec::new();
        poll_fn(|cx| {
            loop {
                let handed = std::mem::take(&mut self.starter.borrow_mut().handed);
                starts.extend(
                    handed
                        .into_iter()
                        .map(|(b, m)| Box::pin(self.start_claimed(b, m)) as Start),
                );
                starts.retain_mut(|s| s.as_mut().poll(cx).is_pending());
                // A start polled just now may have led to more being handed over.
                if self.starter.borrow().handed.is_empty() {
                    break;
                }
            }
            self.starter.borrow_mut().waker = Some(cx.waker().clone());
            Poll::<()>::Pending
        })
        .await
    }

    /// Starts the claimed queued `bead`, as its queue entry is when its turn to be prepared
    /// comes. A failure is recorded on the entry (`admit::start_failed`); the retry policy
    /// decides what follows.
    async fn start_claimed(&self, bead: String, machine: Option<Machine>) {
        let _claim = Preparing {
            set: &self.preparing,
            bead: bead.clone(),
        };
        let _turn = self.prepare_gate.enter().await;
        let outcome = async {
            self.refresh().await?;
            let Some(q) = self.log().swarm().queued(&bead).cloned() else {
                return Ok(());
            };
            if q.state != QueueState::Waiting {
                return Ok(());
            }
            // An error here means nothing was recorded of the start (a refused first prompt is
            // recorded by `start` as the worker's failure).
            match self.start(&q, machine).await {
                Err(e) => self.record_start_failed(&q, &e).await,
                Ok(()) => Ok(()),
            }
        };
        let outcome: Result<(), ToolError> = outcome.await;
        if let Err(e) = outcome {
            self.host.warn(&format!("starting {bead}: {e}"));
        }
        drop((_turn, _claim));
        // The last start of a burst refills the worktree pool it drew from, behind the
        // running work.
        if self.preparing.borrow().is_empty() {
            let (server, directory) = self
                .log()
                .swarm()
                .bead(&bead)
                .map(|w| (w.server.clone(), w.parent_directory.clone()))
                .unwrap_or_default();
            self.refill_after_burst(server.as_deref(), directory.as_deref())
                .await;
        }
    }

    /// Records, once, that `q`'s start failed with `error`.
    async fn record_start_failed(&self, q: &Queued, error: &ToolError) -> Result<(), ToolError> {
        let (request, seq, why) = (q.request.clone(), q.seq, error.to_string());
        self.log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                admit::start_failed(swarm, &request, seq, &why)
            })
            .await?;
        Ok(())
    }
}
