// A stand-in for the SDK client a plugin receives: the calls Apiary makes, in the SDK's
// `{ data, error }` shape, recorded for assertions.
export interface FakeClient {
  created: { parentID?: string; title?: string; directory?: string }[];
  prompts: { id: string; text: string; directory?: string; agent?: string; model?: unknown }[];
  deleted: string[];
  aborted: { id: string; directory?: string }[];
  /** The directories whose instance was disposed of. */
  disposed: string[];
  toasts: { title?: string; message: string; variant: string }[];
  status: Record<string, { type: string }>;
  /** The server's agents, as `app.agents` lists them. */
  agents: string[];
  failNext?: { name: string; data: { message: string } };
  session: Record<string, (...args: any[]) => Promise<unknown>>;
  app: Record<string, (...args: any[]) => Promise<unknown>>;
  tui: Record<string, (...args: any[]) => Promise<unknown>>;
  instance: Record<string, (...args: any[]) => Promise<unknown>>;
}

type Query = { query?: { directory?: string } };

export function fakeClient(): FakeClient {
  let n = 0;
  let warmed = 0;
  const c: FakeClient = {
    created: [],
    prompts: [],
    deleted: [],
    aborted: [],
    disposed: [],
    toasts: [],
    status: {},
    agents: ["build", "plan", "general"],
    session: {},
    app: {},
    tui: {},
    instance: {},
  };
  const reply = <T>(data: T) => {
    const error = c.failNext;
    c.failNext = undefined;
    return error ? { error, response: new Response(null, { status: 404 }) } : { data };
  };
  c.session = {
    async create(opts: { body: { parentID?: string; title?: string } } & Query) {
      const directory = opts.query?.directory;
      // A pool member's warm-up session is numbered apart, so workers' ids do not depend on
      // how many members were warmed before them.
      if (opts.body.title === "apiary: warm-up") return reply({ id: `ses_warm${++warmed}` });
      c.created.push(directory === undefined ? opts.body : { ...opts.body, directory });
      n += 1;
      return reply({ id: `ses_fake${n}` });
    },
    async promptAsync(
      opts: { path: { id: string }; body: { parts: { text: string }[]; agent?: string; model?: unknown } } & Query,
    ) {
      const { agent, model } = opts.body;
      c.prompts.push({
        id: opts.path.id,
        text: opts.body.parts[0]?.text ?? "",
        ...(opts.query?.directory === undefined ? {} : { directory: opts.query.directory }),
        ...(agent === undefined ? {} : { agent }),
        ...(model === undefined ? {} : { model }),
      });
      return reply(undefined);
    },
    async delete(opts: { path: { id: string } }) {
      c.deleted.push(opts.path.id);
      return reply(true);
    },
    async abort(opts: { path: { id: string } } & Query) {
      const directory = opts.query?.directory;
      c.aborted.push(directory === undefined ? { id: opts.path.id } : { id: opts.path.id, directory });
      return reply(true);
    },
    async status() {
      return reply(c.status);
    },
    async messages() {
      return reply([]);
    },
  };
  c.tui = {
    async showToast(opts: { body: { title?: string; message: string; variant: string } }) {
      c.toasts.push(opts.body);
      return reply(true);
    },
  };
  c.instance = {
    async dispose(opts: Query) {
      c.disposed.push(opts.query?.directory ?? "");
      return reply(true);
    },
  };
  c.app = {
    async agents() {
      return reply(c.agents.map((name) => ({ name })));
    },
  };
  return c;
}
