// Apiary, installed as a drop-in: OpenCode loads every top-level file of .opencode/plugin/
// as a plugin, so this entry re-exports the plugin function and the rest lives in ./apiary/.
export { ApiaryPlugin } from "./apiary/index.js";
