// The package entry. OpenCode calls every export of a plugin module as a plugin, so this
// module exports the plugin function and nothing else at run time (types are erased).
export { ApiaryPlugin } from "./plugin.js";
export type { ApiaryHost, CallContext, PollReport, SpawnArgs, SpawnReply, WorkerView } from "./core.js";
