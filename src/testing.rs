//! In-memory fakes of the host, for the core's native tests and for embedders' own tests.
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use crate::error::HostError;
use crate::host::{
    AgentInfo, Clock, CreateSession, Diagnostics, GitOutput, Message, PromptRequest, SessionStatus,
    Sessions, Storage, Toast, Waits, Workspace,
};
use crate::json::FromJson;
use crate::schedule::Machine;

/// Runs a future to completion on this thread. The fakes never pend, so this rarely parks.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// A byte store in memory. Its lock refuses a second holder, which exposes a writer that
/// forgets to unlock. `synced` is how many bytes a `sync` has made "durable"; `crash` drops
/// the rest, as a power cut would.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Bumped by every write, as the file store signals its appends.
    pub changes: Rc<ChangeSignal>,
    bytes: RefCell<Vec<u8>>,
    locked: Cell<bool>,
    synced: Cell<usize>,
    snapshot: RefCell<Option<Vec<u8>>>,
    pub syncs: Cell<u32>,
}

impl MemoryStore {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.borrow()).into_owned()
    }

    /// Appends bytes behind the log's back, as a crashed or foreign writer would.
    pub fn push_raw(&self, bytes: &[u8]) {
        self.bytes.borrow_mut().extend_from_slice(bytes);
    }

    /// Replaces the whole content, as damage on disk would.
    pub fn set_raw(&self, bytes: &[u8]) {
        *self.bytes.borrow_mut() = bytes.to_vec();
    }

    pub fn is_locked(&self) -> bool {
        self.locked.get()
    }

    /// Drops what was written but never synced.
    pub fn crash(&self) {
        let synced = self.synced.get();
        self.bytes.borrow_mut().truncate(synced);
        self.locked.set(false);
    }

    pub fn snapshot(&self) -> Option<Vec<u8>> {
        self.snapshot.borrow().clone()
    }

    pub fn set_snapshot(&self, bytes: Option<&[u8]>) {
        *self.snapshot.borrow_mut() = bytes.map(<[u8]>::to_vec);
    }
}

impl Storage for MemoryStore {
    async fn lock(&self) -> Result<(), HostError> {
        if self.locked.replace(true) {
            return Err(HostError::new("lock", "already locked"));
        }
        Ok(())
    }
    async fn unlock(&self) -> Result<(), HostError> {
        self.locked.set(false);
        Ok(())
    }
    async fn read_from(&self, offset: u64, max: u64) -> Result<Vec<u8>, HostError> {
        let bytes = self.bytes.borrow();
        let rest = bytes.get(offset as usize..).unwrap_or_default();
        Ok(rest[..rest.len().min(max as usize)].to_vec())
    }
    async fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.push_raw(bytes);
        self.changes.bump();
        Ok(())
    }
    async fn sync(&self) -> Result<(), HostError> {
        self.synced.set(self.bytes.borrow().len());
        self.syncs.set(self.syncs.get() + 1);
        Ok(())
    }
    async fn truncate(&self, len: u64) -> Result<(), HostError> {
        self.bytes.borrow_mut().truncate(len as usize);
        Ok(())
    }
    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.snapshot())
    }
    async fn save_snapshot(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.set_snapshot(Some(bytes));
        Ok(())
    }
}

impl AsRef<MemoryStore> for MemoryStore {
    fn as_ref(&self) -> &MemoryStore {
        self
    }
}

/// A counter of changes that wakes whoever waits for the next one.
#[derive(Debug, Default)]
pub struct ChangeSignal {
    version: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl ChangeSignal {
    pub fn bump(&self) {
        self.version.set(self.version.get() + 1);
        for waker in self.wakers.take() {
            waker.wake();
        }
    }

    /// A future that resolves at the next `bump` after this call.
    pub fn changed(self: &Rc<Self>) -> Changed {
        Changed {
            signal: self.clone(),
            seen: self.version.get(),
        }
    }
}

#[derive(Debug)]
pub struct Changed {
    signal: Rc<ChangeSignal>,
    seen: u64,
}

impl Future for Changed {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.version.get() != self.seen {
            return Poll::Ready(());
        }
        self.signal.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Yields to the executor once, so that futures joined with the caller get a turn.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Runs two futures on one thread, each polled in turn, and returns both outputs.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        if out_a.is_some() && out_b.is_some() {
            Poll::Ready((out_a.take().unwrap(), out_b.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Whether `directory` is a git worktree that is locked (its admin folder holds `locked`).
fn worktree_locked(directory: &str) -> bool {
    let Ok(dot_git) = std::fs::read_to_string(format!("{directory}/.git")) else {
        return false;
    };
    dot_git
        .trim()
        .strip_prefix("gitdir: ")
        .is_some_and(|admin| std::path::Path::new(admin).join("locked").exists())
}

/// A scriptable stand-in for the OpenCode server.
#[derive(Default)]
pub struct FakeSessions {
    next_id: Cell<u32>,
    pub created: RefCell<Vec<CreateSession>>,
    /// (session, text) of every prompt, and the whole requests.
    pub prompts: RefCell<Vec<(String, String)>>,
    pub prompt_requests: RefCell<Vec<PromptRequest>>,
    /// The directories whose status maps were read.
    pub status_directories: RefCell<Vec<Option<String>>>,
    /// The directories whose OpenCode instance was warmed up, in order.
    pub warmed: RefCell<Vec<String>>,
    /// For each warm-up, whether its directory was a locked git worktree meanwhile.
    pub warmed_locked: RefCell<Vec<bool>>,
    /// The directories whose OpenCode instance was disposed of, in order.
    pub disposed: RefCell<Vec<String>>,
    /// The agents the server knows; `build` and `plan` unless a test says otherwise.
    pub agents: RefCell<Option<Vec<String>>>,
    pub deletions: RefCell<Vec<String>>,
    pub status: RefCell<BTreeMap<String, SessionStatus>>,
    pub messages: RefCell<BTreeMap<String, Vec<Message>>>,
    pub fail_create: RefCell<Option<String>>,
    pub fail_prompt: RefCell<Option<String>>,
    pub fail_status: RefCell<Option<String>>,
    /// How many times the status map was read.
    pub status_reads: Cell<u32>,
    /// Sessions the server no longer knows: `messages` fails for them.
    pub deleted: RefCell<Vec<String>>,
    /// Runs inside `create_session`, before it answers: lets a test interleave another call.
    pub before_create: RefCell<Option<Box<dyn FnMut()>>>,
    /// How many times `create_session` yields before it answers (a server booting an
    /// instance), and the most creations that were under way at once.
    pub create_yields: Cell<u32>,
    creating: Cell<u32>,
    pub most_creating: Cell<u32>,
    /// Sessions whose turn was aborted, in order.
    pub aborts: RefCell<Vec<String>>,
    /// Toasts shown, in order.
    pub toasts: RefCell<Vec<Toast>>,
    /// Servers of the `servers` option that do not answer: every call to them fails.
    pub down: RefCell<Vec<String>>,
    /// (server, directory) of every script run on another server, in order.
    pub shells: RefCell<Vec<(String, String)>>,
    /// Servers whose probes never answer (neither yes nor no).
    pub silent: RefCell<Vec<String>>,
    /// The servers probed, in order.
    pub probes: RefCell<Vec<String>>,
    /// The agents of the other servers; `build` alone unless a test says otherwise.
    pub remote_agents: RefCell<Option<Vec<AgentInfo>>>,
    /// The agent each script on another server was asked to run under, in order.
    pub shell_agents: RefCell<Vec<String>>,
}

impl std::fmt::Debug for FakeSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSessions")
            .field("created", &self.created.borrow().len())
            .field("prompts", &self.prompts.borrow().len())
            .finish_non_exhaustive()
    }
}

impl FakeSessions {
    /// Fails a call to a server that does not answer.
    pub(crate) fn reach(&self, op: &'static str, server: Option<&str>) -> Result<(), HostError> {
        match server {
            Some(url) if self.down.borrow().iter().any(|d| d == url) => Err(HostError::new(
                op,
                format!("fetch failed: {url} does not answer"),
            )),
            _ => Ok(()),
        }
    }

    pub fn set_status(&self, session: &str, status: Option<SessionStatus>) {
        let mut map = self.status.borrow_mut();
        match status {
            Some(s) => map.insert(session.to_string(), s),
            None => map.remove(session),
        };
    }

    /// Leaves a session with an assistant reply that never finished and no error, as a
    /// server restart mid-turn does, and not busy.
    pub fn cut_turn(&self, session: &str) {
        self.cut_turn_begun_at(session, 1);
    }

    /// `cut_turn`, with the reply begun at `created` (ms).
    pub fn cut_turn_begun_at(&self, session: &str, created: u64) {
        let n = self.messages.borrow().get(session).map_or(0, Vec::len);
        self.end_turn(
            session,
            &format!(
                r#"{{"info":{{"id":"msg_{session}_{n}","role":"assistant","time":{{"created":{created}}}}},
                    "parts":[{{"type":"text","text":"half a thou"}}]}}"#
            ),
        );
    }

    /// Gives a session a finished assistant turn with this text.
    pub fn finish_turn(&self, session: &str, text: &str) {
        let mut quoted = String::new();
        crate::json::write_str(&mut quoted, text);
        self.end_turn(
            session,
            &format!(
                r#"{{"info":{{"role":"assistant","time":{{"created":1,"completed":2}}}},
                    "parts":[{{"type":"text","text":{quoted}}}]}}"#
            ),
        );
    }

    /// Gives a session a finished assistant reply `id` that spent `input` and `output` tokens
    /// and `cost` (a JSON number, as OpenCode writes it) on provider `p`, model `m`.
    pub fn finish_turn_spending(
        &self,
        session: &str,
        id: &str,
        input: u64,
        output: u64,
        cost: &str,
    ) {
        self.end_turn(
            session,
            &format!(
                r#"{{"info":{{"id":"{id}","role":"assistant","time":{{"created":1,"completed":2}},
                    "cost":{cost},"providerID":"p","modelID":"m",
                    "tokens":{{"input":{input},"output":{output},"reasoning":0,
                    "cache":{{"read":0,"write":0}}}}}},"parts":[{{"type":"text","text":"ok"}}]}}"#
            ),
        );
    }

    /// Appends a message (in the server's JSON shape, read as the host's answers are) and takes
    /// the session off the status map.
    fn end_turn(&self, session: &str, message: &str) {
        let json = crate::json::parse(message).expect("JSON");
        let message = Message::from_json(&json).expect("a valid message");
        self.messages
            .borrow_mut()
            .entry(session.to_string())
            .or_default()
            .push(message);
        self.set_status(session, None);
    }
}

impl Sessions for FakeSessions {
    async fn create_session(&self, request: &CreateSession) -> Result<String, HostError> {
        self.reach("session.create", request.server.as_deref())?;
        if let Some(msg) = self.fail_create.borrow().clone() {
            return Err(HostError::new("session.create", msg));
        }
        let hook = self.before_create.borrow_mut().take();
        if let Some(mut hook) = hook {
            hook();
        }
        self.creating.set(self.creating.get() + 1);
        self.most_creating
            .set(self.most_creating.get().max(self.creating.get()));
        for _ in 0..self.create_yields.get() {
            yield_now().await;
        }
        self.creating.set(self.creating.get() - 1);
        self.next_id.set(self.next_id.get() + 1);
        self.created.borrow_mut().push(request.clone());
        Ok(format!("ses_{}", self.next_id.get()))
    }
    async fn delete_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        _: Option<&str>,
    ) -> Result<(), HostError> {
        self.reach("session.delete", server)?;
        self.deletions.borrow_mut().push(session_id.to_string());
        Ok(())
    }
    async fn prompt_async(&self, request: &PromptRequest) -> Result<(), HostError> {
        self.reach("session.promptAsync", request.server.as_deref())?;
        if let Some(msg) = self.fail_prompt.borrow().clone() {
            return Err(HostError::new("session.promptAsync", msg));
        }
        self.prompts
            .borrow_mut()
            .push((request.session_id.clone(), request.text.clone()));
        self.prompt_requests.borrow_mut().push(request.clone());
        Ok(())
    }
    async fn status_map(
        &self,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<BTreeMap<String, SessionStatus>, HostError> {
        self.reach("session.status", server)?;
        self.status_reads.set(self.status_reads.get() + 1);
        self.status_directories
            .borrow_mut()
            .push(directory.map(str::to_string));
        if let Some(msg) = self.fail_status.borrow().clone() {
            return Err(HostError::new("session.status", msg));
        }
        Ok(self.status.borrow().clone())
    }
    async fn agents(&self) -> Result<Vec<String>, HostError> {
        Ok(self
            .agents
            .borrow()
            .clone()
            .unwrap_or_else(|| vec!["build".into(), "plan".into()]))
    }
    async fn show_toast(&self, toast: &Toast) -> Result<(), HostError> {
        self.toasts.borrow_mut().push(toast.clone());
        Ok(())
    }
    async fn abort_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        _: Option<&str>,
    ) -> Result<(), HostError> {
        self.reach("session.abort", server)?;
        self.aborts.borrow_mut().push(session_id.to_string());
        self.set_status(session_id, None);
        Ok(())
    }
    async fn warm_instance(&self, server: Option<&str>, directory: &str) -> Result<(), HostError> {
        self.reach("instance warm-up", server)?;
        self.warmed.borrow_mut().push(directory.to_string());
        self.warmed_locked
            .borrow_mut()
            .push(worktree_locked(directory));
        Ok(())
    }
    async fn dispose_instance(
        &self,
        server: Option<&str>,
        directory: &str,
    ) -> Result<(), HostError> {
        self.reach("instance.dispose", server)?;
        self.disposed.borrow_mut().push(directory.to_string());
        Ok(())
    }
    async fn probe_server(&self, server: &str, _: u64) -> Result<(), HostError> {
        self.probes.borrow_mut().push(server.to_string());
        if self.silent.borrow().iter().any(|s| s == server) {
            std::future::pending::<()>().await;
        }
        self.reach("session.status", Some(server))
    }
    async fn messages(
        &self,
        session_id: &str,
        server: Option<&str>,
        _: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, HostError> {
        self.reach("session.messages", server)?;
        if self.deleted.borrow().iter().any(|s| s == session_id) {
            return Err(HostError::new(
                "session.messages",
                format!("NotFoundError: session {session_id} not found"),
            ));
        }
        let all = self.messages.borrow();
        let list = all.get(session_id).cloned().unwrap_or_default();
        let skip = list.len().saturating_sub(limit as usize);
        Ok(list.into_iter().skip(skip).collect())
    }
}

#[derive(Debug)]
pub struct FakeClock(pub Cell<u64>);

impl Default for FakeClock {
    fn default() -> Self {
        Self(Cell::new(1_700_000_000_000))
    }
}

impl FakeClock {
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// A store shared by several hosts, as plugin instances share one log file.
impl<S: Storage> Storage for Rc<S> {
    async fn lock(&self) -> Result<(), HostError> {
        (**self).lock().await
    }
    async fn unlock(&self) -> Result<(), HostError> {
        (**self).unlock().await
    }
    async fn read_from(&self, offset: u64, max: u64) -> Result<Vec<u8>, HostError> {
        (**self).read_from(offset, max).await
    }
    async fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        (**self).write(bytes).await
    }
    async fn sync(&self) -> Result<(), HostError> {
        (**self).sync().await
    }
    async fn truncate(&self, len: u64) -> Result<(), HostError> {
        (**self).truncate(len).await
    }
    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, HostError> {
        (**self).load_snapshot().await
    }
    async fn save_snapshot(&self, bytes: &[u8]) -> Result<(), HostError> {
        (**self).save_snapshot(bytes).await
    }
}

/// The three fakes together, as one host. `S` is the store: a `MemoryStore` of its own, or an
/// `Rc<MemoryStore>` shared with other hosts.
#[derive(Debug)]
pub struct FakeHost<S = MemoryStore> {
    pub sessions: FakeSessions,
    pub store: S,
    pub clock: FakeClock,
    /// What `machine` reports: an idle machine unless a test says otherwise.
    pub machine: Cell<Machine>,
    /// How many times `machine` yields before it answers (a host reading /proc).
    pub machine_yields: Cell<u32>,
    /// What the core warned about, in order.
    pub warnings: RefCell<Vec<String>>,
}

/// A machine with nothing to do, as the fakes report by default.
pub const IDLE_MACHINE: Machine = Machine {
    load_percent: 10,
    free_memory_mb: 16_384,
};

impl<S: Default> Default for FakeHost<S> {
    fn default() -> Self {
        Self::with_store(S::default())
    }
}

impl<S> FakeHost<S> {
    pub fn with_store(store: S) -> Self {
        Self {
            sessions: FakeSessions::default(),
            store,
            clock: FakeClock::default(),
            machine: Cell::new(IDLE_MACHINE),
            machine_yields: Cell::new(0),
            warnings: RefCell::default(),
        }
    }
}

impl<S> Sessions for FakeHost<S> {
    async fn create_session(&self, request: &CreateSession) -> Result<String, HostError> {
        self.sessions.create_session(request).await
    }
    async fn delete_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        dir: Option<&str>,
    ) -> Result<(), HostError> {
        self.sessions.delete_session(session_id, server, dir).await
    }
    async fn prompt_async(&self, request: &PromptRequest) -> Result<(), HostError> {
        self.sessions.prompt_async(request).await
    }
    async fn status_map(
        &self,
        server: Option<&str>,
        directory: Option<&str>,
    ) -> Result<BTreeMap<String, SessionStatus>, HostError> {
        self.sessions.status_map(server, directory).await
    }
    async fn messages(
        &self,
        session_id: &str,
        server: Option<&str>,
        directory: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, HostError> {
        self.sessions
            .messages(session_id, server, directory, limit)
            .await
    }
    async fn agents(&self) -> Result<Vec<String>, HostError> {
        self.sessions.agents().await
    }
    async fn abort_session(
        &self,
        session_id: &str,
        server: Option<&str>,
        dir: Option<&str>,
    ) -> Result<(), HostError> {
        self.sessions.abort_session(session_id, server, dir).await
    }
    async fn warm_instance(&self, server: Option<&str>, directory: &str) -> Result<(), HostError> {
        self.sessions.warm_instance(server, directory).await
    }
    async fn dispose_instance(
        &self,
        server: Option<&str>,
        directory: &str,
    ) -> Result<(), HostError> {
        self.sessions.dispose_instance(server, directory).await
    }
    async fn show_toast(&self, toast: &Toast) -> Result<(), HostError> {
        self.sessions.show_toast(toast).await
    }
    async fn probe_server(&self, server: &str, timeout_ms: u64) -> Result<(), HostError> {
        self.sessions.probe_server(server, timeout_ms).await
    }
}

/// Warnings are kept for the test to read.
impl<S> Diagnostics for FakeHost<S> {
    fn warn(&self, message: &str) {
        self.warnings.borrow_mut().push(message.to_string());
    }
}

/// Real git and `sh`, run as child processes (native builds only), as the plugin runs them.
impl<S> Workspace for FakeHost<S> {
    async fn git(&self, cwd: &str, args: &[&str]) -> Result<GitOutput, HostError> {
        run_git(cwd, args)
    }
    async fn shell(&self, cwd: &str, script: &str) -> Result<String, HostError> {
        run_sh("shell", cwd, script)
    }
    /// Runs the script with this machine's `sh`, as if the server were here: a test gives each
    /// "server" a clone of its own.
    async fn remote_shell(
        &self,
        server: &str,
        directory: &str,
        script: &str,
        agent: &str,
    ) -> Result<String, HostError> {
        self.sessions.reach("session.shell", Some(server))?;
        self.sessions
            .shell_agents
            .borrow_mut()
            .push(agent.to_string());
        if let Some(known) = self.sessions.remote_agents.borrow().as_ref() {
            if !known.iter().any(|a| a.name == agent) {
                return Err(HostError::new(
                    "session.shell",
                    format!("NotFoundError: agent {agent}"),
                ));
            }
        }
        self.sessions
            .shells
            .borrow_mut()
            .push((server.to_string(), directory.to_string()));
        run_sh("session.shell", directory, script)
    }
    async fn remote_agents(&self, server: &str, _: &str) -> Result<Vec<AgentInfo>, HostError> {
        self.sessions.reach("app.agents", Some(server))?;
        let build = AgentInfo {
            name: "build".into(),
            mode: "primary".into(),
        };
        Ok(self
            .sessions
            .remote_agents
            .borrow()
            .clone()
            .unwrap_or_else(|| vec![build]))
    }
    async fn machine(&self) -> Result<Machine, HostError> {
        for _ in 0..self.machine_yields.get() {
            yield_now().await;
        }
        Ok(self.machine.get())
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn run_sh(op: &'static str, cwd: &str, script: &str) -> Result<String, HostError> {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| HostError::new(op, e.to_string()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[cfg(target_arch = "wasm32")]
fn run_sh(op: &'static str, _: &str, _: &str) -> Result<String, HostError> {
    Err(HostError::new(op, "not available in this build"))
}

#[cfg(not(target_arch = "wasm32"))]
fn run_git(cwd: &str, args: &[&str]) -> Result<GitOutput, HostError> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| HostError::new("git", e.to_string()))?;
    Ok(GitOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[cfg(target_arch = "wasm32")]
fn run_git(_: &str, _: &[&str]) -> Result<GitOutput, HostError> {
    Err(HostError::new("git", "not available in this build"))
}

impl<S: Storage> Storage for FakeHost<S> {
    async fn lock(&self) -> Result<(), HostError> {
        self.store.lock().await
    }
    async fn unlock(&self) -> Result<(), HostError> {
        self.store.unlock().await
    }
    async fn read_from(&self, offset: u64, max: u64) -> Result<Vec<u8>, HostError> {
        self.store.read_from(offset, max).await
    }
    async fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.store.write(bytes).await
    }
    async fn sync(&self) -> Result<(), HostError> {
        self.store.sync().await
    }
    async fn truncate(&self, len: u64) -> Result<(), HostError> {
        self.store.truncate(len).await
    }
    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, HostError> {
        self.store.load_snapshot().await
    }
    async fn save_snapshot(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.store.save_snapshot(bytes).await
    }
}

impl<S> Clock for FakeHost<S> {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

/// How many turns a fake sleep gives to other futures before its time passes.
pub const SLEEP_YIELDS: usize = 8;

/// Time passes only when someone sleeps: a sleep first yields a few times (so that futures
/// joined with the sleeper, which stand for things happening meanwhile, get their turns), then
/// moves the fake clock on and ends. A test of a wait is exact and instant, and a sleep that
/// loses a race (dropped before it ends) leaves the clock where it was.
impl<S: AsRef<MemoryStore>> Waits for FakeHost<S> {
    type Changed = Changed;
    fn log_changed(&self) -> Changed {
        self.store.as_ref().changes.changed()
    }
    async fn sleep(&self, ms: u64) {
        for _ in 0..SLEEP_YIELDS {
            yield_now().await;
        }
        self.clock.advance(ms);
    }
}
