// Worktrees on a real server: a worker's edits land in its own worktree, not in the main tree,
// and it still has the worker tools there; swarm_worktree_merge brings a branch in and removes
// its worktree (remove_merged_worktrees, on by default), refuses a conflicting one whole
// (listing the file), and swarm_worktree_cleanup keeps the unmerged one.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, toolParts, until, type Step, type ToolCall } from "./scenario.js";


let fx: Fixture;
before(async () => {
  // The coordinator is prompted again after its workers finish: a wake-up turn in between
  // would move its script on (waking has its own tests: wake.test.ts, restart.test.ts).
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" });
const EPIC = "wt-epic";

/** A worker that runs one shell command in its directory, then reports. */
function shellWorker(bead: string, command: string): string {
  const steps: Step[] = [
    { tool_calls: [{ name: "bash", args: { command, description: `edit for ${bead}` } }] },
    { tool_calls: [{ name: "swarm_complete", args: { bead_id: bead, summary: `ran ${command}`, files_touched: [] } }] },
    { text: `${bead} finished` },
  ];
  return script(`worker-${bead}`, steps);
}

async function coordinatorRuns(id: string, scriptId: string, calls: ToolCall[]) {
  const before = (await toolParts(fx, id)).length;
  await prompt(fx, id, script(scriptId, [...calls.map((c) => ({ tool_calls: [c] })), { text: "ok" }]));
  return until(`${scriptId}'s ${calls.length} tool calls`, 90_000, async () => {
    const parts = (await toolParts(fx, id)).slice(before);
    const done = parts.filter((p) => p.state.status === "completed" || p.state.status === "error");
    return done.length === calls.length ? done : undefined;
  });
}

test("a worker's edits stay in its worktree until merged; a conflicting merge changes nothing; cleanup removes merged worktrees", async () => {
  writeFileSync(path.join(fx.repo, "shared.txt"), "base\n");
  git(fx.repo, "add", "shared.txt");
  git(fx.repo, "commit", "-q", "-m", "shared file");
  const spawn = (bead: string, command: string) => ({
    name: "swarm_spawn_async",
    args: { bead_id: bead, epic_id: EPIC, title: `task ${bead}`, description: shellWorker(bead, command), files: [] },
  });
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await coordinatorRuns(coordinator.id, "spawn", [
    spawn("writer", "echo from-writer > note.txt"),
    spawn("left", "echo left > shared.txt"),
    spawn("right", "echo right > shared.txt"),
  ]);
  await until("three completions", 90_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 3 ? true : undefined,
  );

  // The edit is in the worker's worktree and not in the main tree; the worker had its tools.
  // Each worker's checkout, as the log records it (a ready one of the pool, or its own).
  const tree = (bead: string) => String(loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === bead)!.worktree_path);
  assert.equal(readFileSync(path.join(tree("writer"), "note.txt"), "utf8"), "from-writer\n");
  assert.ok(!existsSync(path.join(fx.repo, "note.txt")), "the main tree does not have the worker's file");
  assert.equal(readFileSync(path.join(fx.repo, "shared.txt"), "utf8"), "base\n");
  assert.equal(git(fx.repo, "status", "--porcelain", "--untracked-files=all").split("\n").filter((l) => l.includes(".apiary")).length, 0, "git ignores the worktrees' folder");

  const [mergeWriter, mergeLeft, mergeRight] = await coordinatorRuns(coordinator.id, "merge", [
    { name: "swarm_worktree_merge", args: { bead_id: "writer" } },
    { name: "swarm_worktree_merge", args: { bead_id: "left" } },
    { name: "swarm_worktree_merge", args: { bead_id: "right" } },
  ]);
  assert.match(mergeWriter!.state.output!, /^merged apiary\/writer \(worker success\) into your branch at [0-9a-f]{10}: 1 file changed: note\.txt; its worktree and branch were removed$/);
  assert.equal(readFileSync(path.join(fx.repo, "note.txt"), "utf8"), "from-writer\n");
  assert.match(mergeLeft!.state.output!, /^merged apiary\/left .*; its worktree and branch were removed$/);
  assert.match(mergeRight!.state.output!, /^not merged: right \(worker success\) conflicts with your branch in 1 file: shared\.txt/);
  // Nothing half-merged: a clean tree, no merge in progress, the first merge's content kept.
  const mainHead = git(fx.repo, "rev-parse", "HEAD").trim();
  assert.equal(git(fx.repo, "status", "--porcelain"), "");
  assert.ok(!existsSync(path.join(fx.repo, ".git", "MERGE_HEAD")));
  assert.equal(readFileSync(path.join(fx.repo, "shared.txt"), "utf8"), "left\n");
  assert.equal(git(fx.repo, "log", "-1", "--format=%H").trim(), mainHead);

  const [cleanup] = await coordinatorRuns(coordinator.id, "cleanup", [{ name: "swarm_worktree_cleanup", args: { epic_id: EPIC } }]);
  // The merges removed their own worktrees; the one whose merge was refused stays.
  assert.match(cleanup!.state.output!, /^removed 0 worktree\(s\); kept 1 \(running or not merged\): right/);
  assert.ok(!existsSync(tree("writer")) && !existsSync(tree("left")));
  assert.ok(existsSync(tree("right")), "the unmerged worktree is kept");
  assert.equal(git(fx.repo, "branch", "--list", "apiary/writer").trim(), "");
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});

test("a worker starts from the coordinator's uncommitted files, and its merge brings only its own change", async () => {
  // The coordinator mid-edit: a file it has not committed, not even added.
  writeFileSync(path.join(fx.repo, "draft.txt"), "draft\n");
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator, mid-edit" } })).data!;
  const [spawned] = await coordinatorRuns(coordinator.id, "spawn-draft", [
    {
      name: "swarm_spawn_async",
      args: { bead_id: "reader", epic_id: "draft-epic", title: "copy the draft", description: shellWorker("reader", "cat draft.txt > seen.txt"), files: [] },
    },
  ]);
  assert.equal(spawned!.state.status, "completed");
  await until("the reader's completion", 90_000, async () =>
    loggedEvents(fx).some((e) => e.type === "worker_completed" && e.bead_id === "reader") ? true : undefined,
  );

  const [review, merge] = await coordinatorRuns(coordinator.id, "merge-draft", [
    { name: "swarm_review", args: { bead_id: "reader" } },
    { name: "swarm_worktree_merge", args: { bead_id: "reader" } },
  ]);
  assert.match(review!.state.output!, /\nbase: your HEAD \+ 1 uncommitted file \(not counted above, not merged\)/);
  assert.match(merge!.state.output!, /^merged apiary\/reader \(worker success\) into your branch at [0-9a-f]{10}: 1 file changed: seen\.txt;/);
  // The worker saw the draft; the merge committed its file, and the draft is still the
  // coordinator's own, uncommitted.
  assert.equal(readFileSync(path.join(fx.repo, "seen.txt"), "utf8"), "draft\n");
  assert.equal(git(fx.repo, "status", "--porcelain", "--untracked-files=all"), "?? draft.txt\n");
  assert.equal(git(fx.repo, "ls-tree", "--name-only", "HEAD", "draft.txt"), "");
});
