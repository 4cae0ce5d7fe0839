/**
 * Job ids. A job's id is the create revision of its item key: its FIFO position. The jobs of one
 * `pushMany()` are created by one txn, so they share a revision; their tokens end with `.<index>` (zero
 * padded, so they sort in batch order) and their ids are `<revision>.<index>`.
 */

/** Digits of a batch index in a token: enough for the largest batch (see `MAX_PUSH_MANY`). */
const INDEX_DIGITS = 3;

/** The token of the `index`-th job of the batch whose random part is `base`. */
export function batchToken(base: string, index: number): string {
  return `${base}.${String(index).padStart(INDEX_DIGITS, '0')}`;
}

/** The batch index a token (or a `<bucket>/<token>` rel) carries, if it was pushed by `pushMany()`. */
export function batchIndex(rel: string): number | undefined {
  const m = /\.(\d+)$/.exec(rel);
  return m ? Number(m[1]) : undefined;
}

/** The id of the job stored at `rel` and created at `createRevision`. */
export function itemId(createRevision: bigint, rel: string): string {
  const index = batchIndex(rel);
  return index === undefined ? createRevision.toString() : `${createRevision}.${index}`;
}

/** The id of the `index`-th job of a batch created at `revision`. */
export function batchItemId(revision: bigint, index: number): string {
  return `${revision}.${index}`;
}

/** A job id taken apart; `undefined` for a string that is not one. */
export function parseItemId(id: string): { revision: bigint; index: number | undefined } | undefined {
  const m = /^([1-9]\d{0,18})(?:\.(\d{1,3}))?$/.exec(id);
  if (!m) return undefined;
  return { revision: BigInt(m[1]!), index: m[2] === undefined ? undefined : Number(m[2]) };
}
