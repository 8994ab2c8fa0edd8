// The coordinator's review before a merge, on a real server: swarm_review predicts a
// conflict (and a shell write outside the worker's files) without changing anything, and the
// merge then meets exactly the files it named; a failed worker's merge is refused by its
// outcome, then done with force.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, toolParts, until, type Step, type ToolCall, type ToolPart } from "./scenario.js";

let fx: Fixture;
before(async () => {
  // The coordinator is prompted again after its workers finish: a wake-up turn in between
  // would move its script on.
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" });
const EPIC = "review-epic";

/** A finished tool call as OpenCode keeps it: its title, metadata and error too. */
type Done = ToolPart & { state: { title?: string; error?: string; metadata?: { conflicts?: string[]; outside?: string[] } } };

/** A worker that runs one shell command in its worktree, then reports with `status`. */
function shellWorker(bead: string, command: string, status: string): string {
  const steps: Step[] = [
    { tool_calls: [{ name: "bash", args: { command, description: `edit for ${bead}` } }] },
    { tool_calls: [{ name: "swarm_complete", args: { bead_id: bead, summary: `ran ${command}`, files_touched: [], status } }] },
    { text: `${bead} finished` },
  ];
  return script(`worker-${bead}`, steps);
}

async function coordinatorRuns(id: string, scriptId: string, calls: ToolCall[]): Promise<Done[]> {
  const before = (await toolParts(fx, id)).length;
  await prompt(fx, id, script(scriptId, [...calls.map((c) => ({ tool_calls: [c] })), { text: "ok" }]));
  return until(`${scriptId}'s ${calls.length} tool calls`, 90_000, async () => {
    const parts = (await toolParts(fx, id)).slice(before);
    const done = parts.filter((p) => p.state.status === "completed" || p.state.status === "error");
    return done.length === calls.length ? (done as Done[]) : undefined;
  });
}

test("a review predicts a conflict that the merge then meets, and a failed worker is merged only with force", async () => {
  writeFileSync(path.join(fx.repo, "shared.txt"), "base\n");
  git(fx.repo, "add", "shared.txt");
  git(fx.repo, "commit", "-q", "-m", "shared file");
  const spawn = (bead: string, files: string[], command: string, status = "success") => ({
    name: "swarm_spawn_async",
    args: { bead_id: bead, epic_id: EPIC, title: `task ${bead}`, description: shellWorker(bead, command, status), files },
  });
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await coordinatorRuns(coordinator.id, "spawn", [
    spawn("left", ["shared.txt"], "echo left > shared.txt"),
    // Owns right.txt only: its shell also writes shared.txt, which the write guard cannot see.
    spawn("right", ["right.txt"], "echo right > shared.txt && echo r > right.txt"),
    spawn("broken", ["broken.txt"], "echo half > broken.txt", "failed"),
  ]);
  await until("three completions", 90_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 3 ? true : undefined,
  );

  const [mergeLeft] = await coordinatorRuns(coordinator.id, "merge-left", [{ name: "swarm_worktree_merge", args: { bead_id: "left" } }]);
  assert.match(mergeLeft!.state.output!, /^merged apiary\/left \(worker success\) into your branch at [0-9a-f]{10}: 1 file changed: shared\.txt/);
  const head = git(fx.repo, "rev-parse", "HEAD");

  const [review, mergeRight] = await coordinatorRuns(coordinator.id, "review-right", [
    { name: "swarm_review", args: { bead_id: "right" } },
    { name: "swarm_worktree_merge", args: { bead_id: "right" } },
  ]);
  assert.equal(review!.state.status, "completed", JSON.stringify(review!.state));
  assert.equal(review!.state.title, "right: 1 conflict, 1 outside");
  assert.deepEqual(review!.state.metadata?.conflicts, ["shared.txt"]);
  assert.deepEqual(review!.state.metadata?.outside, ["shared.txt"]);
  const report = review!.state.output!;
  assert.match(report, /^right success: ran echo right > shared\.txt && echo r > right\.txt\n/);
  assert.match(report, /\noutside its files \(right\.txt\): shared\.txt\n/);
  assert.match(report, /\nmerge into your HEAD: 1 conflict: shared\.txt$/);
  assert.ok(report.length < 2048);
  // The merge meets exactly the files the review named, and neither changed your tree (the
  // merge committed the worker's edits on its own branch first, as every merge does).
  assert.match(mergeRight!.state.output!, /^not merged: right \(worker success\) conflicts with your branch in 1 file: shared\.txt\. Your tree is as it was\./);
  assert.deepEqual(mergeRight!.state.metadata?.conflicts, review!.state.metadata?.conflicts);
  assert.equal(git(fx.repo, "rev-parse", "HEAD"), head);
  assert.equal(git(fx.repo, "status", "--porcelain"), "");
  assert.equal(readFileSync(path.join(fx.repo, "shared.txt"), "utf8"), "left\n");

  const [refused, forced] = await coordinatorRuns(coordinator.id, "merge-broken", [
    { name: "swarm_worktree_merge", args: { bead_id: "broken" } },
    { name: "swarm_worktree_merge", args: { bead_id: "broken", force: true } },
  ]);
  assert.equal(refused!.state.status, "error");
  assert.match(refused!.state.error!, /not merged: the worker of broken did not succeed \(failed: ran echo half > broken\.txt\)\. Nothing was changed\./);
  assert.match(forced!.state.output!, /^merged apiary\/broken \(worker failed, forced\) into your branch at [0-9a-f]{10}: 1 file changed: broken\.txt/);
  assert.equal(readFileSync(path.join(fx.repo, "broken.txt"), "utf8"), "half\n");
  assert.ok(!existsSync(path.join(fx.repo, ".git", "MERGE_HEAD")));
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
