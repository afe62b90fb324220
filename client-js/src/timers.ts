/** `setTimeout`, clamped: browsers run a delay above 2^31 − 1 ms at once. */
export function later(run: () => void, ms: number): ReturnType<typeof setTimeout> {
  return setTimeout(run, Math.min(Math.max(ms, 0), 2 ** 31 - 1));
}
