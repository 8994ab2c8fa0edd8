// The OpenCode tool declarations: descriptions and argument schemas, each forwarding to the
// core. Validation, state and output text all come from the core; the bounds in the schemas
// are the core's own table (`ApiaryCore.argLimits`), so the model is told the limits the core
// checks.
import { tool, type ToolContext, type ToolDefinition } from "@opencode-ai/plugin";
import { loadCore, type ApiaryCore, type ArgLimit, type CallContext, type CompletionStatus, type Importance, type Priority } from "./core.js";

const z = tool.schema;

/** The core's bounds of `tool`'s argument `arg`. */
function bounds(tool: string, arg: string): ArgLimit {
  const found = (loadCore().argLimits() as ArgLimit[]).find((l) => l.tool === tool && l.arg === arg);
  if (!found) throw new Error(`[apiary] the core has no bounds for ${tool}.${arg}`);
  return found;
}

/** A whole number within the core's bounds. */
const bounded = (tool: string, arg: string) => {
  const { min, max } = bounds(tool, arg);
  return z.number().int().min(min ?? 0).max(max ?? Number.MAX_SAFE_INTEGER);
};

/** One of the core's values. */
const oneOf = <T extends string>(tool: string, arg: string) => z.enum((bounds(tool, arg).values ?? []) as [T, ...T[]]);

const beadId = z.string().describe("Subtask id, e.g. bd-12.1 (letters, digits, - _ . :)");

function caller(ctx: ToolContext): CallContext {
  return { session_id: ctx.sessionID, directory: ctx.directory };
}

/** The abort signal as a promise, which the core races against its wait. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/** OpenCode shows `title` and gives `output` to the model; the rest is metadata. */
function result<T extends { title: string; output: string }>(reply: T) {
  const { title, output, ...metadata } = reply;
  return { title, output, metadata };
}

export function swarmTools(core: ApiaryCore): Record<string, ToolDefinition> {
  return {
    swarm_spawn_async: tool({
      description:
        "Start a worker agent on a subtask in a background session and return at once (its " +
        "worktree and session are made behind the reply; spawn many in one step); the worker " +
        "runs in parallel with you, in its own git worktree and branch, made at its start from " +
        "your working tree as it is then (your uncommitted and untracked files included). Past the limit of " +
        "running workers, or until its dependencies complete, it is queued and starts by " +
        "itself (the reply gives its place and why). Follow with swarm_await_workers, then " +
        "swarm_review and swarm_worktree_merge. Refused, with nothing queued, for an invalid id, a dependency " +
        "cycle, a failed dependency or a full queue. A second spawn of a running or queued bead " +
        "returns it. With verify (a shell command such as npm test), the worker's success must " +
        "pass it in its directory before it is recorded.",
      args: {
        bead_id: beadId,
        epic_id: z.string().describe("Id of the epic this subtask belongs to"),
        title: z.string().describe("One-line title of the subtask"),
        description: z.string().optional().describe("Full task description for the worker"),
        files: z
          .array(z.string())
          .describe("Paths or globs the worker owns, relative to the repository: reserved while it runs; its edits elsewhere are refused"),
        dependencies: z
          .array(z.string())
          .optional()
          .describe("Bead ids that must complete first; it waits for them and then starts by itself"),
        shared_context: z.string().optional().describe("Context every worker of the epic should know"),
        agent: z.string().optional().describe("OpenCode agent for the worker, e.g. build or one in .opencode/agent/"),
        model: z.string().optional().describe("provider/model for the worker"),
        priority: oneOf<Priority>("swarm_spawn_async", "priority").optional().describe("Queue rank (default normal)"),
        verify: z
          .string()
          .optional()
          .describe("Shell command the worker's success must pass, e.g. npm test; kept for the epic's later spawns (default: the epic's last, else the verify option)"),
      },
      execute: async (args, ctx) => result(await core.spawnAsync(caller(ctx), args)),
    }),
    swarm_poll_workers: tool({
      description:
        "Status of an epic's workers, grouped as completed / in progress / failed / pending, one " +
        "line each. Returns at once; needs_review means a worker ended without swarm_complete.",
      args: {
        epic_id: z.string().describe("Epic id given to swarm_spawn_async"),
        include_messages: z.boolean().optional().describe("Add a short excerpt of each worker's last message"),
      },
      execute: async (args, ctx) => result(await core.pollWorkers(caller(ctx), args)),
    }),
    swarm_await_workers: tool({
      description:
        "Wait until no worker of the epic is running, then report them as swarm_poll_workers " +
        "does. Wakes on workers' completions and session events, not on a timer. On timeout " +
        "(default 10 min) it reports what it knows and says so; call it again to keep waiting.",
      args: {
        epic_id: z.string().describe("Epic id given to swarm_spawn_async"),
        timeout_ms: bounded("swarm_await_workers", "timeout_ms").optional().describe("Longest wait in ms (default 600000)"),
        poll_interval_ms: bounded("swarm_await_workers", "poll_interval_ms").optional().describe("Safety-net recheck in ms (default 5000)"),
        include_messages: z.boolean().optional().describe("Add a short excerpt of each worker's last message"),
      },
      execute: async (args, ctx) => result(await core.awaitWorkers(caller(ctx), args, aborted(ctx.abort))),
    }),
    swarm_cancel: tool({
      description:
        "Stop a bead's worker, or every running and queued worker of an epic: running sessions " +
        "are aborted, queued beads leave the queue, beads that depend on them become blocked.",
      args: {
        bead_id: z.string().optional().describe("One bead; or give epic_id"),
        epic_id: z.string().optional().describe("Every running and queued worker of this epic"),
        reason: z.string().optional().describe("Recorded with the cancel"),
      },
      execute: async (args) => result(await core.cancel(args)),
    }),
    swarm_status: tool({
      description:
        "The scheduler at a glance: running workers against the limits, the queue in order " +
        "with why each bead waits, blocked beads, and the machine's load.",
      args: {
        epic_id: z.string().optional().describe("Only this epic's queue"),
      },
      execute: async (args) => result(await core.status(args)),
    }),
    swarm_send: tool({
      description:
        "Send a message to the coordinator or to workers (bead ids). Recorded, so it survives " +
        "restarts. A worker asking the coordinator with importance high or urgent shows as " +
        "blocked until answered, and the coordinator is told when idle; urgent to a worker " +
        "reaches it as a prompt between its turns.",
      args: {
        to: z.array(z.string()).describe('"coordinator" and/or bead ids'),
        subject: z.string().describe("One line"),
        body: z.string().describe("The message"),
        importance: oneOf<Importance>("swarm_send", "importance").optional().describe("Default normal"),
        thread_id: z.string().optional().describe("Groups a conversation"),
      },
      execute: async (args, ctx) => result(await core.send(caller(ctx), args)),
    }),
    swarm_inbox: tool({
      description:
        "Messages for you (newest 20; * unread), and what became of those you sent (delivered, read).",
      args: {
        unread_only: z.boolean().optional().describe("Only messages not acknowledged yet"),
        thread_id: z.string().optional().describe("Only this conversation"),
      },
      execute: async (args, ctx) => result(await core.inbox(caller(ctx), args)),
    }),
    swarm_ack: tool({
      description: "Mark messages read; their senders see it in their inbox.",
      args: { message_ids: z.array(z.string()).describe("Ids from swarm_inbox") },
      execute: async (args, ctx) => result(await core.ack(caller(ctx), args)),
    }),
    swarm_log: tool({
      description:
        "The event log itself, one line per event (newest last): what happened to a bead, an " +
        "epic or a session, in order. Filter by epic_id, bead_id, session_id and event types.",
      args: {
        epic_id: z.string().optional(),
        bead_id: z.string().optional(),
        session_id: z.string().optional(),
        types: z.array(z.string()).optional().describe("e.g. worker_failed, worker_retried"),
        limit: bounded("swarm_log", "limit").optional().describe("Last N matching events (default 30)"),
      },
      execute: async (args) => result(await core.history(args)),
    }),
    swarm_review: tool({
      description:
        "Before merging a worker: its outcome and summary, its diffstat against its base, the " +
        "files it changed outside its reserved files, and whether it merges cleanly into your " +
        "HEAD (else the files in conflict). Changes nothing.",
      args: { bead_id: beadId },
      execute: async (args) => result(await core.worktreeReview(args)),
    }),
    swarm_worktree_merge: tool({
      description:
        "Merge a finished worker's branch (its worktree's changes, without your uncommitted " +
        "files it started from) into your branch; the " +
        "worktree and branch are then removed. A worker on another server's branch is fetched " +
        "from origin. Refused for a worker that did not succeed unless force is true, and when " +
        "your uncommitted changes hold files it brings. On a conflict nothing is merged and the " +
        "files in conflict are listed.",
      args: {
        bead_id: beadId,
        force: z.boolean().optional().describe("Merge even though the worker failed, was blocked, needs review or was cancelled"),
      },
      execute: async (args) => result(await core.worktreeMerge(args)),
    }),
    swarm_worktree_cleanup: tool({
      description:
        "Remove the worktrees (and branches) of merged workers and of finished workers that " +
        "changed nothing; include_unmerged also removes those of workers whose work was never " +
        "merged.",
      args: {
        epic_id: z.string().optional().describe("Only this epic's workers"),
        include_unmerged: z.boolean().optional().describe("Also discard unmerged worktrees"),
      },
      execute: async (args) => result(await core.worktreeCleanup(args)),
    }),
    swarm_progress: tool({
      description: "Worker only: report progress on your bead to the coordinator.",
      args: {
        bead_id: beadId,
        progress_percent: bounded("swarm_progress", "progress_percent").describe("0 to 100"),
        message: z.string().optional().describe("What is done so far, in one line"),
        files_touched: z.array(z.string()).optional().describe("Files changed so far"),
      },
      execute: async (args, ctx) => result(await core.progress(caller(ctx), args)),
    }),
    swarm_complete: tool({
      description:
        "Worker only: report that your bead is finished (status success, the default), failed, " +
        "or blocked (say what you need in summary). Call it once, then end your turn. When the " +
        "epic has a verify command, a success first runs it: if it fails, the reply shows its " +
        "output and nothing is recorded; fix the cause and call swarm_complete again.",
      args: {
        bead_id: beadId,
        summary: z.string().describe("What you did, or what blocks you"),
        files_touched: z.array(z.string()).describe("Files you changed"),
        status: oneOf<CompletionStatus>("swarm_complete", "status").optional(),
      },
      execute: async (args, ctx) => result(await core.complete(caller(ctx), args)),
    }),
  };
}
