import { MeshTimeoutError } from "./errors.js";

/** How long and how often to poll. */
export interface PollOptions {
  /** Give up after this long, in milliseconds. */
  timeoutMs?: number;
  /** Wait this long between attempts, in milliseconds. */
  intervalMs?: number;
}

/**
 * Calls `attempt` until it returns something other than `undefined`, then returns that.
 * Throws {@link MeshTimeoutError} (saying `what` was awaited) after `timeoutMs`; errors of
 * `attempt` propagate at once.
 */
export async function pollUntil<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  options: PollOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() + intervalMs > deadline) {
      throw new MeshTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

