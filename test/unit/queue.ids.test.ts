/**
 * Job ids: `<revision>` for push(), `<revision>.<index>` for the jobs of a pushMany() batch, parsed back
 * by remove(); batch tokens sort in batch order (the view's FIFO tiebreak relies on it).
 */
import { describe, expect, it } from 'vitest';
import { batchIndex, batchItemId, batchToken, itemId, parseItemId } from '../../src/queue/ids.js';

describe('queue job ids', () => {
  it('a single job is its revision; a batch job is revision.index, and both parse back', () => {
    expect(itemId(42n, '999999/0123456789abcdef')).toBe('42');
    expect(itemId(42n, `999999/${batchToken('0123456789abcdef', 7)}`)).toBe('42.7');
    expect(batchItemId(42n, 7)).toBe('42.7');
    expect(parseItemId('42')).toEqual({ revision: 42n, index: undefined });
    expect(parseItemId('42.7')).toEqual({ revision: 42n, index: 7 });
  });

  it('batch tokens sort in batch order up to the largest batch', () => {
    const tokens = Array.from({ length: 127 }, (_, i) => batchToken('ab', i));
    expect([...tokens].sort()).toEqual(tokens);
    expect(tokens.map((t) => batchIndex(t))).toEqual(tokens.map((_, i) => i));
    expect(batchIndex('999999/0123456789abcdef')).toBeUndefined();
  });

  it('rejects what is not an id', () => {
    for (const bad of ['', '0', '-1', '01', 'x', '1.', '.1', '1.2.3', '1.1234', ' 1', '1e3']) {
      expect(parseItemId(bad)).toBeUndefined();
    }
  });
});
