// Argument checks shared by the health cores. Bad configuration or a non-finite clock reading is a
// programming error in the shell, so it throws (RangeError) instead of yielding NaN state.

/** Throws unless `value` is a finite number (a clock reading or a duration). */
export function requireFinite(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${value}`);
}

/** Throws unless `value` is an integer >= `min`. */
export function requireInt(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
}

/** Throws unless `value` is finite and > 0 (or >= 0 when `allowZero`). */
export function requirePositive(name: string, value: number, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`${name} must be a finite number ${allowZero ? ">=" : ">"} 0, got ${value}`);
  }
}
