// Loads the wasm core once per process. Works under Bun (OpenCode's runtime) and Node.
import { readFileSync } from "node:fs";
import { initSync, ApiaryCore, LogView, type InitOutput } from "./wasm/apiary_core.js";

export { ApiaryCore, LogView };
export type * from "./wasm/apiary_core.js";

let instance: InitOutput | undefined;

function instantiate(): void {
  if (!instance) {
    const bytes = readFileSync(new URL("./wasm/apiary_core_bg.wasm", import.meta.url));
    instance = initSync({ module: bytes });
  }
}

/** Instantiates the module on first use; later calls return at once. */
export function loadCore(): typeof ApiaryCore {
  instantiate();
  return ApiaryCore;
}

/** The read-only views of a log (the command line's), from the same module. */
export function loadLogView(): typeof LogView {
  instantiate();
  return LogView;
}

/** Bytes of linear memory the core has grown to (it never shrinks). */
export function wasmMemoryBytes(): number {
  return instance ? instance.memory.buffer.byteLength : 0;
}
