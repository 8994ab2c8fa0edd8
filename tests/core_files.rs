//! Files a worker owns: reserved while it runs (an overlapping spawn waits or is refused), let
//! go when it ends or vanishes, and enforced on its edit, write and patch calls.
#[path = "core/given.rs"]
mod given;

use apiary::api::{CancelArgs, FileConflict, SpawnArgs, SpawnStatus};
use apiary::host::ServerEvent;
use apiary::testing::{block_on, FakeHost};
use apiary::{Apiary, WriteArgs};
use given::*;

type Core = Apiary<FakeHost>;

fn owning(id: &str, files: &[&str]) -> SpawnArgs {
    let mut args = spawn_args(id);
    args.files = files.iter().map(|f| f.to_string()).collect();
    args
}

fn started(a: &Core, id: &str) -> bool {
    a.log().swarm().bead(id).is_some()
}

fn write(a: &Core, session: &str, tool: &str, path: &str) -> Result<(), String> {
    let args = WriteArgs {
        file_path: Some(path.into()),
        patch_text: None,
    };
    block_on(a.guard_write(session, tool, &args)).map_err(|e| e.to_string())
}

#[test]
fn a_spawn_on_files_a_running_worker_holds_waits_and_starts_when_it_ends() {
    let a = apiary();
    spawn_ok(&a, owning("bd-1", &["src/**"]));
    let reply = block_on(spawn_started(
        &a,
        &coordinator(),
        &owning("bd-2", &["./src/a.rs", "docs/x.md"]),
    ))
    .unwrap();
    assert_eq!(reply.status, SpawnStatus::Queued);
    assert_eq!(
        reply.output,
        "queued bd-2 (epic ep) at #1: files held by bd-1: src/a.rs ~ src/**; it starts by itself"
    );
    // Files apart from bd-1's start at once.
    spawn_ok(&a, owning("bd-3", &["docs/y.md"]));
    finish(&a, "bd-1");
    assert!(started(&a, "bd-2"));
}

fn spawn_ok(a: &Core, args: SpawnArgs) {
    let reply = block_on(spawn_started(a, &coordinator(), &args)).unwrap();
    assert_eq!(reply.status, SpawnStatus::Starting, "{}", reply.output);
}

#[test]
fn with_on_file_conflict_refuse_the_overlapping_spawn_is_refused_by_name() {
    let a = apiary_with(|o| o.on_file_conflict = FileConflict::Refuse);
    spawn_ok(&a, owning("bd-1", &["*.md"]));
    let err = block_on(spawn_started(
        &a,
        &coordinator(),
        &owning("bd-2", &["README.md"]),
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "refused: bd-2's files overlap those of running worker bd-1: README.md ~ *.md. Nothing \
         was queued; wait for bd-1, or give bd-2 other files."
    );
    // `*.md` is top-level only: a file in a folder is free.
    spawn_ok(&a, owning("bd-3", &["docs/x.md"]));
    // Advisory reservations: overlapping workers run together.
    let advisory = apiary_with(|o| o.on_file_conflict = FileConflict::Allow);
    spawn_ok(&advisory, owning("bd-1", &["*.md"]));
    spawn_ok(&advisory, owning("bd-2", &["README.md"]));
}

#[test]
fn two_queued_beads_on_the_same_files_never_start_together() {
    let b = apiary_with(|o| o.max_running = 3);
    spawn_ok(&b, owning("gate", &[]));
    // Both wait for the gate; when it completes there is room for both, but not their files.
    for (id, files) in [("x", "lib/**"), ("y", "lib/mod.rs")] {
        let mut args = owning(id, &[files]);
        args.dependencies = Some(vec!["gate".into()]);
        block_on(spawn_started(&b, &coordinator(), &args)).unwrap();
    }
    finish(&b, "gate");
    assert!(started(&b, "x"));
    assert!(!started(&b, "y"), "y waits for x's files");
    finish(&b, "x");
    assert!(started(&b, "y"));
}

#[test]
fn a_reservation_ends_with_failure_cancel_or_a_vanished_worker() {
    let a = apiary_with(|o| {
        o.stall_after_ms = 0;
        o.reservation_ttl_ms = 60_000;
    });
    spawn_ok(&a, owning("bd-1", &["a.rs"]));
    block_on(a.cancel(&CancelArgs {
        bead_id: Some("bd-1".into()),
        ..CancelArgs::default()
    }))
    .unwrap();
    spawn_ok(&a, owning("bd-2", &["a.rs"]));
    block_on(a.observe(&ServerEvent::Deleted {
        session_id: session_of(&a, "bd-2"),
    }))
    .unwrap();
    spawn_ok(&a, owning("bd-3", &["a.rs"]));
    // bd-3 goes silent: after the TTL its files are free, though it is not known to be gone.
    let queued = block_on(spawn_started(
        &a,
        &coordinator(),
        &owning("bd-4", &["a.rs"]),
    ))
    .unwrap();
    assert_eq!(queued.status, SpawnStatus::Queued);
    a.host().clock.advance(60_000);
    block_on(a.drain()).unwrap();
    assert!(started(&a, "bd-4"));
}

#[test]
fn a_worker_may_write_its_own_files_and_nothing_else() {
    let a = apiary();
    spawn_ok(&a, owning("bd-1", &["src/auth/**", "README.md"]));
    let s = session_of(&a, "bd-1");
    assert_eq!(write(&a, &s, "edit", "/repo/src/auth/login.rs"), Ok(()));
    assert_eq!(write(&a, &s, "write", "src/auth/new/mod.rs"), Ok(()));
    assert_eq!(write(&a, &s, "write", "/repo/./README.md"), Ok(()));
    assert_eq!(
        write(&a, &s, "edit", "/repo/src/main.rs"),
        Err(
            "refused: bd-1 owns only src/auth/**, README.md; src/main.rs is not one of them. \
             Nothing was changed. Read any file you need; to change one you do not own, finish \
             with swarm_complete status \"blocked\" and name it."
                .into()
        )
    );
    let outside = write(&a, &s, "write", "/etc/passwd").unwrap_err();
    assert!(
        outside.starts_with("refused: bd-1 owns only src/auth/**, README.md; /etc/passwd is outside its working directory /repo."),
        "{outside}"
    );
    assert!(
        write(&a, &s, "edit", "/repo/src/auth/../main.rs").is_err(),
        "`..` is resolved first"
    );
    // Reading, and tools that do not write, are never checked.
    assert_eq!(write(&a, &s, "read", "/repo/src/main.rs"), Ok(()));
    assert_eq!(write(&a, &s, "grep", "/etc"), Ok(()));
}

#[test]
fn every_file_a_patch_names_must_be_owned() {
    let a = apiary();
    spawn_ok(&a, owning("bd-1", &["src/a.rs", "src/b.rs"]));
    let s = session_of(&a, "bd-1");
    let patch = |text: &str| WriteArgs {
        file_path: None,
        patch_text: Some(text.into()),
    };
    let ok = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: src/b.rs\n+z\n*** End Patch";
    assert!(block_on(a.guard_write(&s, "apply_patch", &patch(ok))).is_ok());
    let moved = "*** Begin Patch\n*** Update File: src/a.rs\n*** Move to: src/c.rs\n*** End Patch";
    let err = block_on(a.guard_write(&s, "apply_patch", &patch(moved))).unwrap_err();
    assert!(
        err.to_string().contains("src/c.rs is not one of them"),
        "{err}"
    );
    let deleted = "*** Begin Patch\n*** Delete File: Cargo.toml\n*** End Patch";
    assert!(block_on(a.guard_write(&s, "apply_patch", &patch(deleted))).is_err());
}

#[test]
fn sessions_that_are_not_workers_and_workers_with_enforcement_off_write_freely() {
    let a = apiary();
    spawn_ok(&a, owning("bd-1", &[]));
    assert_eq!(write(&a, "ses_coord", "write", "/repo/anything.rs"), Ok(()));
    let s = session_of(&a, "bd-1");
    let none = write(&a, &s, "write", "/repo/x.rs").unwrap_err();
    assert!(
        none.starts_with("refused: bd-1 owns no files; x.rs is not one of them."),
        "{none}"
    );
    let off = apiary_with(|o| o.enforce_files = false);
    spawn_ok(&off, owning("bd-1", &[]));
    let s = session_of(&off, "bd-1");
    assert_eq!(write(&off, &s, "write", "/repo/x.rs"), Ok(()));
}
