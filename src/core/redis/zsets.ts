/** zsets commands. Pure. (Being written.) */
import type { Handler } from "./util";

export const zsetsCommands: Record<string, Handler> = {};
