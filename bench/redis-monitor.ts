import { ADD_DELIVERY_SCRIPT } from '../src/queue/delivery-streams.js';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * Counts the commands Redis receives, as MONITOR shows them, into named buckets (one per
 * system and phase). A script call (EVALSHA/EVAL) counts once, named after the BullMQ script
 * it runs; the commands a script runs inside Redis (MONITOR's `lua` source) are counted apart.
 * The systems run one after another, so the open bucket is the system that sent them; keys
 * that do not start with the expected prefix are counted as `foreign` to show they are not.
 */

export interface RedisCounts {
  /** Commands sent by clients, by name (`EVALSHA moveToActive`). */
  sent: Record<string, number>;
  /** Commands run inside scripts, by name. */
  inScripts: Record<string, number>;
  /** Sent commands whose key has another system's prefix (should stay 0). */
  foreign: number;
}

const empty = (): RedisCounts => ({ sent: {}, inScripts: {}, foreign: 0 });

/** sha1 of every BullMQ script -> its name, so EVALSHA calls can be named. */
async function bullmqScripts(): Promise<Map<string, string>> {
  const require = createRequire(import.meta.url);
  // The package's `exports` hide its files; its main entry tells where they are.
  const main = require.resolve('bullmq');
  const dir = join(dirname(main), 'scripts');
  const names = new Map<string, string>();
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.js') && f !== 'index.js');
  } catch {
    return names;
  }
  for (const file of files) {
    try {
      const mod = require(join(dir, file)) as Record<string, { name?: string; content?: string }>;
      for (const value of Object.values(mod)) {
        if (value?.name && value.content)
          names.set(createHash('sha1').update(value.content).digest('hex'), value.name);
      }
    } catch {
      // a file that does not load on its own: its calls stay named by their sha
    }
  }
  // genbot's own script: a delivery added with its one-day marker.
  names.set(createHash('sha1').update(ADD_DELIVERY_SCRIPT).digest('hex'), 'genbot addDelivery');
  return names;
}

export class RedisMonitor {
  readonly #monitor: Awaited<ReturnType<Redis['monitor']>>;
  readonly #scripts: Map<string, string>;
  #bucket: RedisCounts | undefined;
  #prefix = '';

  private constructor(
    monitor: Awaited<ReturnType<Redis['monitor']>>,
    scripts: Map<string, string>,
  ) {
    this.#monitor = monitor;
    this.#scripts = scripts;
    monitor.on('monitor', (_time: string, args: string[], source: string) =>
      this.#on(args, source),
    );
  }

  static async start(url: string): Promise<RedisMonitor> {
    const scripts = await bullmqScripts();
    const client = new Redis(url, { lazyConnect: true, connectionName: 'bench-monitor' });
    const monitor = await client.monitor();
    client.disconnect();
    return new RedisMonitor(monitor, scripts);
  }

  /** How many BullMQ scripts could be named (0: EVALSHA calls show their sha). */
  get scriptsKnown(): number {
    return this.#scripts.size;
  }

  #on(args: string[], source: string): void {
    const bucket = this.#bucket;
    if (!bucket) return;
    const name = (args[0] ?? '').toUpperCase();
    if (source === 'lua') {
      bucket.inScripts[name] = (bucket.inScripts[name] ?? 0) + 1;
      return;
    }
    let label = name;
    let key = args[1];
    if (name === 'EVALSHA' || name === 'EVAL') {
      const sha =
        name === 'EVAL'
          ? createHash('sha1')
              .update(args[1] ?? '')
              .digest('hex')
          : (args[1] ?? '');
      label = `${name} ${this.#scripts.get(sha) ?? sha.slice(0, 12)}`;
      key = Number(args[2]) > 0 ? args[3] : undefined;
    } else if (name === 'BZPOPMIN' || name === 'BRPOPLPUSH' || name === 'BLMOVE') {
      key = args[1];
    } else if (name === 'XREAD' || name === 'XREADGROUP') {
      const at = args.findIndex((a) => a.toUpperCase() === 'STREAMS');
      key = at >= 0 ? args[at + 1] : undefined;
    } else if (
      ['CLIENT', 'INFO', 'PING', 'SELECT', 'HELLO', 'MULTI', 'EXEC', 'QUIT', 'SCRIPT'].includes(
        name,
      )
    ) {
      key = undefined;
    }
    if (key !== undefined && this.#prefix !== '' && !key.startsWith(this.#prefix))
      bucket.foreign += 1;
    bucket.sent[label] = (bucket.sent[label] ?? 0) + 1;
  }

  /** Starts counting into a new bucket; keys are expected to start with `prefix`. */
  begin(prefix: string): void {
    this.#bucket = empty();
    this.#prefix = prefix;
  }

  /** Stops counting and returns what the bucket saw. MONITOR lags a little: wait first. */
  async end(): Promise<RedisCounts> {
    await new Promise((r) => setTimeout(r, 200));
    const bucket = this.#bucket ?? empty();
    this.#bucket = undefined;
    return bucket;
  }

  close(): void {
    this.#monitor.disconnect();
  }
}

export function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
