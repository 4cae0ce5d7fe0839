/**
 * The pure half of the watched config: keys → nested object, the conflicting-shapes rule, value
 * encoding, defaults merging.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildTree,
  decodeValue,
  deepEqual,
  deepMerge,
  encodeValue,
  keyPath,
} from '../../src/config/shape.js';

const segment = fc.constantFrom('a', 'b', 'c', 'db', 'url', 'x');
const key = fc.array(segment, { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));
const leaf = fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null));
/** Distinct keys with values, as a Map would hold them. */
const entries = fc.uniqueArray(fc.tuple(key, leaf), { selector: ([k]) => k, maxLength: 12 });

/** Reads the value at `key` in a nested object, or undefined. */
function at(tree: unknown, k: string): unknown {
  let node = tree;
  for (const seg of k.split('/')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, seg)) return undefined;
    node = (node as Record<string, unknown>)[seg];
  }
  return node;
}

/** Every leaf of a nested object as `[path, value]`. */
function flatten(tree: unknown, prefix = ''): [string, unknown][] {
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) return [[prefix, tree]];
  return Object.entries(tree).flatMap(([k, v]) => flatten(v, prefix === '' ? k : `${prefix}/${k}`));
}

describe('buildTree', () => {
  it('nests keys by "/": db/url → { db: { url } }', () => {
    const { tree, conflicts } = buildTree([
      ['db/url', 'postgres://x'],
      ['db/pool', 10],
      ['feature', true],
    ]);
    expect(tree).toEqual({ db: { url: 'postgres://x', pool: 10 }, feature: true });
    expect(conflicts).toEqual([]);
  });

  it('conflicting shapes: the deeper key wins, the shadowed leaf is reported', () => {
    const { tree, conflicts } = buildTree([
      ['a', 1],
      ['a/c/d', 3],
      ['a/b', 2],
    ]);
    expect(tree).toEqual({ a: { b: 2, c: { d: 3 } } });
    expect(conflicts).toEqual([{ key: 'a', reason: 'shadowed', by: 'a/b' }]);
  });

  it('keys that cannot be paths are left out and reported', () => {
    const { tree, conflicts } = buildTree([
      ['', 'bare prefix'],
      ['a//b', 1],
      ['/a', 2],
      ['a/', 3],
      ['__proto__/polluted', 4],
      ['ok', 5],
    ]);
    expect(tree).toEqual({ ok: 5 });
    expect(conflicts.map((c) => c.key)).toEqual(['', '/a', '__proto__/polluted', 'a/', 'a//b']);
    expect(conflicts.every((c) => c.reason === 'invalid-key')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('a JSON object under one key is a leaf like any other value', () => {
    expect(buildTree([['db', { url: 'x' }]]).tree).toEqual({ db: { url: 'x' } });
    // ...and it is shadowed by a deeper key, not merged with it.
    expect(
      buildTree([
        ['db', { url: 'x' }],
        ['db/pool', 1],
      ]).tree,
    ).toEqual({ db: { pool: 1 } });
  });

  it('property: the result does not depend on the order of the keys', () => {
    fc.assert(
      fc.property(entries, fc.context(), (es, _ctx) => {
        const a = buildTree(es);
        const b = buildTree([...es].reverse());
        expect(b.tree).toEqual(a.tree);
        expect(b.conflicts).toEqual(a.conflicts);
      }),
      { numRuns: 300 },
    );
  });

  it('property: deeper keys win — a key is shadowed iff it is a folder of another key; every other key is at its path', () => {
    fc.assert(
      fc.property(entries, (es) => {
        const { tree, conflicts } = buildTree(es);
        const keys = es.map(([k]) => k);
        const isFolder = (k: string) => keys.some((o) => o.startsWith(`${k}/`));
        const shadowed = conflicts.filter((c) => c.reason === 'shadowed').map((c) => c.key);
        expect(shadowed.sort()).toEqual(keys.filter(isFolder).sort());
        for (const c of conflicts) expect(c.by?.startsWith(`${c.key}/`)).toBe(true);
        for (const [k, v] of es) if (!isFolder(k)) expect(at(tree, k)).toEqual(v);
        // Nothing else is in the tree: its leaves are exactly the unshadowed keys.
        const leaves = flatten(tree)
          .map(([p]) => p)
          .sort();
        expect(leaves).toEqual(keys.filter((k) => !isFolder(k)).sort());
      }),
      { numRuns: 300 },
    );
  });
});

describe('decodeValue / encodeValue', () => {
  it('JSON when it parses, otherwise the text', () => {
    expect(decodeValue(Buffer.from('5432'))).toBe(5432);
    expect(decodeValue(Buffer.from('true'))).toBe(true);
    expect(decodeValue(Buffer.from('{"a":[1,2]}'))).toEqual({ a: [1, 2] });
    expect(decodeValue(Buffer.from('"quoted"'))).toBe('quoted');
    expect(decodeValue(Buffer.from('postgres://db:5432/app'))).toBe('postgres://db:5432/app');
    expect(decodeValue(Buffer.from(''))).toBe('');
  });

  it('strings that are not JSON are stored as is; others as JSON', () => {
    expect(encodeValue('postgres://db')).toBe('postgres://db');
    expect(encodeValue('5432')).toBe('"5432"');
    expect(encodeValue(5432)).toBe('5432');
    expect(encodeValue({ a: 1 })).toBe('{"a":1}');
  });

  it('rejects values JSON cannot hold, naming the argument', () => {
    expect(() => encodeValue(undefined)).toThrow(/`value`/);
    expect(() => encodeValue(10n)).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => encodeValue(cyclic)).toThrow(/JSON-serializable/);
  });

  it('property: decode(encode(v)) equals v for every JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        // JSON has no -0: it reads back as 0.
        expect(deepEqual(decodeValue(encodeValue(v)), JSON.parse(JSON.stringify(v)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('deepMerge (defaults under etcd values)', () => {
  it('merges objects key by key; etcd wins; arrays are replaced whole', () => {
    const defaults = { db: { url: 'x', pool: 10 }, tags: ['a', 'b'], debug: false };
    const merged = deepMerge(defaults, { db: { pool: 20 }, tags: ['c'] });
    expect(merged).toEqual({ db: { url: 'x', pool: 20 }, tags: ['c'], debug: false });
    expect(defaults).toEqual({ db: { url: 'x', pool: 10 }, tags: ['a', 'b'], debug: false });
  });

  it('property: every etcd leaf survives the merge', () => {
    fc.assert(
      fc.property(entries, entries, (d, e) => {
        const over = buildTree(e).tree;
        const merged = deepMerge(buildTree(d).tree, over);
        for (const [p, v] of flatten(over)) if (p !== '') expect(at(merged, p)).toEqual(v);
      }),
      { numRuns: 300 },
    );
  });
});

describe('keyPath', () => {
  it('splits on "/" and rejects empty segments and __proto__', () => {
    expect(keyPath('db/url')).toEqual(['db', 'url']);
    expect(keyPath('')).toBeUndefined();
    expect(keyPath('a//b')).toBeUndefined();
    expect(keyPath('x/__proto__')).toBeUndefined();
  });
});
