//! A worker's instance folds its part of the swarm: the workers of its worktree and those it
//! started, with the whole queue and mail. Its part agrees with the whole projection on
//! every worker it keeps, read from the log or from the whole one's snapshot; it never saves
//! a snapshot; and a question about the whole swarm makes it fold the whole.
#[path = "core/given.rs"]
mod given;

use std::rc::Rc;

use apiary::api::{PollArgs, ProgressArgs, SendArgs};
use apiary::event::{EventBody, Importance, MessageSent, WorkerProgress};
use apiary::log::{EventLog, Fold};
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::Apiary;
use given::*;

const WT: &str = "/repo/.apiary/worktrees";

fn home(bead: &str) -> String {
    format!("{WT}/{bead}")
}

/// `bead`'s worker in its own worktree, started from `parent`.
fn spawned_in(bead: &str, session: &str, parent: &str) -> EventBody {
    let mut w = spawned_worker(bead, session);
    w.directory = Some(home(bead));
    w.parent_directory = Some(parent.into());
    EventBody::WorkerSpawned(w)
}

fn progress(bead: &str, session: &str, percent: u8) -> EventBody {
    EventBody::WorkerProgress(WorkerProgress {
        session_id: session.into(),
        bead_id: bead.into(),
        progress_percent: percent,
        message: Some(format!("{bead} at {percent}")),
        files_touched: Vec::new(),
    })
}

fn message(from: &str, to: &str, subject: &str) -> EventBody {
    EventBody::MessageSent(MessageSent {
        message_id: format!("m-{subject}"),
        from: from.into(),
        to: vec![to.into()],
        subject: subject.into(),
        body: subject.into(),
        from_session: None,
        importance: None,
        thread_id: None,
    })
}

/// w1 and w2 in worktrees of their own, w1 starting s1 from its worktree, w3 still queued,
/// messages every way, w2 done, w1 retried in its worktree.
fn swarm_log(store: &MemoryStore, extra_w2_progress: usize) {
    let log = EventLog::new();
    let mut events = vec![
        queued("w1"),
        queued("w2"),
        queued("w3"),
        spawned_in("w1", "ses_1", "/repo"),
        spawned_in("w2", "ses_2", "/repo"),
        message("coordinator", "w1", "hello-w1"),
        spawned_in("s1", "ses_s1", &home("w1")),
        progress("w1", "ses_1", 10),
        message("w2", "w1", "from-w2"),
        message("w2", "coordinator", "w2-asks"),
    ];
    events.extend((0..extra_w2_progress).map(|i| progress("w2", "ses_2", (i % 100) as u8)));
    events.extend(completed(
        "w2",
        "ses_2",
        apiary::event::CompletionStatus::Success,
    ));
    events.push(failed("w1", "ses_1"));
    events.push(spawned_in("w1", "ses_1b", "/repo"));
    events.push(progress("s1", "ses_s1", 50));
    for (i, body) in events.into_iter().enumerate() {
        block_on(log.append(store, T0 + i as u64, &[body])).unwrap();
    }
}

fn opened(store: &MemoryStore, scope: Option<&str>) -> EventLog {
    let log = EventLog::new();
    if let Some(home) = scope {
        log.scope_to(home);
    }
    block_on(log.refresh(store)).unwrap();
    log
}

fn beads(log: &EventLog) -> Vec<String> {
    let swarm = log.swarm();
    swarm.workers().map(|w| w.bead_id.clone()).collect()
}

#[test]
fn a_workers_part_keeps_its_own_attempts_and_the_workers_it_started_as_the_whole_has_them() {
    let store = MemoryStore::default();
    swarm_log(&store, 0);
    let whole = opened(&store, None);
    let part = opened(&store, Some(&home("w1")));
    assert_eq!(part.fold(), Fold::Scoped(home("w1")));
    assert_eq!(beads(&part), ["w1", "s1", "w1"]);
    assert_eq!(beads(&whole), ["w1", "w2", "s1", "w1"]);
    let (p, w) = (part.swarm(), whole.swarm());
    for bead in ["w1", "s1"] {
        assert_eq!(p.bead(bead), w.bead(bead), "{bead}");
    }
    assert_eq!(p.session("ses_1"), w.session("ses_1"));
    assert!(p.bead("w2").is_none() && p.session("ses_2").is_none());
    // The queue and the mail stay whole: a message can reach w1 while it is still queued.
    assert_eq!(p.queue().collect::<Vec<_>>(), w.queue().collect::<Vec<_>>());
    assert_eq!(
        p.queued("w3").map(|q| &q.request.bead_id),
        Some(&"w3".to_string())
    );
    assert_eq!(p.mail(), w.mail());
    assert_eq!(p.epic_beads("ep"), ["w1", "s1"]);
    assert_eq!(p.last_seq(), w.last_seq());
}

#[test]
fn a_workers_part_read_from_the_whole_snapshot_equals_its_part_replayed_and_saves_none() {
    let store = MemoryStore::default();
    // Past the snapshot interval, so that its writer left a snapshot of the whole.
    swarm_log(&store, 2_100);
    let saved = store
        .snapshot()
        .expect("the whole log's writer saved a snapshot");

    let from_snapshot = opened(&store, Some(&home("w1")));
    assert!(from_snapshot.health().from_snapshot);
    store.set_snapshot(None);
    let replayed = opened(&store, Some(&home("w1")));
    assert!(!replayed.health().from_snapshot);
    assert_eq!(*from_snapshot.swarm(), *replayed.swarm());
    assert_eq!(beads(&replayed), ["w1", "s1", "w1"]);
    // However far past the interval it reads, a part never saves a snapshot of itself.
    assert_eq!(store.snapshot(), None);
    store.set_snapshot(Some(&saved));
    swarm_log(&store, 0);
    block_on(from_snapshot.refresh(&store)).unwrap();
    assert_eq!(store.snapshot().as_deref(), Some(&saved[..]));
}

type Shared = Apiary<FakeHost<Rc<MemoryStore>>>;

fn worker_instance(store: &Rc<MemoryStore>, bead: &str) -> Shared {
    let a = Apiary::new(FakeHost::with_store(store.clone()));
    a.set_home(&home(bead));
    a
}

#[test]
fn a_workers_instance_reports_and_reads_its_inbox_on_its_part_and_widens_for_the_whole() {
    let store = Rc::new(MemoryStore::default());
    swarm_log(&store, 0);
    let a = worker_instance(&store, "w1");
    let args = ProgressArgs {
        bead_id: "w1".into(),
        progress_percent: 40,
        message: Some("halfway".into()),
        files_touched: None,
    };
    block_on(a.progress(&worker("ses_1b"), &args)).unwrap();
    let inbox = block_on(a.inbox(&worker("ses_1b"), &Default::default())).unwrap();
    assert!(
        inbox.output.contains("hello-w1") && inbox.output.contains("from-w2"),
        "{}",
        inbox.output
    );
    block_on(a.complete(&worker("ses_1b"), &complete_args("w1"))).unwrap();
    assert_eq!(a.log().fold(), Fold::Scoped(home("w1")));

    // A message to a bead outside its part is checked against the whole swarm.
    let sent = block_on(a.send(
        &worker("ses_1b"),
        &SendArgs {
            to: vec!["w2".into()],
            subject: "thanks".into(),
            body: "done".into(),
            importance: Some(Importance::Normal),
            thread_id: None,
        },
    ))
    .unwrap();
    assert!(sent.output.contains("w2: in its inbox"), "{}", sent.output);
    assert_eq!(a.log().fold(), Fold::Whole);
    assert!(a.log().swarm().bead("w2").is_some());

    // Any other tool sees the whole swarm at once.
    let b = worker_instance(&store, "w1");
    let poll = block_on(b.poll(&PollArgs {
        epic_id: "ep".into(),
        include_messages: None,
    }))
    .unwrap();
    assert_eq!(b.log().fold(), Fold::Whole);
    assert!(poll.output.contains("w2"), "{}", poll.output);
}

#[test]
fn an_instance_outside_a_worktree_folds_the_whole_swarm() {
    let store = Rc::new(MemoryStore::default());
    swarm_log(&store, 0);
    let a = Apiary::new(FakeHost::with_store(store.clone()));
    a.set_home("/repo");
    block_on(a.refresh()).unwrap();
    assert_eq!(a.log().fold(), Fold::Whole);
    assert_eq!(beads(a.log()), ["w1", "w2", "s1", "w1"]);
}

#[test]
fn a_workers_instance_leaves_telling_an_outside_coordinator_to_an_instance_with_the_whole_swarm() {
    let store = Rc::new(MemoryStore::default());
    swarm_log(&store, 0);
    let part = worker_instance(&store, "w1");
    block_on(part.complete(&worker("ses_1b"), &complete_args("w1"))).unwrap();
    let idle = apiary::host::ServerEvent::Idle {
        session_id: "ses_coord".into(),
    };
    // Its part knows w1 only: a message from it would leave w2 out.
    block_on(part.observe(&idle)).unwrap();
    assert_eq!(count(&store, "coordinator_notified"), 0);
    assert!(part.host().sessions.prompts.borrow().is_empty());

    let whole = Apiary::new(FakeHost::with_store(store.clone()));
    whole.set_home("/repo");
    block_on(whole.observe(&idle)).unwrap();
    assert_eq!(count(&store, "coordinator_notified"), 1);
    let prompts = whole.host().sessions.prompts.borrow();
    let (session, text) = &prompts[0];
    assert_eq!(session, "ses_coord");
    assert!(
        text.contains("w1 success") && text.contains("w2 success"),
        "{text}"
    );
}

fn count(store: &MemoryStore, event_type: &str) -> usize {
    let needle = format!("\"type\":\"{event_type}\"");
    store.text().lines().filter(|l| l.contains(&needle)).count()
}
