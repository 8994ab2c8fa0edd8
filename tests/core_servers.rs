//! Workers placed on several OpenCode servers (the `servers` option): each server's limit,
//! the most room first, a lost server's workers placed again elsewhere, a server coming back.
#[path = "core/given.rs"]
mod given;

use apiary::api::{Options, ServerOption, StatusArgs};
use apiary::testing::{block_on, FakeHost};
use apiary::Apiary;
use given::*;

const A: &str = "http://10.0.0.1:4096";
const B: &str = "http://10.0.0.2:4096";
const C: &str = "http://10.0.0.3:4096";

fn server(url: &str, max_workers: u32) -> ServerOption {
    ServerOption {
        url: url.into(),
        max_workers,
        directory: Some(format!(
            "/clones/{}",
            url.trim_start_matches("http://")
                .split(':')
                .next()
                .unwrap_or("")
        )),
    }
}

fn cluster(servers: Vec<ServerOption>) -> Apiary<FakeHost> {
    apiary_with(|o| {
        // The servers' limits are what is tested; the repository-wide one stays out of the way.
        o.max_running = 100;
        o.servers = servers;
        o.retry_backoff_ms = 1_000;
    })
}

/// The server each bead's latest worker runs on.
fn server_of(a: &Apiary<FakeHost>, bead: &str) -> Option<String> {
    a.log().swarm().bead(bead).and_then(|w| w.server.clone())
}

fn spawn_n(a: &Apiary<FakeHost>, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| {
            let bead = format!("bd-{i}");
            block_on(spawn_started(a, &coordinator(), &spawn_args(&bead))).unwrap();
            bead
        })
        .collect()
}

fn status(a: &Apiary<FakeHost>) -> String {
    block_on(a.status(&StatusArgs::default())).unwrap().output
}

#[test]
fn nine_workers_fill_three_servers_of_three_and_the_tenth_waits_for_room() {
    let a = cluster(vec![server(A, 3), server(B, 3), server(C, 3)]);
    let beads = spawn_n(&a, 10);
    let mut per_server = std::collections::BTreeMap::new();
    for b in &beads[..9] {
        *per_server
            .entry(server_of(&a, b).expect("placed"))
            .or_insert(0) += 1;
    }
    assert_eq!(per_server.values().copied().collect::<Vec<_>>(), [3, 3, 3]);
    assert!(a.log().swarm().bead("bd-10").is_none(), "the tenth waits");
    let out = status(&a);
    assert!(
        out.contains(&format!("no server has room: {A} 3/3, {B} 3/3, {C} 3/3")),
        "{out}"
    );
    assert!(out.contains(&format!("server {A}: 3/3 running")), "{out}");
    // A slot frees on B: the tenth goes there.
    let on_b = beads[..9]
        .iter()
        .find(|b| server_of(&a, b).as_deref() == Some(B))
        .unwrap()
        .clone();
    finish(&a, &on_b);
    assert_eq!(server_of(&a, "bd-10").as_deref(), Some(B));
}

#[test]
fn a_worker_goes_to_the_server_with_the_most_room_in_its_clone_and_is_prompted_there() {
    let a = cluster(vec![server(A, 1), server(B, 2)]);
    spawn_n(&a, 3);
    assert_eq!(server_of(&a, "bd-1").as_deref(), Some(B));
    // B 1/2 and A 0/1 have one slot each: the first listed wins the tie.
    assert_eq!(server_of(&a, "bd-2").as_deref(), Some(A));
    assert_eq!(server_of(&a, "bd-3").as_deref(), Some(B));
    let created = a.host().sessions.created.borrow().clone();
    assert_eq!(created[0].server.as_deref(), Some(B));
    assert_eq!(created[0].directory.as_deref(), Some("/clones/10.0.0.2"));
    let prompts = a.host().sessions.prompt_requests.borrow().clone();
    assert_eq!(prompts[1].server.as_deref(), Some(A));
    assert_eq!(prompts[1].directory.as_deref(), Some("/clones/10.0.0.1"));
    let w = a.log().swarm().bead("bd-1").cloned().unwrap();
    assert_eq!(
        w.worktree, None,
        "no worktree on a server of the servers option yet"
    );
}

#[test]
fn a_lost_server_takes_no_worker_and_its_workers_are_placed_again_elsewhere() {
    let a = cluster(vec![server(A, 2), server(B, 2)]);
    spawn_n(&a, 4);
    let on_a: Vec<String> = ["bd-1", "bd-2", "bd-3", "bd-4"]
        .iter()
        .filter(|b| server_of(&a, b).as_deref() == Some(A))
        .map(|b| b.to_string())
        .collect();
    assert_eq!(on_a.len(), 2);
    a.host().sessions.down.borrow_mut().push(A.into());
    let failed = block_on(a.server_lost(A, "3 probes failed")).unwrap();
    assert_eq!(failed, 2);
    // Recorded once, whoever notices again.
    assert_eq!(block_on(a.server_lost(A, "again")).unwrap(), 0);
    assert_eq!(count_lines(&a, "server_lost"), 1);
    for b in &on_a {
        let w = a.log().swarm().bead(b).cloned().unwrap();
        assert_eq!(
            w.error.as_deref(),
            Some(&*format!("server lost: {A} (3 probes failed)"))
        );
        assert!(w.retryable);
    }
    let out = status(&a);
    assert!(out.contains(&format!("server {A}: lost")), "{out}");
    // After the backoff the two retries wait for room on B, the only server that answers.
    a.host().clock.advance(1_000);
    block_on(a.drain()).unwrap();
    assert!(status(&a).contains(&format!("no server has room: {A} lost, {B} 2/2")));
    let on_b: Vec<String> = ["bd-1", "bd-2", "bd-3", "bd-4"]
        .iter()
        .filter(|b| !on_a.contains(&b.to_string()))
        .map(|b| b.to_string())
        .collect();
    finish(&a, &on_b[0]);
    let moved = &on_a[0];
    assert_eq!(server_of(&a, moved).as_deref(), Some(B));
    assert_eq!(a.log().swarm().bead(moved).unwrap().attempt, 2);
    // A answers again: the last retry goes there at once.
    a.host().sessions.down.borrow_mut().clear();
    assert!(block_on(a.server_back(A)).unwrap());
    assert!(!block_on(a.server_back(A)).unwrap());
    assert_eq!(server_of(&a, &on_a[1]).as_deref(), Some(A));
}

#[test]
fn servers_are_refused_by_name_when_they_would_stall_or_repeat() {
    for (servers, expected) in [
        (
            vec![server(A, 0)],
            format!("servers[0].max_workers must be at least 1 ({A})"),
        ),
        (
            vec![server(A, 1), server(A, 2)],
            format!("servers[1].url repeats {A}"),
        ),
        (
            vec![server("", 1)],
            "servers[0].url must not be empty".to_string(),
        ),
        (
            vec![server(A, 1), server("10.0.0.9:4096", 1)],
            "servers[1].url must be an http(s) address, e.g. http://10.0.0.5:4096".to_string(),
        ),
    ] {
        let options = Options {
            servers,
            ..Options::default()
        };
        assert_eq!(options.check().unwrap_err(), expected);
    }
    let a = cluster(vec![server(A, 1)]);
    let err = block_on(a.server_lost(B, "x")).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("invalid argument `url`: {B} is not a server of the servers option")
    );
}

#[test]
fn an_instance_of_another_directory_sharing_the_log_leaves_a_coordinators_queue_alone() {
    use apiary::testing::MemoryStore;
    use std::rc::Rc;
    let store = Rc::new(MemoryStore::default());
    let options = Options {
        max_running: 1,
        ..Options::default()
    };
    let instance = |home: &str| {
        let a = Apiary::with_options(FakeHost::with_store(store.clone()), options.clone());
        a.set_home(home);
        a
    };
    // The coordinator works in /repo; a server elsewhere shares the log from /clone.
    let (coordinator_instance, elsewhere) = (instance("/repo"), instance("/clone"));
    for bead in ["bd-1", "bd-2"] {
        block_on(spawn_started(
            &coordinator_instance,
            &coordinator(),
            &spawn_args(bead),
        ))
        .unwrap();
    }
    let first = coordinator_instance
        .log()
        .swarm()
        .bead("bd-1")
        .unwrap()
        .session_id
        .clone();
    block_on(coordinator_instance.complete(&worker(&first), &complete_args("bd-1"))).unwrap();
    block_on(coordinator_instance.observe(&apiary::host::ServerEvent::Idle { session_id: first }))
        .unwrap();
    block_on(elsewhere.drain()).unwrap();
    assert!(
        elsewhere.log().swarm().bead("bd-2").is_none(),
        "not started by the other directory's instance"
    );
    block_on(coordinator_instance.drain()).unwrap();
    assert!(coordinator_instance.log().swarm().bead("bd-2").is_some());
}

#[test]
fn stalls_and_retention_are_left_to_the_instances_that_reach_the_server() {
    let placed = cluster(vec![server(A, 2)]);
    spawn_n(&placed, 1);
    // The same log read with no servers option: the worker on A is out of its reach.
    let options = Options {
        stall_after_ms: 1_000,
        ..Options::default()
    };
    let swarm = placed.log().swarm();
    let w = swarm.bead("bd-1").unwrap();
    assert!(!apiary::schedule::reachable(w, &options));
    let (stalled, _) = apiary::schedule::stalled(&swarm, &options, w.spawned_at + 5_000);
    assert!(stalled.is_empty());
    let with_servers = Options {
        servers: vec![server(A, 2)],
        ..options
    };
    let (stalled, _) = apiary::schedule::stalled(&swarm, &with_servers, w.spawned_at + 5_000);
    assert_eq!(stalled.len(), 1);
}

#[test]
fn spawns_made_together_spread_over_the_servers_before_any_is_recorded() {
    use std::rc::Rc;
    let a = Rc::new(cluster(vec![server(A, 2), server(B, 2)]));
    // bd-2's spawn comes while bd-1's start is on its way to A (its session being created),
    // as spawns of one step of the coordinator run together.
    let inner = Rc::downgrade(&a);
    let mut once = Some(());
    *a.host().sessions.before_create.borrow_mut() = Some(Box::new(move || {
        if once.take().is_some() {
            let a = inner.upgrade().unwrap();
            block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-2"))).unwrap();
        }
    }));
    block_on(spawn_started(&a, &coordinator(), &spawn_args("bd-1"))).unwrap();
    assert_eq!(server_of(&a, "bd-1").as_deref(), Some(A));
    assert_eq!(
        server_of(&a, "bd-2").as_deref(),
        Some(B),
        "not A, where bd-1 was already going"
    );
}
