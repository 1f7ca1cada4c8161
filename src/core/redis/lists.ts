/** lists commands. Pure. (Being written.) */
import type { Handler } from "./util";

export const listsCommands: Record<string, Handler> = {};
