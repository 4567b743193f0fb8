import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

/**
 * Counts the commands Redis receives, as MONITOR shows them, into named buckets (one per
 * system and phase). A script call (EVALSHA/EVAL) counts once, named after the script it
 * runs: BullMQ's by their names, the application's by the constant that holds them in src/
 * (or by their sha and the shape of their first key when no constant holds them whole), and
 * other commands by the shape of their key (`XACK deliveries:telegram`); the commands a
 * script runs inside Redis (MONITOR's `lua` source) are counted apart. Each
 * command is also counted by the client address that sent it (see deployed-sockets.ts to
 * tell processes apart), and each name is marked as BullMQ's, the application's own or a
 * connection's housekeeping. Keys that do not start with the expected prefix are counted as
 * `foreign` to show that no other system's commands were counted.
 */

/** Whose a command is: BullMQ's scripts and queue keys, the application's own, or neither. */
export type Owner = 'BullMQ' | 'own' | 'connection';

export interface RedisCounts {
  /** Commands sent by clients, by name (`EVALSHA moveToActive`). */
  sent: Record<string, number>;
  /** Commands run inside scripts, by name. */
  inScripts: Record<string, number>;
  /** Sent commands whose key has another system's prefix (should stay 0). */
  foreign: number;
  /** Sent commands by client address (`127.0.0.1:41234`), then by name. */
  bySource: Record<string, Record<string, number>>;
  /** Whose each name in `sent` is. */
  owners: Record<string, Owner>;
}

const empty = (): RedisCounts => ({
  sent: {},
  inScripts: {},
  foreign: 0,
  bySource: {},
  owners: {},
});

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

/** sha1 of every BullMQ script -> its name, so EVALSHA calls can be named. */
async function bullmqScripts(): Promise<Map<string, string>> {
  const require = createRequire(import.meta.url);
  // The package's `exports` hide its files; its main entry tells where they are.
  const dir = join(dirname(require.resolve('bullmq')), 'scripts');
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
        if (value?.name && value.content) names.set(sha1(value.content), value.name);
      }
    } catch {
      // a file that does not load on its own: its calls stay named by their sha
    }
  }
  return names;
}

/** A Lua script the application keeps in a constant: its name, and its text as a pattern. */
interface OwnScript {
  name: string;
  /** The whole text, when the constant has no `${...}` in it. */
  exact?: string;
  /** Matches the text with every `${...}` standing for anything. */
  pattern: RegExp;
}

async function* typescriptFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* typescriptFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

/** Every `const NAME = \`...redis.call...\`` under src/, named `file NAME`. */
async function ownScripts(): Promise<OwnScript[]> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const scripts: OwnScript[] = [];
  for await (const path of typescriptFiles(join(root, 'src'))) {
    const text = await readFile(path, 'utf8');
    for (const m of text.matchAll(/const\s+([A-Za-z0-9_]+)\s*=\s*`((?:[^`\\]|\\.)*)`/g)) {
      const [, constant, body] = m;
      if (!constant || body === undefined || !body.includes('redis.call')) continue;
      const parts = body.split(/\$\{[^}]*\}/);
      const escaped = parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      scripts.push({
        name: `${relative(join(root, 'src'), path).replace(/^.*\//, '')} ${constant}`,
        ...(parts.length === 1 && !body.includes('\\') ? { exact: body } : {}),
        pattern: new RegExp(`^${escaped.join('[\\s\\S]*')}$`),
      });
    }
  }
  return scripts;
}

/** MONITOR shows arguments escaped (`\n`, `\"`, `\xHH`); this is the text that was sent. */
function unescapeMonitor(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, c: string) => {
    if (c.length === 3) return String.fromCharCode(parseInt(c.slice(1), 16));
    return { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' }[c] ?? `\\${c}`;
  });
}

/** A key with its prefix dropped and its ids (anything with a digit, long words) as `*`. */
function keyShape(key: string, prefix: string): string {
  const rest = prefix !== '' && key.startsWith(`${prefix}:`) ? key.slice(prefix.length + 1) : key;
  return rest
    .split(':')
    .map((s) => (/^[a-z][a-z-]*$/.test(s) && (s.includes('-') || s.length <= 12) ? s : '*'))
    .join(':');
}

const PLATFORM_STREAM = /^deliveries:(telegram|discord|console)$/;
/** BullMQ queues' keys: `<prefix>:<queue>:<suffix>` for the queues the systems use. */
const BULL_KEY = /^(generate(-[^:]+)?|raw|deliveries):/;
const CONNECTION_COMMANDS = new Set([
  'CLIENT',
  'INFO',
  'PING',
  'SELECT',
  'HELLO',
  'QUIT',
  'SCRIPT',
  'MULTI',
  'EXEC',
  'AUTH',
]);

export class RedisMonitor {
  readonly #monitor: Awaited<ReturnType<Redis['monitor']>>;
  readonly #scripts: Map<string, string>;
  readonly #own: OwnScript[];
  #bucket: RedisCounts | undefined;
  #prefix = '';

  private constructor(
    monitor: Awaited<ReturnType<Redis['monitor']>>,
    scripts: Map<string, string>,
    own: OwnScript[],
  ) {
    this.#monitor = monitor;
    this.#scripts = scripts;
    this.#own = own;
    for (const s of own) if (s.exact !== undefined) scripts.set(sha1(s.exact), `genbot ${s.name}`);
    monitor.on('monitor', (_time: string, args: string[], source: string) =>
      this.#on(args, source),
    );
    // Its connection lost (the servers stopped under an interrupted run): said once, briefly.
    let reported = false;
    monitor.on('error', (error: Error) => {
      if (reported) return;
      reported = true;
      console.error(`redis monitor: ${error.message}`);
    });
  }

  static async start(url: string): Promise<RedisMonitor> {
    const [scripts, own] = await Promise.all([bullmqScripts(), ownScripts()]);
    const client = new Redis(url, { lazyConnect: true, connectionName: 'bench-monitor' });
    const monitor = await client.monitor();
    client.disconnect();
    return new RedisMonitor(monitor, scripts, own);
  }

  /** How many scripts could be named (0: EVALSHA calls show their sha). */
  get scriptsKnown(): number {
    return this.#scripts.size;
  }

  /** A script body seen in an EVAL: named by the application's constant it matches, if any. */
  #learn(sha: string, body: string): void {
    if (this.#scripts.has(sha)) return;
    const own = this.#own.find((s) => s.pattern.test(body));
    if (own) this.#scripts.set(sha, `genbot ${own.name}`);
  }

  #on(args: string[], source: string): void {
    const name = (args[0] ?? '').toUpperCase();
    if (name === 'EVAL' && source !== 'lua') {
      const body = unescapeMonitor(args[1] ?? '');
      this.#learn(sha1(body), body);
    }
    const bucket = this.#bucket;
    if (!bucket) return;
    if (source === 'lua') {
      bucket.inScripts[name] = (bucket.inScripts[name] ?? 0) + 1;
      return;
    }
    const { label, key, owner } = this.#describe(name, args);
    if (key !== undefined && this.#prefix !== '' && !key.startsWith(this.#prefix))
      bucket.foreign += 1;
    bucket.sent[label] = (bucket.sent[label] ?? 0) + 1;
    bucket.owners[label] = owner;
    const from = (bucket.bySource[source] ??= {});
    from[label] = (from[label] ?? 0) + 1;
  }

  #describe(name: string, args: string[]): { label: string; key?: string; owner: Owner } {
    if (name === 'EVALSHA' || name === 'EVAL') {
      const sha = name === 'EVAL' ? sha1(unescapeMonitor(args[1] ?? '')) : (args[1] ?? '');
      const key = Number(args[2]) > 0 ? args[3] : undefined;
      const known = this.#scripts.get(sha);
      if (known) {
        const owner: Owner = known.startsWith('genbot ') ? 'own' : 'BullMQ';
        return { label: `${name} ${known}`, ...(key === undefined ? {} : { key }), owner };
      }
      const shape = key === undefined ? '' : ` on ${keyShape(key, this.#prefix)}`;
      return {
        label: `${name} script ${sha.slice(0, 8)}${shape}`,
        ...(key === undefined ? {} : { key }),
        owner: 'own',
      };
    }
    if (CONNECTION_COMMANDS.has(name)) return { label: name, owner: 'connection' };
    let key = args[1];
    if (name === 'XREAD' || name === 'XREADGROUP') {
      const at = args.findIndex((a) => a.toUpperCase() === 'STREAMS');
      key = at >= 0 ? args[at + 1] : undefined;
    }
    if (key === undefined) return { label: name, owner: 'connection' };
    const rest = keyShape(key, this.#prefix);
    const bull = !PLATFORM_STREAM.test(rest) && BULL_KEY.test(rest);
    return { label: `${name} ${rest}`, key, owner: bull ? 'BullMQ' : 'own' };
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
