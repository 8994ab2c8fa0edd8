//! `swarm_await_workers`: returns as soon as no worker of an epic is running.
//!
//! It sleeps until the log changes (a worker's completion, or an idle, error or deletion the
//! event hook recorded) and only then looks again; the poll interval is a safety net for what
//! no event reports (a session deleted while no instance watched, a server that forgot it).
use std::future::Future;
use std::pin::pin;

use super::race::{first, Woken};
use super::report;
use super::{limits, Apiary};
use crate::api::{AwaitArgs, AwaitOutcome, PollReport};
use crate::error::ToolError;
use crate::host::Host;
use crate::ids::check_id;

pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 10 * 60 * 1000;
pub(crate) const DEFAULT_INTERVAL_MS: u64 = 5_000;
const MAX_TIMEOUT_MS: u64 = limits::AWAIT_TIMEOUT_MS;
const MIN_INTERVAL_MS: u64 = limits::POLL_INTERVAL_MS.0;
const MAX_INTERVAL_MS: u64 = limits::POLL_INTERVAL_MS.1;

impl<H: Host> Apiary<H> {
    /// Waits for the epic's workers; `aborted` resolves when the caller is interrupted.
    pub async fn await_workers(
        &self,
        args: &AwaitArgs,
        aborted: impl Future<Output = ()>,
    ) -> Result<PollReport, ToolError> {
        self.widen();
        let (timeout, interval) = validate(args)?;
        let include_messages = args.include_messages.unwrap_or(false);
        let started = self.host.now_ms();
        let mut aborted = pin!(aborted);
        loop {
            // Subscribed before looking, so that a change during the look wakes the wait.
            let changed = self.host.log_changed();
            let mut report = self.look(&args.epic_id, false).await?;
            let waited = self.host.now_ms().saturating_sub(started);
            let running = report::still_moving(&report);
            let outcome = if running == 0 {
                Some(AwaitOutcome::Done)
            } else if waited >= timeout {
                Some(AwaitOutcome::TimedOut)
            } else {
                None
            };
            let woken = match outcome {
                Some(_) => None,
                None => {
                    let nap = interval.min(timeout - waited);
                    Some(first(changed, self.host.sleep(nap), aborted.as_mut()).await)
                }
            };
            let outcome = match (outcome, woken) {
                (Some(o), _) => o,
                (None, Some(Woken::Aborted)) => AwaitOutcome::Interrupted,
                _ => continue,
            };
            if include_messages {
                self.attach_last_messages(&mut report).await;
            }
            report.outcome = Some(outcome);
            report.waited_ms = Some(self.host.now_ms().saturating_sub(started));
            report::render(&mut report);
            return Ok(report);
        }
    }
}

fn validate(args: &AwaitArgs) -> Result<(u64, u64), ToolError> {
    check_id("epic_id", &args.epic_id)?;
    let timeout = args.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout > MAX_TIMEOUT_MS {
        return Err(ToolError::invalid(
            "timeout_ms",
            format!("is {timeout}; the most is {MAX_TIMEOUT_MS} (24 h)"),
        ));
    }
    let interval = args.poll_interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&interval) {
        return Err(ToolError::invalid(
            "poll_interval_ms",
            format!("is {interval}; it must be from {MIN_INTERVAL_MS} to {MAX_INTERVAL_MS}"),
        ));
    }
    Ok((timeout, interval))
}
