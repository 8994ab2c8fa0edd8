// Readying an OpenCode instance for a directory's first prompt, without a model call. A first
// prompt in a new directory pays for what the instance loads lazily: its providers, its file
// search (location services) and its first snapshot of the tree (`git add` of every file,
// a minute in a repository of 20,000 files). Each has a call that loads it ahead of need;
// the snapshot's is a revert of a `noReply` prompt, which takes a snapshot and changes no file.
import { unwrap, type OpencodeClient } from "./sdk.js";

export async function warmInstance(client: OpencodeClient, directory: string): Promise<void> {
  const query = { directory };
  const session = unwrap(await client.session.create({ body: { title: "apiary: warm-up" }, query }));
  try {
    await Promise.all([client.config.providers({ query }), client.find.files({ query: { ...query, query: "apiary" } })]);
    const said = unwrap(
      await client.session.prompt({ path: { id: session.id }, query, body: { noReply: true, parts: [{ type: "text", text: "warm-up" }] } }),
    );
    unwrap(await client.session.revert({ path: { id: session.id }, query, body: { messageID: said.info.id } }));
  } finally {
    await client.session.delete({ path: { id: session.id }, query }).catch(() => undefined);
  }
}
