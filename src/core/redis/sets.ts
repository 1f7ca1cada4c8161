/** sets commands. Pure. (Being written.) */
import type { Handler } from "./util";

export const setsCommands: Record<string, Handler> = {};
