//! One reader of the log's lines for all who read it: the log itself, the views and
//! `swarm_log` agree on every event and on where damage is, however the bytes arrive; and
//! `swarm_log` reads each byte of the log once, yet answers as a reading of the whole log does.
use std::cell::RefCell;

use apiary::api::LogArgs;
use apiary::chain;
use apiary::event::{self, Event, EventBody, Payload, WorkerQueued, WorkerSpawned};
use apiary::host::{Clock, Storage};
use apiary::log::{Damage, EventLog, LineReader};
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::view::{EventFilter, LogView, Until};
use apiary::{Apiary, HostError};

const T0: u64 = 1_700_000_000_000;

/// An event from its type and fields, as a line of the log spells them.
fn body(type_and_fields: &str) -> EventBody {
    let line = format!("{{\"seq\":1,\"v\":1,\"timestamp\":0,\"type\":{type_and_fields}}}");
    match event::decode(&line).expect("an event").payload {
        Payload::Known(body) => body,
        Payload::Unknown { type_name } => panic!("unknown type {type_name}"),
    }
}

fn spawned(bead: &str, epic: &str, session: &str) -> EventBody {
    EventBody::WorkerSpawned(WorkerSpawned {
        session_id: session.into(),
        bead_id: bead.into(),
        epic_id: epic.into(),
        title: format!("task {bead}"),
        ..WorkerSpawned::default()
    })
}

fn queued(bead: &str, epic: &str) -> EventBody {
    EventBody::WorkerQueued(WorkerQueued {
        bead_id: bead.into(),
        epic_id: epic.into(),
        title: format!("task {bead}"),
        ..WorkerQueued::default()
    })
}

/// A story whose events name their beads' epics in every way the projection knows: events of
/// a bead before it is queued or spawned (no epic), a bead cancelled while queued (its queue
/// entry's epic), a bead spawned again under another epic (its latest worker's), a bead
/// queued again under another epic, a bead queued while a worker of it exists (the worker's),
/// a completion that names an epic of its own, and events of no bead at all.
fn story() -> Vec<EventBody> {
    vec![
        body(r#""files_reserved","session_id":"ses_0","bead_id":"b1","paths":["src/a.rs"]"#),
        queued("b1", "e1"),
        body(r#""worker_cancelled","bead_id":"b1","epic_id":"e1","reason":"not needed""#),
        queued("b2", "e1"),
        spawned("b2", "e1", "ses_2"),
        body(r#""worker_started","session_id":"ses_2","bead_id":"b2""#),
        body(concat!(
            r#""worker_progress","session_id":"ses_2","bead_id":"b2","progress_percent":40,"#,
            r#""message":"a long message\nover   lines, with more words than the tool shows "#,
            r#"of any event's account, by far and away""#,
        )),
        body(concat!(
            r#""worker_failed","session_id":"ses_2","bead_id":"b2","epic_id":"e1","#,
            r#""error":"APIError","retryable":true"#,
        )),
        body(concat!(
            r#""worker_retried","bead_id":"b2","epic_id":"e1","attempt":2,"#,
            r#""previous_session_id":"ses_2","reason":"APIError""#,
        )),
        spawned("b2", "e2", "ses_3"),
        body(concat!(
            r#""worker_completed","session_id":"ses_3","bead_id":"b2","epic_id":"e3","#,
            r#""status":"success","summary":"done","files_touched":[],"duration_ms":5"#,
        )),
        body(concat!(
            r#""message_sent","message_id":"m1","from":"b2","from_session":"ses_3","#,
            r#""to":["coordinator"],"subject":"hello","body":"hi""#,
        )),
        queued("b3", "e2"),
        queued("b3", "e3"),
        spawned("b4", "e1", "ses_4"),
        queued("b4", "e2"),
        body(r#""worker_idle","session_id":"ses_9","bead_id":"b9""#),
        body(r#""server_lost","url":"http://b:4096","reason":"no answer""#),
    ]
}

/// The story as a log, one append per event, with a line of a type this build does not know
/// in the middle, as a later release would write it.
fn recorded() -> Vec<u8> {
    let store = MemoryStore::default();
    let log = EventLog::new();
    let events = story();
    for (i, e) in events.iter().enumerate() {
        if i == 9 {
            push_unknown(&store, i as u64 + 1);
        }
        block_on(log.append(&store, T0, std::slice::from_ref(e))).unwrap();
    }
    store.text().into_bytes()
}

/// Appends a line of an event type from the future, sealed after the last line.
fn push_unknown(store: &MemoryStore, seq: u64) {
    let text = store.text();
    let prev = text.lines().last().and_then(chain::stored).unwrap_or("");
    let object = format!(
        "{{\"seq\":{seq},\"v\":2,\"timestamp\":{T0},\"type\":\"worker_teleported\",\
         \"bead_id\":\"b2\"}}"
    );
    let (line, _) = chain::seal(prev, &object);
    store.push_raw(format!("{line}\n").as_bytes());
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn joined(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

/// The log damaged in each way a line can be, with the line damaged and why.
fn damaged_logs() -> Vec<(Vec<u8>, u64, &'static str)> {
    let lines = lines_of(&recorded());
    let mut changed = lines.clone();
    changed[4] = changed[4].replace("b2", "bX");
    let mut duplicated = lines.clone();
    duplicated.insert(6, lines[5].clone());
    let mut missing = lines.clone();
    missing.remove(7);
    let mut garbled = lines.clone();
    garbled[2] = "{not an event}".into();
    let mut non_utf8 = joined(&lines[..3]);
    non_utf8.extend_from_slice(b"\xff\xfe\n");
    non_utf8.extend_from_slice(&joined(&lines[3..]));
    // Lines of the first release carry no chain value: only their numbers tell.
    let v1 = |seqs: &[u64]| -> Vec<String> {
        seqs.iter()
            .map(|seq| {
                format!(
                    "{{\"seq\":{seq},\"v\":1,\"timestamp\":{T0},\"type\":\"worker_started\",\
                     \"session_id\":\"s\",\"bead_id\":\"b\"}}"
                )
            })
            .collect()
    };
    vec![
        (joined(&changed), 5, "checksum"),
        (joined(&duplicated), 7, "checksum"),
        (joined(&missing), 8, "checksum"),
        (joined(&garbled), 3, "not an event envelope"),
        (non_utf8, 4, "not UTF-8"),
        (joined(&v1(&[1, 2, 2, 3])), 3, "repeats"),
        (joined(&v1(&[1, 2, 4])), 3, "an event is missing"),
    ]
}

/// The bytes of the lines before line `line` (numbered from 1).
fn offset_of_line(bytes: &[u8], line: u64) -> u64 {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .take(line as usize - 1)
        .map(|l| l.len() as u64)
        .sum()
}

fn view_in_chunks(bytes: &[u8], size: usize) -> LogView {
    let mut v = LogView::new(Until::default());
    for c in bytes.chunks(size) {
        v.feed(c);
    }
    v
}

fn reader_in_chunks(bytes: &[u8], size: usize) -> (LineReader, Vec<u64>) {
    let mut r = LineReader::new();
    let mut seqs = Vec::new();
    for c in bytes.chunks(size) {
        r.feed(c, &mut |e: &Event| seqs.push(e.seq));
    }
    (r, seqs)
}

fn log_of(bytes: &[u8]) -> EventLog {
    let store = MemoryStore::default();
    store.set_raw(bytes);
    let log = EventLog::new();
    block_on(log.refresh(&store)).unwrap();
    log
}

#[test]
fn the_log_and_the_view_name_the_same_damaged_line_and_offset_in_any_chunking() {
    for (bytes, line, why) in damaged_logs() {
        let whole = view_in_chunks(&bytes, bytes.len());
        let damage = whole.health().damage.expect("damage found");
        assert_eq!(
            (damage.line, damage.offset),
            (line, offset_of_line(&bytes, line)),
            "{why}"
        );
        assert!(damage.reason.contains(why), "{why}: {}", damage.reason);
        let log = log_of(&bytes);
        assert_eq!(
            log.health().damage,
            Some(format!("event log line {line}: {}", damage.reason))
        );
        assert_eq!(log.health().events, whole.health().events, "{why}");
        assert_eq!(*log.swarm(), *whole.swarm(), "{why}");
        for size in [1, 2, 7, 64, 1000] {
            let v = view_in_chunks(&bytes, size);
            assert_eq!(v.health(), whole.health(), "{why}, chunks of {size}");
            assert_eq!(*v.swarm(), *whole.swarm(), "{why}, chunks of {size}");
            let (r, seqs) = reader_in_chunks(&bytes, size);
            assert_eq!(r.damage(), Some(&damage), "{why}, chunks of {size}");
            assert_eq!(seqs.len() as u64, line - 1, "{why}, chunks of {size}");
        }
    }
}

#[test]
fn a_reader_fed_in_chunks_yields_every_event_once_in_order_and_keeps_a_partial_line() {
    let bytes = recorded();
    let all: Vec<u64> = (1..=story().len() as u64 + 1).collect();
    for size in [1, 3, 50, bytes.len()] {
        let (r, seqs) = reader_in_chunks(&bytes, size);
        assert_eq!(seqs, all, "chunks of {size}");
        assert_eq!((r.offset(), r.partial_bytes()), (bytes.len() as u64, 0));
        assert_eq!(r.damage(), None);
    }
    let cut = bytes.len() - 10;
    let (mut r, seqs) = reader_in_chunks(&bytes[..cut], 9);
    assert_eq!(seqs.len(), all.len() - 1);
    assert_eq!(r.offset() + r.partial_bytes(), cut as u64);
    let mut last = Vec::new();
    r.feed(&bytes[cut..], &mut |e: &Event| last.push(e.seq));
    assert_eq!(last, [all.len() as u64]);
    assert_eq!(r.partial_bytes(), 0);
}

#[test]
fn reading_from_a_store_skips_what_was_read_and_leaves_an_incomplete_line_for_later() {
    let bytes = recorded();
    let mut r = LineReader::new();
    let mut seqs = Vec::new();
    let cut = bytes.len() - 10;
    let torn = r.read_at(0, &bytes[..cut], &mut |e: &Event| seqs.push(e.seq));
    assert_eq!(r.offset() + torn, cut as u64);
    // Not kept: the next read starts again at the end of the last complete line.
    assert_eq!(r.partial_bytes(), 0);
    // A read from the start again (a concurrent catch-up) applies only what is new.
    assert_eq!(r.read_at(0, &bytes, &mut |e: &Event| seqs.push(e.seq)), 0);
    let n = story().len() as u64 + 1;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    assert_eq!(r.offset(), bytes.len() as u64);
}

#[test]
fn damage_is_the_line_after_the_last_one_read_when_the_log_stops_reading_itself() {
    let mut r = LineReader::new();
    let bytes = recorded();
    r.read_at(0, &bytes, &mut |_: &Event| {});
    r.stop("the tail is not an event".into());
    assert_eq!(
        r.damage(),
        Some(&Damage {
            line: story().len() as u64 + 2,
            offset: bytes.len() as u64,
            reason: "the tail is not an event".into(),
        })
    );
    let before = r.offset();
    r.feed(b"more\n", &mut |_: &Event| {
        panic!("nothing is read after damage")
    });
    assert_eq!(r.offset(), before);
}

/// A store that says what each read asked for and got.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    reads: RefCell<Vec<(u64, usize)>>,
}

impl CountingStore {
    fn take_reads(&self) -> Vec<(u64, usize)> {
        std::mem::take(&mut self.reads.borrow_mut())
    }
}

impl AsRef<MemoryStore> for CountingStore {
    fn as_ref(&self) -> &MemoryStore {
        &self.inner
    }
}

impl Storage for CountingStore {
    async fn lock(&self) -> Result<(), HostError> {
        self.inner.lock().await
    }
    async fn unlock(&self) -> Result<(), HostError> {
        self.inner.unlock().await
    }
    async fn read_from(&self, offset: u64, max: u64) -> Result<Vec<u8>, HostError> {
        let bytes = self.inner.read_from(offset, max).await?;
        self.reads.borrow_mut().push((offset, bytes.len()));
        Ok(bytes)
    }
    async fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.inner.write(bytes).await
    }
    async fn sync(&self) -> Result<(), HostError> {
        self.inner.sync().await
    }
    async fn truncate(&self, len: u64) -> Result<(), HostError> {
        self.inner.truncate(len).await
    }
    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, HostError> {
        self.inner.load_snapshot().await
    }
    async fn save_snapshot(&self, bytes: &[u8]) -> Result<(), HostError> {
        self.inner.save_snapshot(bytes).await
    }
}

type Counted = Apiary<FakeHost<CountingStore>>;

fn counted() -> Counted {
    Apiary::new(FakeHost::with_store(CountingStore::default()))
}

fn append(a: &Counted, events: &[EventBody]) {
    let now = a.host().now_ms();
    block_on(a.log().append(a.host(), now, events)).unwrap();
}

fn log_of_all(a: &Counted) -> String {
    block_on(a.history(&LogArgs {
        limit: Some(200),
        ..LogArgs::default()
    }))
    .unwrap()
    .output
}

#[test]
fn swarm_log_after_new_appends_reads_only_the_new_bytes() {
    let a = counted();
    let events = story();
    append(&a, &events[..5]);
    let first_len = a.host().store.inner.text().len();
    a.host().store.take_reads();
    assert!(log_of_all(&a).starts_with("5 event(s):"));
    assert_eq!(a.host().store.take_reads(), [(0, first_len)]);

    append(&a, &events[5..]);
    let len = a.host().store.inner.text().len();
    a.host().store.take_reads();
    let out = log_of_all(&a);
    assert!(
        out.starts_with(&format!("{} event(s):", events.len())),
        "{out}"
    );
    assert_eq!(
        a.host().store.take_reads(),
        [(first_len as u64, len - first_len)]
    );

    assert_eq!(log_of_all(&a), out);
    assert_eq!(a.host().store.take_reads(), [(len as u64, 0)]);
}

#[test]
fn swarm_log_reads_an_incomplete_last_line_again_once_it_is_complete_or_replaced() {
    let a = counted();
    let events = story();
    append(&a, &events[..3]);
    let store = &a.host().store;
    let complete = store.inner.text().len() as u64;
    store.inner.push_raw(b"{\"seq\":4,\"v\":2,\"time");
    assert!(log_of_all(&a).starts_with("3 event(s):"));
    // The log cuts the torn line off and writes the next event in its place.
    append(&a, &events[3..4]);
    store.take_reads();
    let out = log_of_all(&a);
    assert!(out.starts_with("4 event(s):"), "{out}");
    assert_eq!(store.take_reads()[0].0, complete);
    assert!(!out.contains("damaged"), "{out}");
}

#[test]
fn swarm_log_stops_reading_at_damage_as_the_log_does() {
    let a = counted();
    append(&a, &story()[..2]);
    a.host().store.inner.push_raw(b"{not an event}\n");
    let out = log_of_all(&a);
    assert!(
        out.starts_with("2 event(s); the log is damaged at line 3 (not an event envelope: "),
        "{out}"
    );
    a.host().store.take_reads();
    assert_eq!(log_of_all(&a), out);
    assert_eq!(a.host().store.take_reads(), []);
}

/// What `swarm_log` answered when each call read the whole log through a fresh view: the
/// oracle the incremental reading must agree with.
fn as_one_reading_of_the_whole_log(bytes: &[u8], args: &LogArgs, now: u64) -> String {
    let mut view = LogView::new(Until::default());
    view.feed(bytes);
    let page = view
        .events(&EventFilter {
            epic_id: args.epic_id.clone(),
            bead_id: args.bead_id.clone(),
            session_id: args.session_id.clone(),
            types: Some(args.types.clone().unwrap_or_default()),
            after_seq: None,
            limit: Some(args.limit.unwrap_or(30)),
        })
        .unwrap();
    let mut out = format!("{} event(s)", page.total);
    if page.total > page.events.len() as u64 {
        out += &format!(", the last {} shown", page.events.len());
    }
    if let Some(d) = view.health().damage {
        out += &format!(
            "; the log is damaged at line {} ({}): nothing after it is shown",
            d.line, d.reason
        );
    }
    if !page.events.is_empty() {
        out.push(':');
    }
    for e in &page.events {
        assert_eq!(
            now.saturating_sub(e.at),
            0,
            "the oracle spells only `0ms ago`"
        );
        out += &format!("\n#{} 0ms ago {}", e.seq, e.type_name);
        if let Some(b) = &e.bead_id {
            out += &format!(" {b}");
        }
        if !e.detail.is_empty() {
            out += &format!(": {}", excerpt(&e.detail, 90));
        }
    }
    out
}

/// The tool's excerpt: whitespace folded, at most `max` characters with an ellipsis.
fn excerpt(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    flat.chars().take(max - 1).chain(['…']).collect()
}

/// Every filter worth asking of the story: each bead, epic and session, each type, limits,
/// and names no event carries.
fn every_question() -> Vec<LogArgs> {
    let some = |s: &str| Some(s.to_string());
    let mut asks = vec![LogArgs::default()];
    for bead in ["b1", "b2", "b3", "b4", "b9", "nobody"] {
        asks.push(LogArgs {
            bead_id: some(bead),
            ..LogArgs::default()
        });
    }
    for epic in ["e1", "e2", "e3", "nowhere"] {
        asks.push(LogArgs {
            epic_id: some(epic),
            ..LogArgs::default()
        });
        asks.push(LogArgs {
            epic_id: some(epic),
            bead_id: some("b2"),
            limit: Some(2),
            ..LogArgs::default()
        });
    }
    for session in ["ses_0", "ses_2", "ses_3", "ses_9"] {
        asks.push(LogArgs {
            session_id: some(session),
            ..LogArgs::default()
        });
    }
    for t in EventBody::TYPE_NAMES {
        asks.push(LogArgs {
            types: Some(vec![t.to_string(), "worker_spawned".into()]),
            ..LogArgs::default()
        });
    }
    for limit in [1, 3, 200] {
        asks.push(LogArgs {
            limit: Some(limit),
            ..LogArgs::default()
        });
    }
    asks
}

#[test]
fn swarm_log_read_step_by_step_answers_as_one_reading_of_the_whole_log_would() {
    let a = counted();
    let now = a.host().now_ms();
    for (i, e) in story().iter().enumerate() {
        if i == 9 {
            push_unknown(&a.host().store.inner, i as u64 + 1);
        }
        append(&a, std::slice::from_ref(e));
        let bytes = a.host().store.inner.text().into_bytes();
        // A different question each step, so the reading goes on between any two of them.
        let asks = every_question();
        let args = &asks[i % asks.len()];
        let got = block_on(a.history(args)).unwrap().output;
        assert_eq!(
            got,
            as_one_reading_of_the_whole_log(&bytes, args, now),
            "step {i}"
        );
    }
    let bytes = a.host().store.inner.text().into_bytes();
    for args in every_question() {
        let got = block_on(a.history(&args)).unwrap().output;
        assert_eq!(
            got,
            as_one_reading_of_the_whole_log(&bytes, &args, now),
            "{args:?}"
        );
    }
}

#[test]
fn swarm_log_on_a_damaged_log_answers_as_one_reading_of_the_whole_log_would() {
    for (bytes, _, why) in damaged_logs() {
        let a = counted();
        a.host().store.inner.set_raw(&bytes);
        let now = a.host().now_ms();
        for args in every_question() {
            let got = block_on(a.history(&args)).unwrap().output;
            let want = as_one_reading_of_the_whole_log(&bytes, &args, now);
            assert_eq!(got, want, "{why}: {args:?}");
        }
    }
}

#[test]
fn opening_a_long_log_reads_it_in_pieces_and_a_line_longer_than_a_piece_whole() {
    let a = counted();
    let queued = |n: usize, text: String| {
        EventBody::WorkerQueued(WorkerQueued {
            bead_id: format!("bd-{n}"),
            epic_id: "ep".into(),
            title: "t".into(),
            description: Some(text),
            ..WorkerQueued::default()
        })
    };
    let mut n = 0;
    for _ in 0..40 {
        let batch: Vec<EventBody> = (0..30)
            .map(|_| {
                n += 1;
                queued(n, "x".repeat(1000))
            })
            .collect();
        append(&a, &batch);
    }
    append(&a, &[queued(n + 1, "y".repeat(600 * 1024))]);
    append(&a, &[queued(n + 2, "z".into())]);
    let store = &a.host().store;
    let total = store.inner.text().len();
    store.take_reads();

    let fresh = EventLog::new();
    block_on(fresh.refresh(store)).unwrap();
    assert_eq!(fresh.swarm().clone(), a.log().swarm().clone());
    assert_eq!(fresh.swarm().last_seq(), 1202);
    let reads = store.take_reads();
    let longest = reads.iter().map(|r| r.1).max().unwrap();
    assert!(reads.len() > 4, "{reads:?}");
    // One piece had to grow to hold the long line; never the whole log at once.
    assert!(
        longest > 600 * 1024 && longest < total / 2,
        "{reads:?} of {total}"
    );
    // Each piece starts where the one before stopped (at its last complete line), and the
    // last one reaches the end.
    for pair in reads.windows(2) {
        assert!(pair[1].0 <= pair[0].0 + pair[0].1 as u64, "{reads:?}");
    }
    let (at, len) = *reads.last().unwrap();
    assert_eq!(at as usize + len, total, "{reads:?}");
}
