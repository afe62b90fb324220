/**
 * Delivery classes (PROTOCOL.md section 2.3): the sequence numbers that stamp this client's
 * `Sequenced` frames, and the receiver's rule that drops a value older than one it handled.
 *
 * @module
 */

/** The pairs of name and key a receiver remembers (PROTOCOL.md 2.3). */
export const MAX_REMEMBERED = 4096;

let lastSeq = 0n;

/**
 * The next `Sequenced.seq`: microseconds since the Unix epoch, so that a server (and its
 * cluster) compares this client's values with its other senders' roughly by time, made
 * strictly increasing so that two values within one clock tick are still ordered.
 */
export function nextSeq(): bigint {
  const now = BigInt(Date.now()) * 1000n;
  lastSeq = now > lastSeq ? now : lastSeq + 1n;
  return lastSeq;
}

/**
 * The newest `seq` handled for each name and key; a value at or below it is stale. Bounded:
 * when full, the pair with the lowest `seq` is forgotten, and a stale value of it could then
 * pass once, which costs less than growing without end.
 */
export class Freshness {
  private readonly newest = new Map<string, bigint>();
  private dropped = 0;

  constructor(private readonly max: number = MAX_REMEMBERED) {}

  /** How many values were dropped as stale. */
  get stale(): number {
    return this.dropped;
  }

  /** Whether a value stamped `seq` is newer than any handled for `name` and `key`; if so it is now the newest. */
  admit(name: string, key: string, seq: bigint): boolean {
    // The name's length first, so that no two (name, key) pairs make the same string.
    const pair = `${name.length}:${name}${key}`;
    const newest = this.newest.get(pair);
    if (newest !== undefined && seq <= newest) {
      this.dropped += 1;
      return false;
    }
    if (newest === undefined && this.newest.size >= this.max) this.forgetOldest();
    this.newest.set(pair, seq);
    return true;
  }

  private forgetOldest(): void {
    let oldest: string | undefined;
    let lowest: bigint | undefined;
    for (const [pair, seq] of this.newest) {
      if (lowest === undefined || seq < lowest) [oldest, lowest] = [pair, seq];
    }
    if (oldest !== undefined) this.newest.delete(oldest);
  }
}
