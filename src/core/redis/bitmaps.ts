/** bitmaps commands. Pure. (Being written.) */
import type { Handler } from "./util";

export const bitmapsCommands: Record<string, Handler> = {};
