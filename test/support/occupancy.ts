/**
 * An in-process occupancy checker for lock tests: every holder says when it starts and stops using the
 * resource and how much of it (permits, or 'read'/'write'), and the checker records each moment the rule
 * was broken. The holders of every client run in this one process, so this is the resource's own view.
 */

/** Counts permits in use; a violation is any moment above `total`. */
export class PermitChecker {
  inUse = 0;
  max = 0;
  readonly violations: string[] = [];
  constructor(readonly total: number) {}

  enter(n: number, who: string): void {
    this.inUse += n;
    this.max = Math.max(this.max, this.inUse);
    if (this.inUse > this.total) this.violations.push(`${who}: ${this.inUse} permits in use > ${this.total}`);
  }

  leave(n: number): void {
    this.inUse -= n;
  }
}

/** Readers may overlap each other; a writer overlaps nobody. */
export class RWChecker {
  readers = 0;
  writers = 0;
  readonly violations: string[] = [];

  enter(mode: 'read' | 'write', who: string): void {
    if (mode === 'write') this.writers++;
    else this.readers++;
    if (this.writers > 1 || (this.writers === 1 && this.readers > 0))
      this.violations.push(`${who} (${mode}): ${this.writers} writer(s) with ${this.readers} reader(s)`);
  }

  leave(mode: 'read' | 'write'): void {
    if (mode === 'write') this.writers--;
    else this.readers--;
  }

  /** A downgrade: the writer becomes a reader in one step (no instant without a holder). */
  downgrade(who: string): void {
    this.writers--;
    this.enter('read', who);
  }
}
