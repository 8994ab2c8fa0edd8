// Loads the wasm core once per process. Works under Bun (OpenCode's runtime) and Node.
import { readFileSync } from "node:fs";
import { initSync, ApiaryCore } from "./wasm/apiary_core.js";

export { ApiaryCore };
export type * from "./wasm/apiary_core.js";

let ready = false;

/** Instantiates the module on first use; later calls return at once. */
export function loadCore(): typeof ApiaryCore {
  if (!ready) {
    const bytes = readFileSync(new URL("./wasm/apiary_core_bg.wasm", import.meta.url));
    initSync({ module: bytes });
    ready = true;
  }
  return ApiaryCore;
}
