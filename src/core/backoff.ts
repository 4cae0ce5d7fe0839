/**
 * Exponential back-off with full jitter for background reconnect loops (watch and keepalive streams),
 * which have no single request to hand to `p-retry`: each failure asks for the next delay, each success
 * resets it.
 */
export class Backoff {
  #attempt = 0;

  constructor(
    readonly minMs = 50,
    readonly maxMs = 2000,
  ) {}

  /** The delay before the next attempt: random in [min, min·2^n], capped at max. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return this.minMs + Math.random() * (ceiling - this.minMs);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
