// Loads the wasm core once per process. Works under Bun (OpenCode's runtime) and Node.
import { readFileSync } from "node:fs";
import { initSync, ApiaryCore, type InitOutput } from "./wasm/apiary_core.js";

export { ApiaryCore };
export type * from "./wasm/apiary_core.js";

let instance: InitOutput | undefined;

/** Instantiates the module on first use; later calls return at once. */
export function loadCore(): typeof ApiaryCore {
  if (!instance) {
    const bytes = readFileSync(new URL("./wasm/apiary_core_bg.wasm", import.meta.url));
    instance = initSync({ module: bytes });
  }
  return ApiaryCore;
}

/** Bytes of linear memory the core has grown to (it never shrinks). */
export function wasmMemoryBytes(): number {
  return instance ? instance.memory.buffer.byteLength : 0;
}
