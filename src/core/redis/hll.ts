/** hll commands. Pure. (Being written.) */
import type { Handler } from "./util";

export const hllCommands: Record<string, Handler> = {};
