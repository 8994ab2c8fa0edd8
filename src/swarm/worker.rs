//! The worker-side tools: `swarm_progress` and `swarm_complete`, called from a worker session.
use super::{limits, verify, Apiary};
use crate::api::{CallContext, CompleteArgs, ProgressArgs, Reply};
use crate::error::ToolError;
use crate::event::{
    BranchMark, CompletionStatus, Event, EventBody, Payload, WorkerCompleted, WorkerFailed,
    WorkerProgress, WorkerVerified,
};
use crate::host::Host;
use crate::ids::{check_count, check_file_pattern, check_id, check_text};
use crate::projection::Worker;
use crate::text::duration;

/// What a worker's report records, decided under the log's lock from its worker as logged.
type Report = Box<dyn FnOnce(&Worker) -> Vec<EventBody>>;

impl<H: Host> Apiary<H> {
    pub async fn progress(
        &self,
        ctx: &CallContext,
        args: &ProgressArgs,
    ) -> Result<Reply, ToolError> {
        check_id("bead_id", &args.bead_id)?;
        if args.progress_percent > limits::PROGRESS_PERCENT {
            return Err(ToolError::invalid(
                "progress_percent",
                format!(
                    "is {}; give 0 to {}",
                    args.progress_percent,
                    limits::PROGRESS_PERCENT
                ),
            ));
        }
        if let Some(m) = &args.message {
            check_text("message", m, limits::SUMMARY, false)?;
        }
        let files = args.files_touched.clone().unwrap_or_default();
        check_files(&files)?;
        let session_id = self.reporting_worker(ctx, &args.bead_id).await?.session_id;
        let body = EventBody::WorkerProgress(WorkerProgress {
            session_id,
            bead_id: args.bead_id.clone(),
            progress_percent: args.progress_percent,
            message: args.message.clone().filter(|m| !m.trim().is_empty()),
            files_touched: files,
        });
        self.append_report(ctx, &args.bead_id, self.host.now_ms(), move |_| vec![body])
            .await?;
        Ok(Reply {
            title: format!("{} {}%", args.bead_id, args.progress_percent),
            output: format!(
                "progress recorded: {} at {}%",
                args.bead_id, args.progress_percent
            ),
        })
    }

    pub async fn complete(
        &self,
        ctx: &CallContext,
        args: &CompleteArgs,
    ) -> Result<Reply, ToolError> {
        check_id("bead_id", &args.bead_id)?;
        check_text("summary", &args.summary, limits::SUMMARY, true)?;
        check_files(&args.files_touched)?;
        let worker = self.reporting_worker(ctx, &args.bead_id).await?;
        let status = args.status.unwrap_or(CompletionStatus::Success);
        let mut verified = None;
        if let (CompletionStatus::Success, Some(command)) = (status, self.verify_command(&worker)) {
            let dir = worker.directory.as_deref().unwrap_or(&ctx.directory);
            let round = self.run_verify(dir, &command).await;
            if !round.passed() {
                return self.refuse_completion(ctx, &args.bead_id, round).await;
            }
            verified = Some(round);
        }
        let now = self.host.now_ms();
        let duration_ms = now.saturating_sub(worker.spawned_at);
        // A worker on another machine hands its work over through `origin` before it is
        // recorded as done, so the coordinator can merge as soon as it hears.
        let mut bodies = Vec::new();
        let mut pushed = String::new();
        let passed = verified
            .as_ref()
            .map_or(String::new(), |r| format!(" `{}` passed.", r.command));
        if let (Some(_), Some(branch)) = (&worker.server, &worker.branch) {
            match self.publish(&worker).await {
                Ok(commit) => {
                    pushed = format!(
                        " Your branch {branch} was pushed to origin at {}.",
                        &commit[..commit.len().min(10)]
                    );
                    bodies.push(EventBody::WorktreePushed(BranchMark {
                        session_id: worker.session_id.clone(),
                        bead_id: args.bead_id.clone(),
                        branch: branch.clone(),
                        commit,
                    }));
                }
                Err(why) => {
                    pushed = format!(
                        " Your branch {branch} could not be pushed ({why}); the coordinator's \
                         merge will try again."
                    )
                }
            }
        }
        bodies.push(EventBody::WorkerCompleted(WorkerCompleted {
            session_id: worker.session_id,
            bead_id: args.bead_id.clone(),
            epic_id: worker.epic_id,
            status,
            summary: args.summary.trim().to_string(),
            files_touched: args.files_touched.clone(),
            duration_ms,
        }));
        self.append_report(ctx, &args.bead_id, now, move |w| {
            // The round is numbered under the lock, from the rounds the log holds.
            let round = verified.map(|r| {
                EventBody::WorkerVerified(WorkerVerified {
                    session_id: w.session_id.clone(),
                    bead_id: w.bead_id.clone(),
                    ok: true,
                    exit_code: 0,
                    timed_out: false,
                    duration_ms: r.duration_ms,
                    attempt: w.verify_failures() + 1,
                })
            });
            round.into_iter().chain(bodies).collect()
        })
        .await?;
        Ok(Reply {
            title: format!("{} {}", args.bead_id, status.as_str()),
            output: format!(
                "recorded: {} {} after {}.{passed}{pushed} The coordinator has been told; end \
                 your turn now.",
                args.bead_id,
                status.as_str(),
                duration(duration_ms)
            ),
        })
    }

    /// A success whose verify round failed: the round is recorded, not the completion, and
    /// the worker is told why and to try again; after `verify_attempts` failed rounds the
    /// worker is recorded failed. As `worker_failed`, not retryable, rather than a completion
    /// with status failed: the worker did not judge its own work failed, the gate did, and
    /// `error` is where poll, the views and the dependents' blocking read a failure's reason;
    /// not retryable because a new session would run the same gate `verify_attempts` times
    /// more for every attempt.
    async fn refuse_completion(
        &self,
        ctx: &CallContext,
        bead_id: &str,
        round: verify::Round,
    ) -> Result<Reply, ToolError> {
        let of = self.options.verify_attempts;
        let what = round.what();
        let (exit_code, timed_out, duration_ms) =
            (round.exit_code(), round.timed_out, round.duration_ms);
        let reason = what.clone();
        let recorded = self
            .append_report_events(
                ctx,
                bead_id,
                self.host.now_ms(),
                Box::new(move |w| {
                    let attempt = w.verify_failures() + 1;
                    let mut bodies = vec![EventBody::WorkerVerified(WorkerVerified {
                        session_id: w.session_id.clone(),
                        bead_id: w.bead_id.clone(),
                        ok: false,
                        exit_code,
                        timed_out,
                        duration_ms,
                        attempt,
                    })];
                    if attempt >= of {
                        bodies.push(EventBody::WorkerFailed(WorkerFailed {
                            session_id: w.session_id.clone(),
                            bead_id: w.bead_id.clone(),
                            epic_id: w.epic_id.clone(),
                            error: format!("verify failed {attempt}/{of}: {reason}"),
                            stack: None,
                            retryable: false,
                        }));
                    }
                    bodies
                }),
            )
            .await?;
        let attempt = recorded.iter().find_map(|e| match &e.payload {
            Payload::Known(EventBody::WorkerVerified(v)) => Some(v.attempt),
            _ => None,
        });
        let attempt = attempt.unwrap_or(1);
        let tail = round.tail_block();
        if attempt >= of {
            return Ok(Reply {
                title: format!("{bead_id} verify failed {attempt}/{of}"),
                output: format!(
                    "verify failed (attempt {attempt} of {of}): {what}. {tail}\n{bead_id} is \
                     recorded failed; the coordinator has been told. End your turn now."
                ),
            });
        }
        Ok(Reply {
            title: format!("{bead_id} verify failed {attempt}/{of}"),
            output: format!(
                "completion refused: verify failed (attempt {attempt} of {of}): {what}. \
                 {tail}\nFix the cause, then call swarm_complete again."
            ),
        })
    }

    /// The bead's worker, for a report from `ctx`. A worker's reports are the hot path of the
    /// log, so the catch-up read is skipped when the projection already shows the caller as
    /// the bead's live worker; `append_report` checks again under the lock.
    async fn reporting_worker(
        &self,
        ctx: &CallContext,
        bead_id: &str,
    ) -> Result<Worker, ToolError> {
        if let Ok(w) = self.own_worker(ctx, bead_id) {
            return Ok(w);
        }
        self.refresh().await?;
        self.own_worker(ctx, bead_id)
    }

    /// Appends a worker's report if, under the lock, the caller is still the bead's live
    /// worker; otherwise refuses with the reason.
    async fn append_report(
        &self,
        ctx: &CallContext,
        bead_id: &str,
        now: u64,
        bodies: impl FnOnce(&Worker) -> Vec<EventBody> + 'static,
    ) -> Result<(), ToolError> {
        self.append_report_events(ctx, bead_id, now, Box::new(bodies))
            .await
            .map(drop)
    }

    /// `append_report`, returning the events recorded. The reports are boxed so that the
    /// log's append is built once for them all, not once per report (the `.wasm`'s size).
    async fn append_report_events(
        &self,
        ctx: &CallContext,
        bead_id: &str,
        now: u64,
        bodies: Report,
    ) -> Result<Vec<Event>, ToolError> {
        let (bead, session) = (bead_id.to_string(), ctx.session_id.clone());
        let recorded = self
            .log()
            .append_with(&self.host, now, move |swarm| match swarm.bead(&bead) {
                Some(w) if w.session_id == session && !w.state.is_final() => bodies(w),
                _ => Vec::new(),
            })
            .await?;
        if recorded.is_empty() {
            self.own_worker(ctx, bead_id)?;
            return Err(ToolError::Refused(format!(
                "bead {bead_id} changed while reporting; nothing was recorded"
            )));
        }
        Ok(recorded)
    }

    /// The bead's worker, which must be the calling session and must not have reported yet.
    fn own_worker(&self, ctx: &CallContext, bead_id: &str) -> Result<Worker, ToolError> {
        let swarm = self.log().swarm();
        let Some(w) = swarm.bead(bead_id) else {
            return Err(ToolError::Refused(format!(
                "no worker was spawned for bead {bead_id}"
            )));
        };
        if !ctx.session_id.is_empty() && w.session_id != ctx.session_id {
            return Err(ToolError::Refused(format!(
                "bead {bead_id} belongs to session {}, not to this session ({})",
                w.session_id, ctx.session_id
            )));
        }
        if w.state.is_final() {
            return Err(ToolError::Refused(format!(
                "bead {bead_id} already reported ({}); nothing was recorded",
                w.state.name()
            )));
        }
        Ok(w.clone())
    }
}

fn check_files(files: &[String]) -> Result<(), ToolError> {
    check_count("files_touched", files.len(), limits::FILES)?;
    files.iter().try_for_each(|f| check_file_pattern(f))
}
