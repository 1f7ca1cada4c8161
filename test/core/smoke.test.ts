import { expect, test } from "vitest";
test("core project runs", () => { expect(1 + 1).toBe(2); });
