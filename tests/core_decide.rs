//! A spawn's and a start's decisions as pure functions of the log: given its events, when a
//! spawn or a start, then what is decided (started at once and where, queued with its place
//! and reason, refused and why) and the events that records. No host takes part: the tools
//! carry these decisions out, and core_schedule.rs, core_spawn.rs, core_files.rs and
//! core_servers.rs test them through the tools.
#[path = "core/given.rs"]
mod given;

use std::collections::BTreeMap;

use apiary::api::{FileConflict, Options, ServerOption, SpawnArgs, SpawnStatus};
use apiary::event::{CompletionStatus, EventBody, WorkerQueued, WorkerSpawned};
use apiary::host::ModelRef;
use apiary::projection::Swarm;
use apiary::schedule::admit::{self, Admission};
use apiary::schedule::intake::{self, Enqueue, Intake};
use apiary::schedule::{self, Machine, Wait};
use apiary::HostError;
use given::*;

const A: &str = "http://10.0.0.1:4096";
const B: &str = "http://10.0.0.2:4096";

const IDLE: Machine = Machine {
    load_percent: 10,
    free_memory_mb: 8_192,
};

/// What a spawn comes to.
#[derive(Debug, PartialEq)]
enum Then {
    /// Started at once, on this server (`None`: the plugin's own).
    Started {
        server: Option<String>,
    },
    /// Queued: the reply the coordinator reads, with the bead's place and why it waits.
    Queued(String),
    /// Answered by the bead's own worker or queue entry: nothing is created.
    Existing(SpawnStatus, String),
    Refused(String),
}

/// A spawn of `args` from `coordinator()` on an idle machine, decided as `Apiary::spawn`
/// decides it (its agent known).
fn when_spawned(swarm: &Swarm, options: &Options, args: &SpawnArgs) -> (Then, Vec<EventBody>) {
    when_spawned_on(swarm, options, &IDLE, args)
}

/// The intake; then, for a request it accepts, the queue entry it records and the reply (from
/// the plan with it queued); and when that plan starts it, its start as the scheduler carries
/// it out behind the call: its admission, and its record once its worker is prepared.
fn when_spawned_on(
    swarm: &Swarm,
    options: &Options,
    machine: &Machine,
    args: &SpawnArgs,
) -> (Then, Vec<EventBody>) {
    let request = match intake::vet(swarm, options, &coordinator(), args, NOW) {
        Intake::Existing(reply) => return (Then::Existing(reply.status, reply.output), vec![]),
        Intake::Refuse(e) => return (Then::Refused(e.to_string()), vec![]),
        Intake::Accept(request) => request,
    };
    let queued = match intake::enqueue(swarm, options, request) {
        Enqueue::Queued(q) => q,
        Enqueue::Refuse(e) => return (Then::Refused(e.to_string()), vec![]),
        Enqueue::Taken => panic!("taken on the log it was vetted on"),
    };
    let mut events = vec![EventBody::WorkerQueued(queued)];
    let after = with_events(swarm, events.clone());
    let plan = schedule::plan(&after, options, Some(machine), NOW);
    let entry = after.queued(&args.bead_id).expect("queued");
    if !plan.start.contains(&args.bead_id) {
        let reply = intake::queued_reply(entry, &plan, NOW);
        return (Then::Queued(reply.output), events);
    }
    let admission = admit::admit(&after, options, &entry.request, &none(), NOW);
    let Admission::Start { server, .. } = admission else {
        panic!("planned to start, then {admission:?}");
    };
    let worker = prepared(&entry.request, server.as_deref());
    let recorded = when_recorded(&after, options, &entry.request, entry.seq, worker);
    events.push(EventBody::WorkerSpawned(recorded.expect("recorded")));
    (Then::Started { server }, events)
}

/// What a start of queue entry `seq` records under the lock, on an idle machine.
fn when_recorded(
    swarm: &Swarm,
    options: &Options,
    request: &WorkerQueued,
    seq: u64,
    prepared: WorkerSpawned,
) -> Option<WorkerSpawned> {
    admit::record(swarm, options, Some(&IDLE), request, seq, prepared, NOW)
}

/// The record of a worker prepared for `request` on `server`.
fn prepared(request: &WorkerQueued, server: Option<&str>) -> WorkerSpawned {
    WorkerSpawned {
        server: server.map(String::from),
        ..spawned_worker(&request.bead_id, "ses_new")
    }
}

/// No start of this instance on its way to any server.
fn none() -> BTreeMap<String, u32> {
    BTreeMap::new()
}

fn types(events: &[EventBody]) -> Vec<&'static str> {
    events.iter().map(EventBody::type_name).collect()
}

fn accepted(swarm: &Swarm, options: &Options, args: &SpawnArgs) -> WorkerQueued {
    match intake::vet(swarm, options, &coordinator(), args, NOW) {
        Intake::Accept(request) => request,
        other => panic!("not accepted: {other:?}"),
    }
}

fn queued_reply(bead: &str, place: u32, why: &str) -> Then {
    Then::Queued(format!(
        "queued {bead} (epic ep) at #{place}: {why}; it starts by itself"
    ))
}

fn after(bead: &str, deps: &[&str]) -> SpawnArgs {
    SpawnArgs {
        dependencies: Some(deps.iter().map(|d| d.to_string()).collect()),
        ..spawn_args(bead)
    }
}

fn with_model(bead: &str, model: &str) -> SpawnArgs {
    SpawnArgs {
        model: Some(model.into()),
        ..spawn_args(bead)
    }
}

fn limited(max_running: u32) -> Options {
    Options {
        max_running,
        ..Options::default()
    }
}

fn cluster(servers: &[(&str, u32)]) -> Options {
    Options {
        max_running: 100,
        servers: servers
            .iter()
            .map(|(url, max_workers)| ServerOption {
                url: url.to_string(),
                max_workers: *max_workers,
                directory: None,
            })
            .collect(),
        ..Options::default()
    }
}

#[test]
fn a_spawn_with_a_free_slot_starts_at_once_and_records_its_worker() {
    let swarm = given([spawned("bd-1", "ses_1")]);
    let (then, events) = when_spawned(&swarm, &limited(2), &spawn_args("bd-2"));
    assert_eq!(then, Then::Started { server: None });
    assert_eq!(types(&events), ["worker_queued", "worker_spawned"]);
}

#[test]
fn a_spawn_past_the_limit_is_queued_with_its_place_and_the_limit_as_its_reason() {
    let options = limited(2);
    let swarm = given([spawned("bd-1", "ses_1"), spawned("bd-2", "ses_2")]);
    let (then, events) = when_spawned(&swarm, &options, &spawn_args("bd-3"));
    assert_eq!(then, queued_reply("bd-3", 1, "limit: 2/2 running"));
    assert_eq!(types(&events), ["worker_queued"]);
    let swarm = with_events(&swarm, events);
    let (then, _) = when_spawned(&swarm, &options, &spawn_args("bd-4"));
    assert_eq!(then, queued_reply("bd-4", 2, "limit: 2/2 running"));
    // A slot frees, and bd-3 takes it: a new spawn does not skip the queue.
    let swarm = with_events(
        &swarm,
        completed("bd-1", "ses_1", CompletionStatus::Success),
    );
    let (then, _) = when_spawned(&swarm, &options, &spawn_args("bd-4"));
    assert_eq!(then, queued_reply("bd-4", 1, "limit: 2/2 running"));
}

#[test]
fn a_spawn_whose_dependency_runs_is_queued_and_starts_at_once_once_it_completed() {
    let options = Options::default();
    let swarm = given([spawned("bd-1", "ses_1")]);
    let (then, events) = when_spawned(&swarm, &options, &after("bd-2", &["bd-1"]));
    assert_eq!(then, queued_reply("bd-2", 1, "waits for bd-1"));
    assert_eq!(types(&events), ["worker_queued"]);
    // One never spawned waits for the coordinator.
    let (then, _) = when_spawned(&swarm, &options, &after("bd-2", &["bd-0"]));
    assert_eq!(then, queued_reply("bd-2", 1, "bd-0 was never spawned"));
    let done = with_events(
        &swarm,
        completed("bd-1", "ses_1", CompletionStatus::Success),
    );
    let (then, _) = when_spawned(&done, &options, &after("bd-2", &["bd-1"]));
    assert_eq!(then, Then::Started { server: None });
}

#[test]
fn a_spawn_whose_dependency_failed_or_that_closes_a_cycle_is_refused_and_records_nothing() {
    let options = Options::default();
    let swarm = given([spawned("bd-1", "ses_1"), failed("bd-1", "ses_1")]);
    let (then, events) = when_spawned(&swarm, &options, &after("bd-2", &["bd-1"]));
    assert_eq!(
        then,
        Then::Refused(
            "refused: bd-2 cannot start: bd-1 failed. Nothing was queued; spawn the \
             dependency again first."
                .into()
        )
    );
    assert!(events.is_empty());
    let waits_for_bd_2 = WorkerQueued {
        dependencies: vec!["bd-2".into()],
        ..queued_request("bd-3")
    };
    let swarm = given([EventBody::WorkerQueued(waits_for_bd_2)]);
    let (then, events) = when_spawned(&swarm, &options, &after("bd-2", &["bd-3"]));
    assert_eq!(
        then,
        Then::Refused(
            "refused: bd-2 would close a dependency cycle: bd-2 -> bd-3 -> bd-2. Nothing was \
             queued."
                .into()
        )
    );
    assert!(events.is_empty());
}

#[test]
fn a_spawn_on_files_a_running_worker_holds_waits_is_refused_or_runs_as_on_file_conflict_says() {
    let holder = WorkerSpawned {
        files: vec!["src/**".into()],
        ..spawned_worker("bd-1", "ses_1")
    };
    let swarm = given([EventBody::WorkerSpawned(holder)]);
    let args = SpawnArgs {
        files: vec!["src/a.rs".into(), "docs/x.md".into()],
        ..spawn_args("bd-2")
    };
    for (policy, expected, recorded) in [
        (
            FileConflict::Queue,
            queued_reply("bd-2", 1, "files held by bd-1: src/a.rs ~ src/**"),
            vec!["worker_queued"],
        ),
        (
            FileConflict::Refuse,
            Then::Refused(
                "refused: bd-2's files overlap those of running worker bd-1: src/a.rs ~ \
                 src/**. Nothing was queued; wait for bd-1, or give bd-2 other files."
                    .into(),
            ),
            vec![],
        ),
        (
            FileConflict::Allow,
            Then::Started { server: None },
            vec!["worker_queued", "worker_spawned"],
        ),
    ] {
        let options = Options {
            on_file_conflict: policy,
            ..Options::default()
        };
        let (then, events) = when_spawned(&swarm, &options, &args);
        assert_eq!(then, expected, "{policy:?}");
        assert_eq!(types(&events), recorded, "{policy:?}");
    }
    // Files apart from bd-1's start at once, whatever the policy.
    let apart = SpawnArgs {
        files: vec!["docs/y.md".into()],
        ..spawn_args("bd-3")
    };
    let (then, _) = when_spawned(&swarm, &Options::default(), &apart);
    assert_eq!(then, Then::Started { server: None });
}

#[test]
fn queued_beads_sharing_files_start_in_one_round_when_conflicts_are_allowed_and_one_at_a_time_else()
{
    let sharing = |bead: &str| {
        EventBody::WorkerQueued(WorkerQueued {
            files: vec!["src/shared.rs".into()],
            ..queued_request(bead)
        })
    };
    let swarm = given([sharing("bd-1"), sharing("bd-2")]);
    for (policy, starts) in [
        (FileConflict::Allow, vec!["bd-1", "bd-2"]),
        (FileConflict::Queue, vec!["bd-1"]),
    ] {
        let options = Options {
            on_file_conflict: policy,
            ..Options::default()
        };
        let plan = schedule::plan(&swarm, &options, Some(&IDLE), NOW);
        assert_eq!(plan.start, starts, "{policy:?}");
    }
}

#[test]
fn a_limit_per_model_queues_only_the_spawns_of_that_provider() {
    let options = Options {
        max_running_per_model: BTreeMap::from([("openai".to_string(), 1)]),
        ..Options::default()
    };
    let on_openai = WorkerSpawned {
        model: Some("openai/gpt-5".into()),
        ..spawned_worker("bd-1", "ses_1")
    };
    let swarm = given([EventBody::WorkerSpawned(on_openai)]);
    let (then, _) = when_spawned(&swarm, &options, &with_model("bd-2", "openai/gpt-5-mini"));
    assert_eq!(
        then,
        queued_reply("bd-2", 1, "limit for openai: 1/1 running")
    );
    let (then, _) = when_spawned(&swarm, &options, &with_model("bd-3", "anthropic/claude"));
    assert_eq!(then, Then::Started { server: None });
    // The model the worker is prompted with comes with its admission.
    let request = accepted(
        &swarm,
        &options,
        &with_model("bd-3", " anthropic / claude "),
    );
    assert_eq!(
        admit::admit(&swarm, &options, &request, &none(), NOW),
        Admission::Start {
            server: None,
            model: Some(ModelRef {
                provider_id: "anthropic".into(),
                model_id: "claude".into(),
            }),
        }
    );
}

#[test]
fn a_busy_machine_queues_the_spawn_with_the_machines_state() {
    let short = Machine {
        load_percent: 10,
        free_memory_mb: 100,
    };
    let (then, _) = when_spawned_on(&given([]), &Options::default(), &short, &spawn_args("bd-1"));
    assert_eq!(then, queued_reply("bd-1", 1, "100 MB free is below 256 MB"));
}

#[test]
fn a_lost_server_takes_no_worker_and_the_start_goes_to_a_server_that_answers() {
    let options = cluster(&[(A, 2), (B, 1)]);
    let swarm = given([server_lost(A)]);
    let (then, events) = when_spawned(&swarm, &options, &spawn_args("bd-1"));
    assert_eq!(
        then,
        Then::Started {
            server: Some(B.into())
        }
    );
    // B is full and A still lost: the next spawn waits for room, and says why.
    let swarm = with_events(&swarm, events);
    let (then, events) = when_spawned(&swarm, &options, &spawn_args("bd-2"));
    let why = format!("no server has room: {A} lost, {B} 1/1");
    assert_eq!(then, queued_reply("bd-2", 1, &why));
    // Its start from the queue stays queued: nothing is prepared or recorded.
    let swarm = with_events(&swarm, events);
    let entry = swarm.queued("bd-2").unwrap().clone();
    assert_eq!(
        admit::admit(&swarm, &options, &entry.request, &none(), NOW),
        Admission::Stay(Wait::Servers(format!("{A} lost, {B} 1/1")))
    );
}

#[test]
fn starts_on_their_way_to_a_server_count_against_its_room() {
    let options = cluster(&[(A, 2), (B, 2)]);
    let swarm = given([]);
    let request = accepted(&swarm, &options, &spawn_args("bd-1"));
    let on_a = BTreeMap::from([(A.to_string(), 1)]);
    assert_eq!(
        admit::admit(&swarm, &options, &request, &on_a, NOW),
        Admission::Start {
            server: Some(B.into()),
            model: None
        }
    );
    let everywhere = BTreeMap::from([(A.to_string(), 2), (B.to_string(), 2)]);
    let admission = admit::admit(&swarm, &options, &request, &everywhere, NOW);
    let why = format!("{A} 2/2, {B} 2/2");
    assert_eq!(admission, Admission::Stay(Wait::Servers(why)));
}

#[test]
fn a_second_spawn_of_a_queued_bead_returns_its_queue_entry_even_when_both_were_vetted_at_once() {
    let options = limited(1);
    let swarm = given([spawned("bd-1", "ses_1"), queued("bd-2")]);
    let (then, events) = when_spawned(&swarm, &options, &spawn_args("bd-2"));
    let reply = "bd-2 was already queued; queued bd-2 (epic ep) at #1: limit: 1/1 running; it \
                 starts by itself";
    assert_eq!(
        then,
        Then::Existing(SpawnStatus::AlreadyQueued, reply.into())
    );
    assert!(events.is_empty());
    // Two spawns of bd-3, vetted on the same log: the first to take the lock queues it, the
    // second finds it taken and answers with the first one's entry.
    let before = given([spawned("bd-1", "ses_1")]);
    let first = accepted(&before, &options, &spawn_args("bd-3"));
    let second = accepted(&before, &options, &spawn_args("bd-3"));
    let Enqueue::Queued(entry) = intake::enqueue(&before, &options, first) else {
        panic!("the first is queued");
    };
    let swarm = with_events(&before, [EventBody::WorkerQueued(entry)]);
    assert_eq!(intake::enqueue(&swarm, &options, second), Enqueue::Taken);
    let answer = intake::existing(&swarm, &options, &spawn_args("bd-3"), NOW)
        .unwrap()
        .expect("the entry");
    assert_eq!(answer.status, SpawnStatus::AlreadyQueued);
    assert_eq!(answer.queue_position, Some(1));
}

#[test]
fn a_spawn_of_a_running_completed_or_other_epics_bead_is_answered_or_refused() {
    let options = Options::default();
    let swarm = given([spawned("bd-1", "ses_1")]);
    let (then, _) = when_spawned(&swarm, &options, &spawn_args("bd-1"));
    assert_eq!(
        then,
        Then::Existing(
            SpawnStatus::AlreadyRunning,
            "bd-1 already has a running worker (session ses_1, spawned 60.0s ago); no new \
             session was created."
                .into()
        )
    );
    let other_epic = SpawnArgs {
        epic_id: "other".into(),
        ..spawn_args("bd-1")
    };
    let (then, _) = when_spawned(&swarm, &options, &other_epic);
    assert_eq!(
        then,
        Then::Refused("refused: bead bd-1 belongs to epic ep, not other".into())
    );
    let done = with_events(
        &swarm,
        completed("bd-1", "ses_1", CompletionStatus::Success),
    );
    let (then, _) = when_spawned(&done, &options, &spawn_args("bd-1"));
    assert_eq!(
        then,
        Then::Refused(
            "refused: bead bd-1 already completed (session ses_1); pick a new bead id for \
             new work"
                .into()
        )
    );
    // A failed bead is spawned again as a new attempt.
    let broke = with_events(
        &given([spawned("bd-1", "ses_1")]),
        [failed("bd-1", "ses_1")],
    );
    let (then, _) = when_spawned(&broke, &options, &spawn_args("bd-1"));
    assert_eq!(then, Then::Started { server: None });
}

#[test]
fn a_queued_beads_start_is_recorded_only_while_it_is_that_entry_and_the_plan_starts_it() {
    let options = limited(1);
    let swarm = given([queued("bd-2")]);
    let entry = swarm.queued("bd-2").unwrap().clone();
    assert_eq!(
        admit::admit(&swarm, &options, &entry.request, &none(), NOW),
        Admission::Start {
            server: None,
            model: None
        }
    );
    let worker = prepared(&entry.request, None);
    let record =
        |swarm: &Swarm| when_recorded(swarm, &options, &entry.request, entry.seq, worker.clone());
    assert_eq!(record(&swarm), Some(worker.clone()));
    // While its worker was prepared, another instance started it,
    let started = with_events(&swarm, [spawned("bd-2", "ses_other")]);
    assert_eq!(record(&started), None);
    // or another start took the only slot,
    let full = with_events(&swarm, [spawned("bd-1", "ses_1")]);
    assert_eq!(record(&full), None);
    // or it was cancelled and queued again, as a new entry.
    let cancelled = EventBody::WorkerCancelled(apiary::event::WorkerNote {
        session_id: String::new(),
        bead_id: "bd-2".into(),
        epic_id: "ep".into(),
        reason: "cancelled".into(),
    });
    let again = with_events(&swarm, [cancelled, queued("bd-2")]);
    assert_eq!(record(&again), None);
}

#[test]
fn a_spawn_into_a_full_queue_is_refused_with_the_counts_and_records_nothing() {
    let options = Options {
        max_running: 1,
        max_queued: 1,
        ..Options::default()
    };
    let full = given([spawned("bd-1", "ses_1"), queued("bd-3")]);
    let (then, events) = when_spawned(&full, &options, &spawn_args("bd-2"));
    assert_eq!(
        then,
        Then::Refused(
            "refused: the queue is full: 1 queued (max_queued 1) and 1 running (max_running \
             1). Nothing was queued; await or cancel workers, then spawn again."
                .into()
        )
    );
    assert!(events.is_empty());
}

#[test]
fn a_start_that_could_not_be_prepared_fails_its_entry_once_and_the_policy_retries_it() {
    let options = Options {
        max_attempts: 2,
        ..Options::default()
    };
    let swarm = given([queued("bd-1")]);
    let entry = swarm.queued("bd-1").unwrap().clone();
    let failed = admit::start_failed(
        &swarm,
        &entry.request,
        entry.seq,
        "git worktree add: exit 128",
    );
    assert_eq!(types(&failed), ["worker_failed"]);
    let swarm = with_events(&swarm, failed);
    // Recorded once: the entry is no longer waiting, so a second report adds nothing.
    assert!(admit::start_failed(&swarm, &entry.request, entry.seq, "again").is_empty());
    assert!(schedule::plan(&swarm, &options, Some(&IDLE), NOW)
        .start
        .is_empty());
    // The retry policy queues it again after its backoff, as attempt 2.
    let retries = schedule::retries(&swarm, &options, NOW);
    assert_eq!(types(&retries), ["worker_retried"]);
    let swarm = with_events(&swarm, retries);
    let again = swarm.queued("bd-1").unwrap();
    assert_eq!(again.attempt, 2);
    assert_eq!(again.not_before, NOW + options.retry_backoff_ms);
    assert_eq!(
        again.request.reason,
        "could not start: git worktree add: exit 128"
    );
    // Failing again, it has had its attempts: it stays failed, and its dependents are blocked.
    let failed = admit::start_failed(&swarm, &again.request, again.seq, "still broken");
    let swarm = with_events(&swarm, failed);
    assert!(schedule::retries(&swarm, &options, NOW).is_empty());
    let (then, _) = when_spawned(&swarm, &options, &after("bd-2", &["bd-1"]));
    assert_eq!(
        then,
        Then::Refused(
            "refused: bd-2 cannot start: bd-1 could not start. Nothing was queued; spawn the \
             dependency again first."
                .into()
        )
    );
}

#[test]
fn a_start_failure_of_an_entry_cancelled_meanwhile_records_nothing() {
    let swarm = given([queued("bd-1")]);
    let entry = swarm.queued("bd-1").unwrap().clone();
    let cancelled = EventBody::WorkerCancelled(apiary::event::WorkerNote {
        session_id: String::new(),
        bead_id: "bd-1".into(),
        epic_id: "ep".into(),
        reason: "cancelled".into(),
    });
    let swarm = with_events(&swarm, [cancelled]);
    assert!(admit::start_failed(&swarm, &entry.request, entry.seq, "boom").is_empty());
}

#[test]
fn a_refused_first_prompt_fails_the_worker_as_retryable() {
    let request = queued_request("bd-1");
    let error = HostError::new("prompt_async", "503");
    let event = admit::prompt_refused(&request, "ses_1".into(), &error);
    let EventBody::WorkerFailed(f) = event else {
        panic!("{event:?}");
    };
    assert_eq!(
        f.error,
        "the server refused the prompt: prompt_async failed: 503"
    );
    assert_eq!((f.session_id.as_str(), f.retryable), ("ses_1", true));
}

#[test]
fn a_queued_request_whose_model_is_not_provider_slash_model_is_refused_at_admission() {
    let swarm = given([]);
    let request = WorkerQueued {
        model: Some("gpt-5".into()),
        ..queued_request("bd-1")
    };
    let Admission::Refuse(e) = admit::admit(&swarm, &Options::default(), &request, &none(), NOW)
    else {
        panic!("admitted");
    };
    assert_eq!(
        e.to_string(),
        "invalid argument `model`: \"gpt-5\" is not `provider/model` (e.g. \
         anthropic/claude-sonnet-4)"
    );
}
