//! Given-helpers shared by the core's integration tests.
#![allow(dead_code)]
use std::rc::Rc;

use apiary::api::{CallContext, CompleteArgs, PollArgs, SpawnArgs};
use apiary::error::HostError;
use apiary::host::{Clock, CreateSession, Message, SessionStatus, Sessions, Storage};
use apiary::testing::{FakeHost, MemoryStore};
use apiary::Apiary;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub fn apiary() -> Apiary<FakeHost> {
    Apiary::new(FakeHost::default())
}

pub fn coordinator() -> CallContext {
    CallContext {
        session_id: "ses_coord".into(),
        directory: "/repo".into(),
    }
}

pub fn worker(session: &str) -> CallContext {
    CallContext {
        session_id: session.into(),
        directory: "/repo".into(),
    }
}

pub fn spawn_args(bead: &str) -> SpawnArgs {
    SpawnArgs {
        bead_id: bead.into(),
        epic_id: "ep".into(),
        title: format!("task {bead}"),
        description: Some("do it".into()),
        files: vec![format!("src/{bead}.rs")],
        dependencies: None,
        shared_context: None,
    }
}

pub fn complete_args(bead: &str) -> CompleteArgs {
    CompleteArgs {
        bead_id: bead.into(),
        summary: format!("did {bead}"),
        files_touched: vec![format!("src/{bead}.rs")],
        status: None,
    }
}

pub fn poll_args() -> PollArgs {
    PollArgs {
        epic_id: "ep".into(),
        include_messages: None,
    }
}

pub fn count_lines(a: &Apiary<FakeHost>, event_type: &str) -> usize {
    let needle = format!("\"type\":\"{event_type}\"");
    a.host()
        .store
        .text()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A host whose store is shared with another host, as two plugin instances share a log file.
pub struct SharedHost {
    pub inner: FakeHost,
    pub store: Rc<MemoryStore>,
}

pub fn two_instances_on_one_store() -> (Apiary<SharedHost>, Apiary<SharedHost>) {
    let store = Rc::new(MemoryStore::default());
    let host = || SharedHost {
        inner: FakeHost::default(),
        store: store.clone(),
    };
    (Apiary::new(host()), Apiary::new(host()))
}

impl Sessions for SharedHost {
    async fn create_session(&self, r: &CreateSession) -> Result<String, HostError> {
        self.inner.create_session(r).await
    }
    async fn prompt_async(&self, s: &str, t: &str) -> Result<(), HostError> {
        self.inner.prompt_async(s, t).await
    }
    async fn status_map(&self) -> Result<BTreeMap<String, SessionStatus>, HostError> {
        self.inner.status_map().await
    }
    async fn messages(&self, s: &str, l: u32) -> Result<Vec<Message>, HostError> {
        self.inner.messages(s, l).await
    }
}

impl Storage for SharedHost {
    async fn lock(&self) -> Result<(), HostError> {
        self.store.lock().await
    }
    async fn unlock(&self) -> Result<(), HostError> {
        self.store.unlock().await
    }
    async fn read_from(&self, o: u64) -> Result<Vec<u8>, HostError> {
        self.store.read_from(o).await
    }
    async fn append(&self, b: &[u8]) -> Result<(), HostError> {
        self.store.append(b).await
    }
    async fn truncate(&self, l: u64) -> Result<(), HostError> {
        self.store.truncate(l).await
    }
}

impl Clock for SharedHost {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
}
