// A stand-in for the SDK client a plugin receives: the calls Apiary makes, in the SDK's
// `{ data, error }` shape, recorded for assertions.
export interface FakeClient {
  created: { parentID?: string; title?: string }[];
  prompts: { id: string; text: string }[];
  status: Record<string, { type: string }>;
  failNext?: { name: string; data: { message: string } };
  session: Record<string, (...args: any[]) => Promise<unknown>>;
}

export function fakeClient(): FakeClient {
  let n = 0;
  const c: FakeClient = {
    created: [],
    prompts: [],
    status: {},
    session: {},
  };
  const reply = <T>(data: T) => {
    const error = c.failNext;
    c.failNext = undefined;
    return error ? { error, response: new Response(null, { status: 404 }) } : { data };
  };
  c.session = {
    async create(opts: { body: { parentID?: string; title?: string } }) {
      c.created.push(opts.body);
      n += 1;
      return reply({ id: `ses_fake${n}` });
    },
    async promptAsync(opts: { path: { id: string }; body: { parts: { text: string }[] } }) {
      c.prompts.push({ id: opts.path.id, text: opts.body.parts[0]?.text ?? "" });
      return reply(undefined);
    },
    async status() {
      return reply(c.status);
    },
    async messages() {
      return reply([]);
    },
  };
  return c;
}
