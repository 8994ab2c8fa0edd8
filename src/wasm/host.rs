//! The host traits implemented over a JavaScript object (`ApiaryHost` in TypeScript).
//!
//! The object's methods are thin wrappers of the OpenCode SDK client and of the log's storage;
//! whatever they return is decoded here (with the core's JSON reader), so the shim stays free
//! of domain logic.
use std::collections::BTreeMap;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::json;
use crate::error::HostError;
use crate::host::{
    AgentInfo, Clock, CreateSession, Diagnostics, GitOutput, Message, PromptRequest, SessionStatus,
    Sessions, Storage, Toast, Waits, Workspace,
};
use crate::json::{json_fields, FromJson};
use crate::schedule::Machine;

#[wasm_bindgen(typescript_custom_section)]
const HOST_TS: &str = r#"
/** What the core needs from its embedder. Every method may throw; the error's message is
 * shown to the caller. Offsets and lengths are byte counts of the log. */
export interface ApiaryHost {
  /** `client.session.create`; resolves to the new session's id. `directory` (a worktree)
   * selects the OpenCode instance the session runs in; undefined is the plugin's own. */
  createSession(
    parentId: string | undefined,
    title: string,
    directory: string | undefined,
    server: string | undefined,
  ): Promise<string>;
  /** `client.session.delete`. */
  deleteSession(sessionId: string, directory: string | undefined, server: string | undefined): Promise<void>;
  /** `client.session.promptAsync` with one text part, and the agent and model when given;
   * resolves once the server accepted it. */
  promptAsync(request: PromptAsync): Promise<void>;
  /** `client.session.status` data of a directory's instance: session id -> { type: "busy" |
   * "retry" | "idle", ... }. */
  sessionStatus(directory: string | undefined, server: string | undefined): Promise<unknown>;
  /** `client.session.messages` data for the last `limit` messages. */
  sessionMessages(
    sessionId: string,
    directory: string | undefined,
    limit: number,
    server: string | undefined,
  ): Promise<unknown>;
  /** The names of the server's agents (`client.app.agents`). */
  agents(): Promise<string[]>;
  /** `client.tui.showToast` with this title, message and variant (info, success, warning,
   * error). */
  showToast(title: string, message: string, variant: string): Promise<void>;
  /** `client.session.abort`: stops the session's running turn. */
  abortSession(sessionId: string, directory: string | undefined, server: string | undefined): Promise<void>;
  /** Readies `directory`'s instance for a first prompt without a model call: a session
   * there, its providers and file search loaded, its first snapshot taken (a `noReply`
   * prompt reverted), the session deleted. */
  warmInstance(directory: string, server: string | undefined): Promise<void>;
  /** `client.instance.dispose` for `directory`'s instance: its folder is gone. */
  disposeInstance(directory: string, server: string | undefined): Promise<void>;
  /** A cheap call to the server at `server` (`client.session.status`), given up after
   * `timeoutMs`; resolves when it answered, rejects with why not. */
  probeServer(server: string, timeoutMs: number): Promise<void>;
  /** The machine: the 1-minute load average as a percentage of the CPUs (whole number), and
   * available memory in MB. */
  machine(): Promise<{ load_percent: number; free_memory_mb: number }>;
  /** Runs git in `cwd`; a non-zero exit resolves (with its code), only a git that cannot run
   * rejects. */
  git(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs the POSIX `sh` script in `cwd` on this machine and resolves to what it printed,
   * stdout and stderr together, whatever its exit. Rejects only when `sh` could not run. */
  shell(cwd: string, script: string): Promise<string>;
  /** Runs the POSIX `sh` script in `directory` on the OpenCode server at `server` (a
   * `servers` option's url) and resolves to what it printed, stdout and stderr together.
   * Rejects only when the server could not run it. */
  remoteShell(server: string, directory: string, script: string, agent: string): Promise<string>;
  /** `app.agents` of the server at `server` for `directory`: each agent's name and mode. */
  remoteAgents(server: string, directory: string): Promise<{ name: string; mode: string }[]>;
  /** Exclusive write lock on the log, shared by every writer of the same log. */
  lock(): Promise<void>;
  unlock(): Promise<void>;
  /** The log's bytes from `offset` (empty when there is no log yet): at least `max` of them
   * unless the log ends sooner; all of the rest when `max` is not given. */
  readFrom(offset: number, max?: number): Promise<Uint8Array>;
  /** Appends to the log, with the lock held; not yet durable. */
  write(bytes: Uint8Array): Promise<void>;
  /** Resolves once everything written before the call is durable (fdatasync); concurrent
   * calls may share one flush. */
  sync(): Promise<void>;
  /** Cuts the log to `length` bytes (only with the lock held). */
  truncate(length: number): Promise<void>;
  /** The snapshot kept beside the log, if any (a cache of the projection). */
  loadSnapshot(): Promise<Uint8Array | undefined>;
  /** Replaces the snapshot atomically. */
  saveSnapshot(bytes: Uint8Array): Promise<void>;
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves at the next append to the log after the call, by any writer this host can see
   * (every instance in this process; other processes where the platform can watch files). */
  logChanged(): Promise<void>;
  /** Resolves after `ms`, on a timer that does not keep the process alive (unref'd). */
  idleSleep(ms: number): Promise<void>;
  /** A background duty failed: written where the server's operator sees it. */
  warn(message: string): void;
}

/** A prompt for `promptAsync`: the session (on `server`, in `directory`'s instance; undefined
 * is the plugin's own), its text, and the agent and model when given. */
export interface PromptAsync {
  sessionId: string;
  directory?: string;
  server?: string;
  text: string;
  agent?: string;
  model?: { providerID: string; modelID: string };
  /** Tools the session is not offered for this turn. */
  toolsOff?: string[];
  /** The text is the plugin's, not the user's: its part is marked synthetic. */
  synthetic?: boolean;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "ApiaryHost")]
    pub type JsHost;

    #[wasm_bindgen(method, catch, js_name = createSession)]
    fn create_session(
        this: &JsHost,
        parent: Option<String>,
        title: &str,
        directory: Option<String>,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = deleteSession)]
    fn delete_session(
        this: &JsHost,
        session: &str,
        directory: Option<String>,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = promptAsync)]
    fn prompt_async_js(this: &JsHost, request: JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = probeServer)]
    fn probe_server_js(this: &JsHost, server: &str, timeout_ms: f64) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = idleSleep)]
    fn idle_sleep_js(this: &JsHost, ms: f64) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, js_name = warn)]
    fn warn_js(this: &JsHost, message: &str);
    #[wasm_bindgen(method, catch, js_name = sessionStatus)]
    fn session_status(
        this: &JsHost,
        directory: Option<String>,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = sessionMessages)]
    fn session_messages(
        this: &JsHost,
        session: &str,
        directory: Option<String>,
        limit: u32,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = agents)]
    fn agents_js(this: &JsHost) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = showToast)]
    fn show_toast_js(
        this: &JsHost,
        title: &str,
        message: &str,
        variant: &str,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = abortSession)]
    fn abort_session_js(
        this: &JsHost,
        session: &str,
        directory: Option<String>,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = warmInstance)]
    fn warm_instance_js(
        this: &JsHost,
        directory: &str,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = disposeInstance)]
    fn dispose_instance_js(
        this: &JsHost,
        directory: &str,
        server: Option<String>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = machine)]
    fn machine_js(this: &JsHost) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = git)]
    fn git_js(this: &JsHost, cwd: &str, args: Vec<String>) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = shell)]
    fn shell_js(this: &JsHost, cwd: &str, script: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = remoteShell)]
    fn remote_shell_js(
        this: &JsHost,
        server: &str,
        directory: &str,
        script: &str,
        agent: &str,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = remoteAgents)]
    fn remote_agents_js(this: &JsHost, server: &str, directory: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn lock(this: &JsHost) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn unlock(this: &JsHost) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = readFrom)]
    fn read_from(this: &JsHost, offset: f64, max: f64) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn write(this: &JsHost, bytes: &[u8]) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn sync(this: &JsHost) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn truncate(this: &JsHost, length: f64) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = loadSnapshot)]
    fn load_snapshot(this: &JsHost) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = saveSnapshot)]
    fn save_snapshot(this: &JsHost, bytes: &[u8]) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method)]
    fn now(this: &JsHost) -> f64;
    #[wasm_bindgen(method, catch, js_name = logChanged)]
    fn log_changed_js(this: &JsHost) -> Result<Promise, JsValue>;
}

/// Awaits a host call, turning a throw or a rejection into a `HostError` that names the call.
async fn call(
    operation: &'static str,
    started: Result<Promise, JsValue>,
) -> Result<JsValue, HostError> {
    let promise = started.map_err(|e| HostError::new(operation, describe(&e)))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| HostError::new(operation, describe(&e)))
}

fn describe(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

fn decode<T: FromJson>(operation: &'static str, v: JsValue) -> Result<T, HostError> {
    json::from_js(&v).map_err(|e| HostError::new(operation, format!("unexpected reply: {e}")))
}

impl Sessions for JsHost {
    async fn create_session(&self, request: &CreateSession) -> Result<String, HostError> {
        const OP: &str = "session.create";
        let id = call(
            OP,
            self.create_session(
                request.parent_id.clone(),
                &request.title,
                request.directory.clone(),
                request.server.clone(),
            ),
        )
        .await?;
        id.as_string()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| HostError::new(OP, "the server returned no session id"))
    }

    async fn delete_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<(), HostError> {
        let (dir, server) = (directory.map(str::to_string), server.map(str::to_string));
        call(
            "session.delete",
            self.delete_session(session_id, dir, server),
        )
        .await
        .map(drop)
    }

    async fn prompt_async(&self, r: &PromptRequest) -> Result<(), HostError> {
        const OP: &str = "session.promptAsync";
        let request = json::to_js(&PromptAsync::from(r)).map_err(|e| HostError::new(OP, e))?;
        call(OP, self.prompt_async_js(request)).await?;
        Ok(())
    }

    async fn status_map(
        &self,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<BTreeMap<String, SessionStatus>, HostError> {
        const OP: &str = "session.status";
        let (dir, server) = (directory.map(str::to_string), server.map(str::to_string));
        let map = call(OP, self.session_status(dir, server)).await?;
        if map.is_undefined() || map.is_null() {
            return Ok(BTreeMap::new());
        }
        decode(OP, map)
    }

    async fn messages(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, HostError> {
        const OP: &str = "session.messages";
        let (dir, server) = (directory.map(str::to_string), server.map(str::to_string));
        decode(
            OP,
            call(OP, self.session_messages(session_id, dir, limit, server)).await?,
        )
    }

    async fn agents(&self) -> Result<Vec<String>, HostError> {
        const OP: &str = "app.agents";
        decode(OP, call(OP, self.agents_js()).await?)
    }

    async fn show_toast(&self, toast: &Toast) -> Result<(), HostError> {
        let started = self.show_toast_js(&toast.title, &toast.message, &toast.variant);
        call("tui.showToast", started).await.map(drop)
    }

    async fn abort_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<(), HostError> {
        let (dir, server) = (directory.map(str::to_string), server.map(str::to_string));
        call(
            "session.abort",
            self.abort_session_js(session_id, dir, server),
        )
        .await
        .map(drop)
    }

    async fn warm_instance(&self, server: Option<&str>, directory: &str) -> Result<(), HostError> {
        let started = self.warm_instance_js(directory, server.map(str::to_string));
        call("instance warm-up", started).await.map(drop)
    }

    async fn dispose_instance(
        &self,
        server: Option<&str>,
        directory: &str,
    ) -> Result<(), HostError> {
        let started = self.dispose_instance_js(directory, server.map(str::to_string));
        call("instance.dispose", started).await.map(drop)
    }

    async fn probe_server(&self, server: &str, timeout_ms: u64) -> Result<(), HostError> {
        let started = self.probe_server_js(server, timeout_ms as f64);
        call("probe", started).await.map(drop)
    }
}

/// `PromptRequest` in the shape of `PromptAsync` (the SDK's own names for the model).
struct PromptAsync<'a> {
    session_id: &'a str,
    directory: Option<&'a str>,
    server: Option<&'a str>,
    text: &'a str,
    agent: Option<&'a str>,
    model: Option<ModelJs<'a>>,
    tools_off: Vec<&'a str>,
    synthetic: bool,
}

json_fields!(write PromptAsync<'_> {
    req session_id = "sessionId",
    opt directory,
    opt server,
    req text,
    opt agent,
    opt model,
    opt tools_off = "toolsOff",
    opt synthetic,
});

struct ModelJs<'a> {
    provider_id: &'a str,
    model_id: &'a str,
}

json_fields!(write ModelJs<'_> {
    req provider_id = "providerID",
    req model_id = "modelID",
});

impl<'a> From<&'a PromptRequest> for PromptAsync<'a> {
    fn from(r: &'a PromptRequest) -> Self {
        Self {
            session_id: &r.session_id,
            directory: r.directory.as_deref(),
            server: r.server.as_deref(),
            text: &r.text,
            agent: r.agent.as_deref(),
            model: r.model.as_ref().map(|m| ModelJs {
                provider_id: &m.provider_id,
                model_id: &m.model_id,
            }),
            tools_off: r.tools_off.to_vec(),
            synthetic: r.synthetic,
        }
    }
}

impl Diagnostics for JsHost {
    fn warn(&self, message: &str) {
        self.warn_js(message);
    }
}

impl Workspace for JsHost {
    async fn git(&self, cwd: &str, args: &[&str]) -> Result<GitOutput, HostError> {
        const OP: &str = "git";
        let args = args.iter().map(|a| a.to_string()).collect();
        decode(OP, call(OP, self.git_js(cwd, args)).await?)
    }

    async fn shell(&self, cwd: &str, script: &str) -> Result<String, HostError> {
        const OP: &str = "shell";
        decode(OP, call(OP, self.shell_js(cwd, script)).await?)
    }

    async fn remote_shell(
        &self,
        server: &str,
        directory: &str,
        script: &str,
        agent: &str,
    ) -> Result<String, HostError> {
        const OP: &str = "remote shell";
        let started = self.remote_shell_js(server, directory, script, agent);
        decode(OP, call(OP, started).await?)
    }

    async fn remote_agents(
        &self,
        server: &str,
        directory: &str,
    ) -> Result<Vec<AgentInfo>, HostError> {
        const OP: &str = "app.agents";
        decode(
            OP,
            call(OP, self.remote_agents_js(server, directory)).await?,
        )
    }

    async fn machine(&self) -> Result<Machine, HostError> {
        const OP: &str = "machine";
        decode(OP, call(OP, self.machine_js()).await?)
    }
}

impl Storage for JsHost {
    async fn lock(&self) -> Result<(), HostError> {
        call("log lock", self.lock()).await.map(drop)
    }

    async fn unlock(&self) -> Result<(), HostError> {
        call("log unlock", self.unlock()).await.map(drop)
    }

    async fn read_from(&self, offset: u64, max: u64) -> Result<Vec<u8>, HostError> {
        let bytes = call("log read", self.read_from(offset as f64, max as f64)).await?;
        Ok(Uint8Array::new(&bytes).to_vec())
    }

    async fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        call("log write", self.write(bytes)).await.map(drop)
    }

    async fn sync(&self) -> Result<(), HostError> {
        call("log sync", self.sync()).await.map(drop)
    }

    async fn truncate(&self, len: u64) -> Result<(), HostError> {
        call("log truncate", self.truncate(len as f64))
            .await
            .map(drop)
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, HostError> {
        let bytes = call("snapshot load", self.load_snapshot()).await?;
        if bytes.is_undefined() || bytes.is_null() {
            return Ok(None);
        }
        Ok(Some(Uint8Array::new(&bytes).to_vec()))
    }

    async fn save_snapshot(&self, bytes: &[u8]) -> Result<(), HostError> {
        call("snapshot save", self.save_snapshot(bytes))
            .await
            .map(drop)
    }
}

impl Clock for JsHost {
    fn now_ms(&self) -> u64 {
        self.now() as u64
    }
}

impl Waits for JsHost {
    type Changed = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

    /// The JS promise is made now, so a change before the first poll of the future counts.
    /// A host whose `logChanged` fails never signals: the wait falls back on its timer.
    fn log_changed(&self) -> Self::Changed {
        match self.log_changed_js() {
            Ok(promise) => {
                let future = JsFuture::from(promise);
                Box::pin(async move {
                    if future.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
            }
            Err(_) => Box::pin(std::future::pending()),
        }
    }

    async fn sleep(&self, ms: u64) {
        gloo_timers::future::TimeoutFuture::new(ms.min(u32::MAX as u64) as u32).await;
    }

    /// A host whose timer fails falls back on a plain one: a duty must not spin.
    async fn idle_sleep(&self, ms: u64) {
        let slept = match self.idle_sleep_js(ms as f64) {
            Ok(promise) => JsFuture::from(promise).await.is_ok(),
            Err(_) => false,
        };
        if !slept {
            self.sleep(ms).await;
        }
    }
}
