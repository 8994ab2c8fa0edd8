//! An instance's background duties, as the core runs them on the host's timer and the log's
//! change signal: the scheduler wakes for what is due, servers are probed and recorded lost or
//! back against the log (which outlives a restart), and a worker's instance leaves both alone.
#[path = "core/given.rs"]
mod given;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use apiary::api::{Options, ServerOption, StatusArgs};
use apiary::host::Waits;
use apiary::swarm::FAILED_PROBES;
use apiary::testing::{block_on, FakeHost, MemoryStore};
use apiary::Apiary;
use given::*;

const A: &str = "http://10.0.0.1:4096";
const B: &str = "http://10.0.0.2:4096";

fn servers() -> Options {
    Options {
        servers: [A, B]
            .iter()
            .map(|url| ServerOption {
                url: url.to_string(),
                max_workers: 2,
                directory: None,
            })
            .collect(),
        ..Options::default()
    }
}

/// A plugin instance over `store`, as one starts (or starts again) over the log file.
fn instance(store: &Rc<MemoryStore>) -> SharingApiary {
    Apiary::with_options(FakeHost::with_store(store.clone()), servers())
}

fn lines_of(store: &MemoryStore, event_type: &str) -> usize {
    let needle = format!("\"type\":\"{event_type}\"");
    store.text().lines().filter(|l| l.contains(&needle)).count()
}

/// Runs `duty` until `done` says so, looking every 100 ms of the fake clock, for at most
/// `most_ms`; whether it was done by then.
fn run_until<H: Waits + apiary::host::Clock>(
    host: &H,
    duty: impl Future<Output = ()>,
    done: impl Fn() -> bool,
    most_ms: u64,
) -> bool {
    let started = host.now_ms();
    let check = async {
        loop {
            if done() {
                return true;
            }
            if host.now_ms() - started > most_ms {
                return false;
            }
            host.sleep(100).await;
        }
    };
    block_on(async {
        let (mut duty, mut check) = (pin!(duty), pin!(check));
        poll_fn(|cx| {
            let _ = duty.as_mut().poll(cx);
            match check.as_mut().poll(cx) {
                Poll::Ready(v) => Poll::Ready(v),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    })
}

#[test]
fn a_server_the_log_says_lost_is_recorded_back_after_a_restart_once_it_answers() {
    let store = Rc::new(MemoryStore::default());
    let before = instance(&store);
    before.host().sessions.down.borrow_mut().push(B.into());
    for _ in 0..FAILED_PROBES {
        block_on(before.probe_servers());
    }
    assert_eq!(lines_of(&store, "server_lost"), 1);
    drop(before);
    // The plugin restarts: a new instance reads the same log, and B answers again.
    let after = instance(&store);
    assert_eq!(block_on(after.probe_servers()), 1);
    assert_eq!(lines_of(&store, "server_back"), 1);
    let status = block_on(after.status(&StatusArgs::default()))
        .unwrap()
        .output;
    assert!(!status.contains("lost"), "{status}");
    // Answering again records nothing more.
    assert_eq!(block_on(after.probe_servers()), 0);
    assert_eq!(lines_of(&store, "server_back"), 1);
}

#[test]
fn a_server_is_lost_after_three_failed_probes_in_a_row_not_three_in_all() {
    let store = Rc::new(MemoryStore::default());
    let a = instance(&store);
    let down = || a.host().sessions.down.borrow_mut().push(A.into());
    let up = || a.host().sessions.down.borrow_mut().clear();
    down();
    block_on(a.probe_servers());
    block_on(a.probe_servers());
    up();
    block_on(a.probe_servers());
    down();
    block_on(a.probe_servers());
    block_on(a.probe_servers());
    assert_eq!(
        lines_of(&store, "server_lost"),
        0,
        "an answer resets the count"
    );
    assert_eq!(block_on(a.probe_servers()), 1);
    let lost = store.text();
    let line = lost.lines().find(|l| l.contains("server_lost")).unwrap();
    assert!(
        line.contains(&format!(
            "no answer to {FAILED_PROBES} probes: fetch failed: {A} does not answer"
        )),
        "{line}"
    );
    // Still failing: recorded once.
    block_on(a.probe_servers());
    assert_eq!(lines_of(&store, "server_lost"), 1);
    assert_eq!(lines_of(&store, "server_back"), 0, "B never left");
}

#[test]
fn a_probe_that_never_answers_fails_after_its_timeout() {
    let store = Rc::new(MemoryStore::default());
    let a = instance(&store);
    a.host().sessions.silent.borrow_mut().push(A.into());
    for _ in 0..FAILED_PROBES {
        block_on(a.probe_servers());
    }
    let text = store.text();
    let line = text
        .lines()
        .find(|l| l.contains("server_lost"))
        .expect("A lost");
    assert!(line.contains("no answer in 2000 ms"), "{line}");
}

#[test]
fn the_duties_retry_a_failed_worker_when_its_backoff_ends_without_any_call() {
    let a = apiary_with(|o| {
        o.worktrees = false;
        o.retry_backoff_ms = 5_000;
    });
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    session_error(&a, &session_of(&a, "bd-1"), "APIError");
    assert_eq!(a.log().swarm().bead("bd-1").unwrap().attempt, 1);
    let retried = || a.log().swarm().bead("bd-1").is_some_and(|w| w.attempt == 2);
    let started = a.host().clock.0.get();
    assert!(run_until(a.host(), a.run_duties(), retried, 60_000));
    let waited = a.host().clock.0.get() - started;
    // The loop slept until the backoff's end, not in fixed steps of its safety net.
    assert!(
        (5_000..30_000).contains(&waited),
        "retried after {waited} ms"
    );
    assert!(
        a.host().warnings.borrow().is_empty(),
        "{:?}",
        a.host().warnings.borrow()
    );
}

#[test]
fn the_duties_probe_every_server_and_record_a_lost_one_once() {
    let store = Rc::new(MemoryStore::default());
    let a = instance(&store);
    a.host().sessions.down.borrow_mut().push(A.into());
    let lost = || lines_of(&store, "server_lost") == 1;
    // The fake clock adds up every sleep that ends, so it runs ahead when several duties
    // sleep at once: the bound is loose, the count of probes is exact.
    assert!(run_until(a.host(), a.run_duties(), lost, 600_000));
    let probes = a.host().sessions.probes.borrow().clone();
    assert!(probes.iter().filter(|p| *p == A).count() >= FAILED_PROBES as usize);
    assert!(probes.iter().any(|p| p == B));
    let text = store.text();
    assert!(
        text.contains(&format!("no answer to {FAILED_PROBES} probes")),
        "{text}"
    );
    assert_eq!(lines_of(&store, "server_back"), 0);
}

#[test]
fn a_workers_instance_neither_schedules_nor_probes_servers() {
    let a = apiary_with(|o| {
        *o = Options {
            worktrees: false,
            retry_backoff_ms: 5_000,
            ..servers()
        }
    });
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    session_error(&a, &session_of(&a, "bd-1"), "APIError");
    a.set_home("/repo/.apiary/worktrees/bd-1");
    assert!(a.is_worker_instance());
    let retried = || a.log().swarm().bead("bd-1").is_some_and(|w| w.attempt == 2);
    assert!(!run_until(a.host(), a.run_duties(), retried, 40_000));
    assert!(a.host().sessions.probes.borrow().is_empty());
    assert!(a.host().warnings.borrow().is_empty());
    // The coordinator's instance does both.
    a.set_home("/repo");
    assert!(run_until(a.host(), a.run_duties(), retried, 40_000));
    assert!(!a.host().sessions.probes.borrow().is_empty());
}

#[test]
fn the_duties_start_spawns_behind_their_calls_several_at_once() {
    let a = apiary_with(|o| {
        o.worktrees = false;
        o.max_running = 8;
    });
    // Each session takes a while to make, as a server booting an instance for it does.
    a.host().sessions.create_yields.set(200);
    for i in 1..=8 {
        block_on(a.spawn(&coordinator(), &spawn_args(&format!("bd-{i}")))).unwrap();
    }
    assert!(a.host().sessions.created.borrow().is_empty());
    let all = || count_lines(&a, "worker_spawned") == 8;
    assert!(run_until(a.host(), a.run_duties(), all, 60_000));
    assert_eq!(a.host().sessions.most_creating.get(), 4);
    assert!(
        a.host().warnings.borrow().is_empty(),
        "{:?}",
        a.host().warnings.borrow()
    );
}

#[test]
fn a_workers_instance_starts_what_its_own_worker_spawned() {
    let a = apiary_with(|o| o.worktrees = false);
    let home = "/repo/.apiary/worktrees/bd-1";
    a.set_home(home);
    let from_worker = apiary::api::CallContext {
        session_id: "ses_worker".into(),
        directory: home.into(),
    };
    block_on(a.spawn(&from_worker, &spawn_args("bd-1.1"))).unwrap();
    let started = || count_lines(&a, "worker_spawned") == 1;
    assert!(run_until(a.host(), a.run_duties(), started, 40_000));
}
