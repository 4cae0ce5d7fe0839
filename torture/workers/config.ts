/**
 * Config worker. Role `writer`: sets keys a, b, c of `config/` to a strictly increasing sequence
 * number through `WatchedConfig.set`. Role `reader`: records the initial value and every `change`
 * with its revision, and reports its current value on SIGUSR2.
 *
 * History: `set` {key, seq, revision, write}, `initial`/`change` {revision, value}, `final` {revision, value}.
 *
 * @module
 */
import { pause, runWorker } from './common.js';
import { CONFIG_KEYS, CONFIG_PREFIX } from '../names.js';

await runWorker(async (w) => {
  const { coord, rng } = w;
  const cfg = await coord.config(CONFIG_PREFIX);
  w.onStop(() => cfg.close());
  if (w.role === 'reader') {
    // The `stale-follower` control models a follower that trusts revision order alone: it ignores any
    // change at or below the highest revision it has shown (the store-reset checker's negative control).
    const stale = w.control('stale-follower');
    let view = { revision: cfg.revision, value: cfg.value as unknown };
    w.append('initial', 'ok', { revision: view.revision.toString(), value: view.value });
    cfg.on('change', (next, _prev, info) => {
      if (stale && info.revision <= view.revision) return;
      view = { revision: info.revision, value: next };
      w.append('change', 'ok', {
        revision: info.revision.toString(),
        value: next,
        changedKeys: info.changedKeys,
      });
    });
    w.onReport(() =>
      stale
        ? { revision: view.revision.toString(), value: view.value }
        : { revision: cfg.revision.toString(), value: cfg.value },
    );
    return;
  }
  // Sequence numbers start above anything a previous writer process could have used.
  let seq = Math.floor(Date.now() / 1000) * 1000;
  while (!w.quiesce.aborted) {
    const key = rng.pick(CONFIG_KEYS);
    seq++;
    const s = seq;
    await w.record(
      'set',
      { key, seq: s, write: true },
      () => cfg.set(key, s),
      (rev) => ({ revision: rev.toString() }),
    );
    await pause(rng.int(50, 250), w.quiesce);
  }
});
