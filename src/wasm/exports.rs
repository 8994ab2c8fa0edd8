//! `ApiaryCore`, the class the TypeScript shim calls: one method per tool, plus `observe` for
//! the plugin's event hook. Arguments and replies are typed through tsify.
use std::rc::Rc;

use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::host::JsHost;
use super::json;
use crate::api::{
    AckArgs, AwaitArgs, CallContext, CancelArgs, CleanupArgs, CompleteArgs, InboxArgs, LogArgs,
    MergeArgs, MergeReply, Options, PollArgs, PollReport, ProgressArgs, Reply, ReviewArgs,
    ReviewReply, SendArgs, SpawnArgs, SpawnReply, StatusArgs,
};
use crate::host::ServerEvent;
use crate::json::{FromJson, ToJson};
use crate::swarm::Apiary;

#[wasm_bindgen(typescript_custom_section)]
const ARG_LIMIT_TS: &str = r#"
/** A tool argument's bounds: a whole number from `min` to `max`, or one of `values`. */
export interface ArgLimit { tool: string; arg: string; min?: number; max?: number; values?: string[] }
"#;

#[wasm_bindgen]
pub struct ApiaryCore {
    inner: Rc<Apiary<JsHost>>,
}

/// Arguments cross as JSON text, read by the core's own JSON reader as the host's answers are;
/// a refusal names the argument and what it must be.
fn args<T: tsify::Tsify + FromJson>(value: Ts<T>) -> Result<T, JsError> {
    json::from_js(&value.js_value())
        .map_err(|e| JsError::new(&e.naming("invalid argument", "invalid arguments")))
}

/// The options, refused by name when a key is unknown or of the wrong type.
pub(super) fn read_options(value: Ts<Options>) -> Result<Options, JsError> {
    json::from_js(&value.js_value())
        .map_err(|e| JsError::new(&e.naming("invalid option", "invalid options")))
}

pub(super) fn reply<T: tsify::Tsify + ToJson>(value: &T) -> Result<Ts<T>, JsError> {
    json::to_js(value)
        .map(Ts::new_unchecked)
        .map_err(|e| JsError::new(&e))
}

fn fail(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl ApiaryCore {
    /// `options` may be undefined (every option at its default).
    #[wasm_bindgen(constructor)]
    pub fn new(host: JsHost, options: Option<Ts<Options>>) -> Result<ApiaryCore, JsError> {
        let options: Options = match options {
            Some(o) => read_options(o)?,
            None => Options::default(),
        };
        options
            .check()
            .map_err(|e| JsError::new(&format!("invalid options: {e}")))?;
        Ok(ApiaryCore {
            inner: Rc::new(Apiary::with_options(host, options)),
        })
    }

    /// This instance's directory: it then starts only the queued beads of coordinators in
    /// that directory (a server sharing the log with other options leaves them alone).
    #[wasm_bindgen(js_name = setHome)]
    pub fn set_home(&self, directory: String) {
        self.inner.set_home(&directory);
    }

    /// The version of the core, for diagnostics.
    #[wasm_bindgen(js_name = version)]
    pub fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    #[wasm_bindgen(js_name = spawnAsync)]
    pub async fn spawn_async(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<SpawnArgs>,
    ) -> Result<Ts<SpawnReply>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.spawn(&ctx, &input).await.map_err(fail)?)
    }

    #[wasm_bindgen(js_name = pollWorkers)]
    pub async fn poll_workers(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<PollArgs>,
    ) -> Result<Ts<PollReport>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.poll_from(&ctx, &input).await.map_err(fail)?)
    }

    /// Waits until no worker of the epic runs, the timeout passes, or `aborted` resolves (the
    /// tool call's abort signal, as a promise).
    #[wasm_bindgen(js_name = awaitWorkers)]
    pub async fn await_workers(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<AwaitArgs>,
        aborted: js_sys::Promise,
    ) -> Result<Ts<PollReport>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        let aborted = wasm_bindgen_futures::JsFuture::from(aborted);
        let aborted = async move {
            let _ = aborted.await;
        };
        reply(
            &inner
                .await_from(&ctx, &input, aborted)
                .await
                .map_err(fail)?,
        )
    }

    #[wasm_bindgen(js_name = worktreeMerge)]
    pub async fn worktree_merge(&self, input: Ts<MergeArgs>) -> Result<Ts<MergeReply>, JsError> {
        let input = args(input)?;
        let inner = self.inner.clone();
        reply(&inner.worktree_merge(&input).await.map_err(fail)?)
    }

    #[wasm_bindgen(js_name = worktreeReview)]
    pub async fn worktree_review(&self, input: Ts<ReviewArgs>) -> Result<Ts<ReviewReply>, JsError> {
        let input = args(input)?;
        let inner = self.inner.clone();
        reply(&inner.worktree_review(&input).await.map_err(fail)?)
    }

    #[wasm_bindgen(js_name = worktreeCleanup)]
    pub async fn worktree_cleanup(&self, input: Ts<CleanupArgs>) -> Result<Ts<Reply>, JsError> {
        let input = args(input)?;
        let inner = self.inner.clone();
        reply(&inner.worktree_cleanup(&input).await.map_err(fail)?)
    }

    pub async fn progress(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<ProgressArgs>,
    ) -> Result<Ts<Reply>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.progress(&ctx, &input).await.map_err(fail)?)
    }

    pub async fn complete(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<CompleteArgs>,
    ) -> Result<Ts<Reply>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.complete(&ctx, &input).await.map_err(fail)?)
    }

    pub async fn cancel(&self, input: Ts<CancelArgs>) -> Result<Ts<Reply>, JsError> {
        let input = args(input)?;
        let inner = self.inner.clone();
        reply(&inner.cancel(&input).await.map_err(fail)?)
    }

    pub async fn send(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<SendArgs>,
    ) -> Result<Ts<Reply>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.send(&ctx, &input).await.map_err(fail)?)
    }

    pub async fn inbox(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<InboxArgs>,
    ) -> Result<Ts<Reply>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.inbox(&ctx, &input).await.map_err(fail)?)
    }

    pub async fn ack(
        &self,
        ctx: Ts<CallContext>,
        input: Ts<AckArgs>,
    ) -> Result<Ts<Reply>, JsError> {
        let (ctx, input) = (args(ctx)?, args(input)?);
        let inner = self.inner.clone();
        reply(&inner.ack(&ctx, &input).await.map_err(fail)?)
    }

    /// `swarm_log`: the log's events, filtered, one line each.
    pub async fn history(&self, input: Ts<LogArgs>) -> Result<Ts<Reply>, JsError> {
        let input = args(input)?;
        let inner = self.inner.clone();
        reply(&inner.history(&input).await.map_err(fail)?)
    }

    pub async fn status(&self, input: Ts<StatusArgs>) -> Result<Ts<Reply>, JsError> {
        let input = args(input)?;
        let inner = self.inner.clone();
        reply(&inner.status(&input).await.map_err(fail)?)
    }

    /// The plugin's `experimental.session.compacting` hook: the coordinator session's live
    /// epics, each bead's state and what waits on it; empty when it coordinates none.
    #[wasm_bindgen(js_name = compactionContext)]
    pub async fn compaction_context(&self, session_id: String) -> Result<String, JsError> {
        let inner = self.inner.clone();
        inner.compaction_context(&session_id).await.map_err(fail)
    }

    /// The plugin's `tool.execute.before` hook: rejects (with the reason) a worker's edit,
    /// write or patch call on a file it does not own; resolves for everything else. `args` is
    /// the tool call's arguments as OpenCode passes them.
    #[wasm_bindgen(js_name = guardWrite)]
    pub async fn guard_write(
        &self,
        session_id: String,
        tool: String,
        args: JsValue,
    ) -> Result<(), JsError> {
        if !crate::WRITE_TOOLS.contains(&tool.as_str()) {
            return Ok(());
        }
        let args: crate::WriteArgs = json::from_js(&args).map_err(|e| {
            JsError::new(&e.naming(&format!("{tool} argument"), &format!("{tool} arguments")))
        })?;
        let inner = self.inner.clone();
        inner
            .guard_write(&session_id, &tool, &args)
            .await
            .map_err(fail)
    }

    /// The bounds of the tools' arguments, from which the shim builds the schemas the model
    /// reads: the same table the core checks them against.
    #[wasm_bindgen(js_name = argLimits, unchecked_return_type = "ArgLimit[]")]
    pub fn arg_limits() -> Result<JsValue, JsError> {
        json::to_js(&crate::swarm::arg_limits()).map_err(|e| JsError::new(&e))
    }

    /// Runs the scheduler once (retries, stalls, blocked beads, retention) and carries out
    /// the starts it decides; resolves to the milliseconds until it has something due (0:
    /// nothing). The duties run it by themselves; this is for a one-off process (a script, a
    /// test) that runs no duties.
    pub async fn drain(&self) -> Result<f64, JsError> {
        self.inner.drain().await.map(|ms| ms as f64).map_err(fail)
    }

    /// Runs the instance's background duties for its lifetime (the returned promise never
    /// resolves): recovery at start, the scheduler on every log change and due time, toasts,
    /// waking idle coordinators, and probing the `servers` option's servers. Call it once,
    /// after `setHome`, without awaiting it.
    #[wasm_bindgen(js_name = runDuties)]
    pub fn run_duties(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            inner.run_duties().await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Feeds one server event (`type` and `properties` as the event hook receives them).
    /// Types the core does not act on return at once, without decoding `properties`.
    pub async fn observe(&self, event_type: String, properties: JsValue) -> Result<(), JsError> {
        if !ServerEvent::wanted(&event_type) {
            return Ok(());
        }
        let text = json::stringify(&properties).map_err(fail)?;
        let decoded = ServerEvent::decode(&event_type, &text).map_err(fail)?;
        let Some(event) = decoded else {
            return Ok(());
        };
        let inner = self.inner.clone();
        inner.observe(&event).await.map_err(fail)
    }
}
