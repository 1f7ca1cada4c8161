/** scripting commands. Pure. (Being written.) */
import type { Handler } from "./util";

export const scriptingCommands: Record<string, Handler> = {};
