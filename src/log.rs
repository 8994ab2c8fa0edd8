//! The event log: chained JSON lines in a byte store, folded into the swarm projection.
//!
//! Writers take the store's lock, catch up with whatever other writers appended, number and
//! seal their events after the last one, write, release the lock, and only then wait for the
//! flush, so that writers waiting at the same time share one (group commit). Readers catch up
//! without the lock and take only complete lines, so they never see half an event. Ingestion
//! skips sequence numbers it has already applied, which makes concurrent catch-ups within one
//! instance harmless.
//!
//! Damage (a changed, missing or unreadable line) stops reading at that line: the events before
//! it stay readable, the damage is reported with its line number, and nothing more is written
//! until the file is repaired. A torn last line (a writer killed mid-write) is cut off on
//! open, under the lock, and reported. Lines are read with the `LineReader` the views use too.
use std::cell::{Cell, Ref, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::chain;
use crate::error::LogError;
use crate::event::{self, Event, EventBody, SCHEMA_VERSION};
use crate::host::Storage;
use crate::json::{Ignored, ObjWriter, Parser};
use crate::projection::Swarm;

mod reader;

pub use reader::{check_line, Damage, LineReader};

/// Events between two snapshots of the projection.
pub const SNAPSHOT_EVERY: u64 = 2_000;
/// A complete line longer than this is damage, not an event.
pub const MAX_LINE: usize = 1 << 20;
/// The piece of the log a catch-up reads at a time: a long log is folded piece by piece, never
/// held whole in memory (a line longer than a piece is read with a larger one).
const READ_PIECE: u64 = 256 * 1024;
/// How much of the log before a snapshot's offset is read first to find the line that ends
/// there (more when that line is longer).
const SNAPSHOT_CHECK_BYTES: u64 = 4096;
const SNAPSHOT_FORMAT: u32 = 1;

/// The projection as of a byte offset of the log, with the chain value there: a cache that
/// makes opening a long log cost only the events after it.
struct Snapshot {
    offset: u64,
    lines: u64,
    next_seq: u64,
    chain: String,
    swarm: Swarm,
}

impl Snapshot {
    /// The snapshot of `swarm` as `reader` stands, written straight from the projection (a
    /// copy of it would double the memory of a large one) into room for `size` bytes, the
    /// last snapshot's size, so that the text does not grow by doubling either.
    fn encode(reader: &LineReader, swarm: &Swarm, size: usize) -> Vec<u8> {
        let mut out = String::with_capacity(size + size / 8);
        let mut o = ObjWriter::new(&mut out);
        o.field("format", &SNAPSHOT_FORMAT);
        o.field("offset", &reader.offset());
        o.field("lines", &reader.lines());
        o.field("next_seq", &reader.next_seq());
        o.field("chain", &reader.chain());
        o.field("swarm", swarm);
        o.end();
        out.into_bytes()
    }

    /// `None` for anything but a whole snapshot of this format: the log is replayed instead.
    /// With a `scope`, its projection is read as `Swarm::scoped` folds it.
    fn decode(bytes: &[u8], scope: Option<&str>) -> Option<Self> {
        let mut p = Parser::new(std::str::from_utf8(bytes).ok()?);
        let (mut format, mut offset, mut lines, mut next_seq) = (None, None, None, None);
        let (mut chain, mut swarm) = (None, None);
        p.fields(&mut |p, name| {
            match &*name {
                "format" => format = Some(p.read::<u32>()?),
                "offset" => offset = Some(p.read()?),
                "lines" => lines = Some(p.read()?),
                "next_seq" => next_seq = Some(p.read()?),
                "chain" => chain = Some(p.read()?),
                "swarm" => swarm = Some(Swarm::read(p, scope)?),
                _ => {
                    p.read::<Ignored>()?;
                }
            }
            Ok(())
        })
        .ok()?;
        p.end().ok()?;
        format.filter(|&f| f == SNAPSHOT_FORMAT)?;
        Some(Self {
            offset: offset?,
            lines: lines?,
            next_seq: next_seq?,
            chain: chain?,
            swarm: swarm?,
        })
    }
}

#[derive(Debug, Default)]
struct LogState {
    opened: bool,
    /// Where reading stands (always the end of a complete line), and the first damaged line:
    /// nothing after it is read, and nothing more is written.
    reader: LineReader,
    swarm: Swarm,
    /// Bytes of torn last lines cut off by this instance.
    recovered_bytes: u64,
    /// `next_seq` when the last snapshot was saved or loaded.
    snapshot_seq: u64,
    from_snapshot: bool,
    /// The size of the last snapshot saved or loaded, in bytes.
    snapshot_len: usize,
}

/// What a caller may want to tell a user about the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHealth {
    pub events: u64,
    pub recovered_bytes: u64,
    pub damage: Option<String>,
    pub from_snapshot: bool,
}

type Decide = Box<dyn FnOnce(&Swarm) -> Vec<EventBody>>;
type Outcome = Result<Vec<Event>, LogError>;

/// An append waiting in the queue, and where its outcome goes.
struct Pending {
    timestamp: u64,
    decide: RefCell<Option<Decide>>,
    slot: Rc<Slot>,
}

impl Pending {
    fn decide_take(&self) -> Decide {
        self.decide
            .borrow_mut()
            .take()
            .expect("each append decides once")
    }
}

#[derive(Default)]
struct Slot {
    outcome: RefCell<Option<Outcome>>,
    waker: RefCell<Option<Waker>>,
}

impl Slot {
    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Resolves after its slot was woken once (with an outcome, or to take the lead).
struct Woken {
    slot: Rc<Slot>,
    polled: bool,
}

impl Future for Woken {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled || self.slot.outcome.borrow().is_some() {
            return Poll::Ready(());
        }
        self.polled = true;
        *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

pub struct EventLog {
    state: RefCell<LogState>,
    /// Appends of this instance waiting for the current batch to finish.
    queue: RefCell<VecDeque<Pending>>,
    /// Whether an append of this instance is writing a batch right now.
    leading: Cell<bool>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("state", &self.state)
            .field("queued", &self.queue.borrow().len())
            .finish()
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

fn fresh_state() -> LogState {
    LogState {
        snapshot_seq: 1,
        ..LogState::default()
    }
}

/// What a log's projection holds: the whole swarm, or a worker's instance's part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fold {
    Whole,
    /// The workers of this directory (see `Swarm::scoped`).
    Scoped(String),
}

impl EventLog {
    pub fn new() -> Self {
        Self {
            state: RefCell::new(fresh_state()),
            queue: RefCell::default(),
            leading: Cell::new(false),
        }
    }

    /// The projection as of the last catch-up.
    pub fn swarm(&self) -> Ref<'_, Swarm> {
        Ref::map(self.state.borrow(), |s| &s.swarm)
    }

    pub fn health(&self) -> LogHealth {
        let s = self.state.borrow();
        LogHealth {
            events: s.reader.next_seq() - 1,
            recovered_bytes: s.recovered_bytes,
            damage: s.reader.damage().map(|d| corrupt(d).to_string()),
            from_snapshot: s.from_snapshot,
        }
    }

    /// Bytes of a torn last line cut off by this instance (0 if none).
    pub fn recovered_bytes(&self) -> u64 {
        self.state.borrow().recovered_bytes
    }

    /// Makes the projection hold only what a worker's instance in `home` needs (see
    /// `Swarm::scoped`), if nothing was read yet. Such a log never saves a snapshot (its
    /// projection is not the whole one), and reads the whole one's keeping only its part.
    pub fn scope_to(&self, home: &str) {
        let mut s = self.state.borrow_mut();
        if !s.opened && s.reader.offset() == 0 {
            s.swarm = Swarm::scoped(home);
        }
    }

    /// What the projection holds.
    pub fn fold(&self) -> Fold {
        match self.state.borrow().swarm.scope() {
            Some(home) => Fold::Scoped(home.to_string()),
            None => Fold::Whole,
        }
    }

    /// Reads and applies whatever was appended since the last catch-up. Damage is not an error
    /// here: the valid prefix stays readable, and `health` says where reading stopped.
    pub async fn refresh(&self, store: &impl Storage) -> Result<(), LogError> {
        if !self.state.borrow().opened {
            return self.open(store).await;
        }
        if self.state.borrow().reader.damage().is_some() {
            return Ok(());
        }
        self.catch_up(store).await?;
        self.save_snapshot_if_due(store).await;
        Ok(())
    }

    /// Reads and folds the log from where reading stands to its end, a piece at a time;
    /// returns what follows its last complete line (a line being written, or torn).
    async fn catch_up(&self, store: &impl Storage) -> Result<Vec<u8>, LogError> {
        let mut want = READ_PIECE;
        loop {
            let start = self.state.borrow().reader.offset();
            let bytes = store.read_from(start, want).await?;
            let rest = self.ingest(start, &bytes) as usize;
            if self.state.borrow().reader.damage().is_some() {
                return Ok(Vec::new());
            }
            if (bytes.len() as u64) < want {
                return Ok(bytes[bytes.len() - rest..].to_vec());
            }
            // A piece with no complete line holds the start of a longer one.
            want = if rest == bytes.len() {
                want * 2
            } else {
                READ_PIECE
            };
        }
    }

    /// First catch-up: from a snapshot that still matches the log, or from the start; then a
    /// torn last line, if any, is cut off under the lock.
    async fn open(&self, store: &impl Storage) -> Result<(), LogError> {
        self.restore_snapshot(store).await;
        let torn = self.catch_up(store).await?;
        if !torn.is_empty() && self.state.borrow().reader.damage().is_none() {
            store.lock().await?;
            let recovered = self.recover_torn_tail(store).await;
            let unlocked = store.unlock().await;
            recovered?;
            unlocked?;
        }
        self.state.borrow_mut().opened = true;
        self.save_snapshot_if_due(store).await;
        Ok(())
    }

    /// With the lock held: catches up and cuts off an incomplete last line, which can only be
    /// what a crashed writer left, since no writer is mid-line while we hold the lock.
    async fn recover_torn_tail(&self, store: &impl Storage) -> Result<(), LogError> {
        let tail = self.catch_up(store).await?;
        let torn = tail.len() as u64;
        if torn == 0 || self.state.borrow().reader.damage().is_some() {
            return Ok(());
        }
        if !looks_torn(&tail) {
            // Not what a writer of this log leaves: keep it, and say where it is.
            self.state.borrow_mut().reader.stop(format!(
                "the last {torn} bytes are not a complete line and do not look like a torn \
                 event; not cut off"
            ));
            return Ok(());
        }
        let end = self.state.borrow().reader.offset();
        store.truncate(end).await?;
        self.state.borrow_mut().recovered_bytes += torn;
        Ok(())
    }

    /// Loads the snapshot if it matches the log and nothing was read yet.
    async fn restore_snapshot(&self, store: &impl Storage) {
        let Ok(Some(bytes)) = store.load_snapshot().await else {
            return;
        };
        let scope = self.state.borrow().swarm.scope().map(str::to_string);
        let Some(snap) = Snapshot::decode(&bytes, scope.as_deref()) else {
            return;
        };
        if !self.matches_log(store, &snap).await {
            return;
        }
        let mut s = self.state.borrow_mut();
        if s.reader.offset() != 0 || s.reader.next_seq() != 1 {
            // A concurrent first call of this instance got further meanwhile: never go back.
            return;
        }
        s.reader = LineReader::resume(snap.offset, snap.lines, snap.next_seq, snap.chain);
        s.snapshot_seq = snap.next_seq;
        s.swarm = snap.swarm;
        s.from_snapshot = true;
        s.snapshot_len = bytes.len();
    }

    /// A snapshot matches when the line that ends at its offset carries its chain value.
    async fn matches_log(&self, store: &impl Storage, snap: &Snapshot) -> bool {
        if snap.offset == 0 {
            return snap.next_seq == 1;
        }
        // Back from the offset until a line's start is in sight.
        let mut back = SNAPSHOT_CHECK_BYTES;
        loop {
            let from = snap.offset.saturating_sub(back);
            let Ok(bytes) = store.read_from(from, snap.offset - from).await else {
                return false;
            };
            let Some(head) = bytes.get(..(snap.offset - from) as usize) else {
                return false;
            };
            let Some(body) = head.strip_suffix(b"\n") else {
                return false;
            };
            let whole = from == 0 || body.contains(&b'\n');
            if !whole && back <= MAX_LINE as u64 {
                back *= 4;
                continue;
            }
            let last = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
            return std::str::from_utf8(last)
                .ok()
                .and_then(chain::stored)
                .is_some_and(|h| h == snap.chain);
        }
    }

    async fn save_snapshot_if_due(&self, store: &impl Storage) {
        let bytes = {
            let s = self.state.borrow();
            let r = &s.reader;
            if r.damage().is_some()
                || r.next_seq() - s.snapshot_seq < SNAPSHOT_EVERY
                || s.swarm.scope().is_some()
            {
                return;
            }
            // Before any snapshot, about what one takes per worker.
            let size = match s.snapshot_len {
                0 => s.swarm.workers().count() * 1024,
                n => n,
            };
            Snapshot::encode(r, &s.swarm, size)
        };
        self.state.borrow_mut().snapshot_len = bytes.len();
        // Marked taken before the save, so that calls meanwhile do not each clone and save a
        // snapshot of their own (a thousand at once ran the wasm out of memory under load).
        let next_seq = self.state.borrow().reader.next_seq();
        let previous = std::mem::replace(&mut self.state.borrow_mut().snapshot_seq, next_seq);
        // Only a cache: a failure costs a slower next open, nothing else.
        if store.save_snapshot(&bytes).await.is_err() {
            self.state.borrow_mut().snapshot_seq = previous;
        }
    }

    /// Appends events as one durable write and applies them; returns them numbered.
    pub async fn append(
        &self,
        store: &impl Storage,
        timestamp: u64,
        bodies: &[EventBody],
    ) -> Result<Vec<Event>, LogError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let bodies = bodies.to_vec();
        self.append_with(store, timestamp, move |_| bodies).await
    }

    /// Check-then-append as one step: `decide` sees the projection caught up under the write
    /// lock, so what it decides cannot be overtaken by another writer (an observation that
    /// another instance already recorded is not recorded twice).
    ///
    /// Appends of this instance that arrive while a batch is being written wait, and the next
    /// batch takes them all under one lock, one write and one flush (group commit).
    pub async fn append_with(
        &self,
        store: &impl Storage,
        timestamp: u64,
        decide: impl FnOnce(&Swarm) -> Vec<EventBody> + 'static,
    ) -> Result<Vec<Event>, LogError> {
        if !self.state.borrow().opened {
            self.open(store).await?;
        }
        let slot = Rc::new(Slot::default());
        self.queue.borrow_mut().push_back(Pending {
            timestamp,
            decide: RefCell::new(Some(Box::new(decide))),
            slot: slot.clone(),
        });
        loop {
            if let Some(outcome) = slot.outcome.borrow_mut().take() {
                return outcome;
            }
            if !self.leading.get() {
                self.leading.set(true);
                let written = self.write_batch(store).await;
                self.leading.set(false);
                // Whoever is still queued (arrived during our batch) leads the next one, and
                // writes it while our flush is under way.
                if let Some(next) = self.queue.borrow().front() {
                    next.slot.wake();
                }
                self.settle(store, written).await;
                continue;
            }
            Woken {
                slot: slot.clone(),
                polled: false,
            }
            .await;
        }
    }

    /// Writes every queued append as one batch (not yet flushed) and returns them with their
    /// outcomes. The queue is taken only once the lock is held, so that appends arriving
    /// meanwhile join this batch.
    async fn write_batch(&self, store: &impl Storage) -> Vec<(Pending, Outcome)> {
        let locked = store.lock().await;
        let batch: Vec<Pending> = self.queue.borrow_mut().drain(..).collect();
        if batch.is_empty() {
            if locked.is_ok() {
                let _ = store.unlock().await;
            }
            return Vec::new();
        }
        let outcomes: Vec<Outcome> = match locked {
            Err(e) => batch.iter().map(|_| Err(e.clone().into())).collect(),
            Ok(()) => {
                let written = self.write_locked(store, &batch).await;
                let unlocked = store.unlock().await;
                match (written, unlocked) {
                    (Ok(outcomes), Ok(())) => outcomes,
                    (Err(e), _) => batch.iter().map(|_| Err(e.clone())).collect(),
                    (Ok(_), Err(e)) => batch.iter().map(|_| Err(e.clone().into())).collect(),
                }
            }
        };
        batch.into_iter().zip(outcomes).collect()
    }

    /// Flushes what a batch wrote, then hands each append its outcome: an append is
    /// acknowledged only once durable.
    async fn settle(&self, store: &impl Storage, written: Vec<(Pending, Outcome)>) {
        let wrote = written
            .iter()
            .any(|(_, o)| o.as_ref().is_ok_and(|e| !e.is_empty()));
        let synced = if wrote { store.sync().await } else { Ok(()) };
        for (pending, outcome) in written {
            let outcome = match (&synced, outcome) {
                (Err(e), Ok(_)) => Err(LogError::from(e.clone())),
                (_, outcome) => outcome,
            };
            *pending.slot.outcome.borrow_mut() = Some(outcome);
            pending.slot.wake();
        }
        self.save_snapshot_if_due(store).await;
    }

    /// With the lock held: catches up, lets each queued append decide in turn (seeing the
    /// events of those before it), and writes all their lines at once. One outcome each.
    async fn write_locked(
        &self,
        store: &impl Storage,
        batch: &[Pending],
    ) -> Result<Vec<Outcome>, LogError> {
        self.recover_torn_tail(store).await?;
        if let Some(damage) = self.state.borrow().reader.damage() {
            return Err(corrupt(damage));
        }
        let start = self.state.borrow().reader.offset();
        let mut text = String::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for pending in batch {
            let decide = pending.decide_take();
            let bodies = decide(&self.state.borrow().swarm);
            let mut events = Vec::with_capacity(bodies.len());
            for body in bodies {
                let line = self.seal_and_apply(pending.timestamp, &body);
                text.push_str(&line);
                events.push(Event {
                    seq: self.state.borrow().reader.next_seq() - 1,
                    version: SCHEMA_VERSION,
                    timestamp: pending.timestamp,
                    payload: event::Payload::Known(body),
                });
            }
            outcomes.push(Ok(events));
        }
        if text.is_empty() {
            return Ok(outcomes);
        }
        if let Err(e) = store.write(text.as_bytes()).await {
            // The projection already holds events that may not be on disk: start over from
            // the disk at the next catch-up, folding what it folded.
            let mut state = self.state.borrow_mut();
            let scope = state.swarm.scope().map(Swarm::scoped).unwrap_or_default();
            *state = fresh_state();
            state.swarm = scope;
            return Err(e.into());
        }
        debug_assert_eq!(
            self.state.borrow().reader.offset(),
            start + text.len() as u64
        );
        Ok(outcomes)
    }

    /// Numbers, encodes and seals one event after the last one, applies it, and returns its
    /// line (with its newline).
    fn seal_and_apply(&self, timestamp: u64, body: &EventBody) -> String {
        let mut state = self.state.borrow_mut();
        let seq = state.reader.next_seq();
        let object = event::encode(seq, timestamp, body);
        let (mut line, h) = chain::seal(state.reader.chain(), &object);
        line.push('\n');
        state.swarm.apply(&Event {
            seq,
            version: SCHEMA_VERSION,
            timestamp,
            payload: event::Payload::Known(body.clone()),
        });
        state.reader.wrote(line.len() as u64, h);
        line
    }

    /// Applies the complete lines of `bytes` (which start at byte `start` of the store) that
    /// are new. Stops at the first damaged line, recording it. Returns the length of an
    /// incomplete last line, left for a later catch-up.
    fn ingest(&self, start: u64, bytes: &[u8]) -> u64 {
        let mut state = self.state.borrow_mut();
        let LogState { reader, swarm, .. } = &mut *state;
        reader.read_at(start, bytes, &mut |event| swarm.apply(event))
    }
}

/// Whether an incomplete last line is what a writer killed mid-write leaves: the beginning of
/// an event line, no longer than a line may be.
fn looks_torn(tail: &[u8]) -> bool {
    const START: &[u8] = b"{\"seq\":";
    tail.len() < MAX_LINE && START.starts_with(&tail[..tail.len().min(START.len())])
}

/// Damage as the log reports it: by line.
fn corrupt(damage: &Damage) -> LogError {
    LogError::Corrupt {
        line: damage.line,
        reason: damage.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WorkerObserved;
    use crate::testing::{block_on, MemoryStore};

    fn started(session: &str) -> EventBody {
        EventBody::WorkerStarted(WorkerObserved {
            session_id: session.into(),
            bead_id: "b".into(),
        })
    }

    fn damage(log: &EventLog) -> String {
        log.health().damage.unwrap_or_default()
    }

    #[test]
    fn appended_events_are_numbered_from_one_and_read_back_by_another_reader() {
        let store = MemoryStore::default();
        let writer = EventLog::new();
        let events = block_on(writer.append(&store, 10, &[started("a"), started("b")])).unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        let reader = EventLog::new();
        block_on(reader.refresh(&store)).unwrap();
        assert_eq!(reader.swarm().last_seq(), 2);
        assert_eq!(reader.health().damage, None);
    }

    #[test]
    fn an_append_is_acknowledged_only_after_a_sync() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        store.crash();
        assert_eq!(store.text().lines().count(), 1);
        assert_eq!(store.syncs.get(), 1);
    }

    #[test]
    fn two_writers_on_one_store_never_reuse_a_sequence_number() {
        let store = MemoryStore::default();
        let (a, b) = (EventLog::new(), EventLog::new());
        block_on(a.append(&store, 1, &[started("x")])).unwrap();
        block_on(b.append(&store, 2, &[started("y")])).unwrap();
        block_on(a.append(&store, 3, &[started("z")])).unwrap();
        let seqs: Vec<u64> = store
            .text()
            .lines()
            .map(|l| event::decode(l).unwrap().seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn every_line_carries_a_chain_value() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x"), started("y")])).unwrap();
        assert!(store.text().lines().all(|l| chain::stored(l).is_some()));
    }

    #[test]
    fn an_incomplete_last_line_is_left_alone_by_a_reader_that_is_open() {
        let store = MemoryStore::default();
        let reader = EventLog::new();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        block_on(reader.refresh(&store)).unwrap();
        store.push_raw(b"{\"seq\":2,\"v\":2");
        block_on(reader.refresh(&store)).unwrap();
        assert_eq!(reader.swarm().last_seq(), 1);
        assert!(store.text().ends_with("{\"seq\":2,\"v\":2"));
    }

    #[test]
    fn a_torn_last_line_is_cut_off_on_open_and_reported() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        store.push_raw(b"{\"seq\":2,\"v\":2,\"tim");
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert_eq!(log.recovered_bytes(), 19);
        assert_eq!(store.text().lines().count(), 1);
        let events = block_on(log.append(&store, 2, &[started("y")])).unwrap();
        assert_eq!(events[0].seq, 2);
        assert!(!store.is_locked());
    }

    #[test]
    fn an_incomplete_tail_that_is_not_a_torn_event_is_reported_not_cut() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        store.push_raw(b"something else entirely");
        let before = store.text();
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert_eq!(store.text(), before);
        assert!(
            damage(&log).starts_with("event log line 2: the last 23 bytes"),
            "{}",
            damage(&log)
        );
        assert_eq!(log.swarm().last_seq(), 1);
    }

    #[test]
    fn a_changed_line_is_named_and_the_events_before_it_stay_readable() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("a"), started("b"), started("c")]))
            .unwrap();
        let text = store
            .text()
            .replacen("\"session_id\":\"b\"", "\"session_id\":\"B\"", 1);
        store.set_raw(text.as_bytes());
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert_eq!(log.swarm().last_seq(), 1);
        assert!(
            damage(&log).starts_with("event log line 2: checksum mismatch"),
            "{}",
            damage(&log)
        );
    }

    #[test]
    fn a_duplicated_v1_line_is_named() {
        let store = MemoryStore::default();
        let line = "{\"seq\":1,\"v\":1,\"timestamp\":5,\"type\":\"worker_started\",\"session_id\":\"s\",\"bead_id\":\"b\"}\n";
        store.push_raw(line.as_bytes());
        store.push_raw(line.as_bytes());
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert!(
            damage(&log).starts_with("event log line 2: sequence number 1 repeats"),
            "{}",
            damage(&log)
        );
    }

    #[test]
    fn a_missing_line_is_named() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("a"), started("b"), started("c")]))
            .unwrap();
        let text = store.text();
        let lines: Vec<&str> = text.lines().collect();
        store.set_raw(format!("{}\n{}\n", lines[0], lines[2]).as_bytes());
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert_eq!(log.swarm().last_seq(), 1);
        assert!(
            damage(&log).starts_with("event log line 2:"),
            "{}",
            damage(&log)
        );
    }

    #[test]
    fn nothing_is_written_after_damage() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("a")])).unwrap();
        store.push_raw(b"not json\n");
        let log = EventLog::new();
        let err = block_on(log.append(&store, 2, &[started("b")])).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { line: 2, .. }), "{err}");
        assert_eq!(store.text().lines().count(), 2);
        assert!(!store.is_locked());
    }

    #[test]
    fn a_line_over_the_limit_is_damage_not_an_event() {
        let store = MemoryStore::default();
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.push(b'\n');
        store.set_raw(&long);
        let log = EventLog::new();
        block_on(log.refresh(&store)).unwrap();
        assert!(
            damage(&log).contains("the limit is 1048576"),
            "{}",
            damage(&log)
        );
    }

    #[test]
    fn lines_written_by_schema_version_1_are_read_and_chained() {
        let store = MemoryStore::default();
        // As the first release wrote them: no `h`.
        store.push_raw(
            b"{\"seq\":1,\"v\":1,\"timestamp\":5,\"type\":\"worker_started\",\"session_id\":\"s\",\"bead_id\":\"b\"}\n",
        );
        let log = EventLog::new();
        block_on(log.append(&store, 6, &[started("t")])).unwrap();
        let reader = EventLog::new();
        block_on(reader.refresh(&store)).unwrap();
        assert_eq!(reader.health().damage, None);
        assert_eq!(reader.swarm().last_seq(), 2);
    }

    #[test]
    fn a_snapshot_is_saved_and_a_fresh_instance_opens_from_it() {
        let store = MemoryStore::default();
        let writer = EventLog::new();
        let batch: Vec<EventBody> = (0..SNAPSHOT_EVERY)
            .map(|i| started(&i.to_string()))
            .collect();
        block_on(writer.append(&store, 1, &batch)).unwrap();
        block_on(writer.append(&store, 2, &[started("after")])).unwrap();
        assert!(store.snapshot().is_some());
        let reader = EventLog::new();
        block_on(reader.refresh(&store)).unwrap();
        assert!(reader.health().from_snapshot);
        assert_eq!(reader.swarm().last_seq(), SNAPSHOT_EVERY + 1);
        assert_eq!(*reader.swarm(), *writer.swarm());
    }

    #[test]
    fn a_snapshot_that_no_longer_matches_the_log_is_ignored() {
        let store = MemoryStore::default();
        let batch: Vec<EventBody> = (0..SNAPSHOT_EVERY)
            .map(|i| started(&i.to_string()))
            .collect();
        block_on(EventLog::new().append(&store, 1, &batch)).unwrap();
        let snapshot = store.snapshot().unwrap();
        // The log is replaced by another one of the same length: the snapshot must not apply.
        let other = MemoryStore::default();
        let other_batch: Vec<EventBody> = (0..SNAPSHOT_EVERY)
            .map(|i| started(&format!("o{i}")))
            .collect();
        block_on(EventLog::new().append(&other, 1, &other_batch)).unwrap();
        other.set_snapshot(Some(&snapshot));
        let reader = EventLog::new();
        block_on(reader.refresh(&other)).unwrap();
        assert!(!reader.health().from_snapshot);
        assert_eq!(reader.swarm().last_seq(), SNAPSHOT_EVERY);
    }

    #[test]
    fn catching_up_twice_from_the_same_offset_applies_each_event_once() {
        let store = MemoryStore::default();
        let writer = EventLog::new();
        block_on(writer.append(&store, 1, &[started("x"), started("y")])).unwrap();
        let reader = EventLog::new();
        let bytes = store.text().into_bytes();
        reader.ingest(0, &bytes);
        reader.ingest(0, &bytes);
        assert_eq!(reader.swarm().last_seq(), 2);
        assert_eq!(reader.state.borrow().reader.next_seq(), 3);
    }
}
