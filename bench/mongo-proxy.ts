import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { deserialize, type Document } from 'bson';

/**
 * A loopback TCP proxy between one system under test and the MongoDB-protocol server that
 * reads the wire protocol on the way through and counts what each system sends: command name,
 * collection, whether the filter is one the embedded server answers from an index (exactly
 * `{_id: <string or ObjectId>}`), and how long the server took to answer. Each system gets
 * its own listening port, so its counts are its own. It runs in a worker thread, so that its
 * parsing never waits behind the busy event loop of the systems it measures.
 */

/** Driver housekeeping: sent on a timer or per connection, not per generation. */
export const HOUSEKEEPING = new Set([
  'hello',
  'ismaster',
  'isMaster',
  'ping',
  'buildInfo',
  'buildinfo',
  'endSessions',
  'saslStart',
  'saslContinue',
  'getParameter',
]);
/** Commands that change documents; GridFS's files and chunks inserts are among them. */
export const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify']);

export type FilterClass = '_id' | 'scan' | '-';

export interface CommandStat {
  command: string;
  collection: string;
  /** `_id`: an exact `{_id}` filter (indexed on the embedded server); `scan`: anything else. */
  filter: FilterClass;
  count: number;
  /** Documents inserted, updated or deleted statements (for writes). */
  statements: number;
  /** Sum of the server's answer times, ms (request sent to reply received, at the proxy). */
  serverMs: number;
  /** How the filters looked (values replaced by their types), with counts. */
  shapes: Record<string, number>;
}

export type ProxyStats = Record<string, CommandStat>;

const OP_MSG = 2013;
const OP_QUERY = 2004;
const OP_COMPRESSED = 2012;

interface WorkerInput {
  kind: 'mongo-proxy';
  upstreamHost: string;
  upstreamPort: number;
  systems: string[];
}

type Request = { type: 'take'; id: number; system: string };
type Reply =
  | { type: 'ports'; ports: Record<string, number> }
  | { type: 'stats'; id: number; stats: ProxyStats };

/** The type of a filter value, or its operators: `{status: {$in: [..]}}` -> `{status:{$in}}`. */
function shapeOf(filter: unknown): string {
  if (filter === null || typeof filter !== 'object') return typeof filter;
  const doc = filter as Document;
  if ((doc as { _bsontype?: string })._bsontype) return String(doc._bsontype);
  if (Array.isArray(doc)) return '[]';
  if (doc instanceof Date) return 'Date';
  const parts = Object.keys(doc).map((key) => {
    const value: unknown = doc[key];
    if (
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      !(value instanceof Date) &&
      !(value as { _bsontype?: string })._bsontype
    ) {
      const ops = Object.keys(value);
      if (ops.length > 0 && ops.every((o) => o.startsWith('$'))) return `${key}:{${ops.join(',')}}`;
      return `${key}:{..}`;
    }
    return key;
  });
  return `{${parts.join(', ')}}`;
}

function classify(filter: unknown): FilterClass {
  if (filter === null || typeof filter !== 'object') return 'scan';
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== '_id') return 'scan';
  const id: unknown = (filter as Document)._id;
  if (typeof id === 'string') return '_id';
  if (
    id !== null &&
    typeof id === 'object' &&
    (id as { _bsontype?: string })._bsontype === 'ObjectId'
  )
    return '_id';
  return 'scan';
}

interface Parsed {
  command: string;
  collection: string;
  filter: FilterClass;
  statements: number;
  shapes: string[];
}

/** What one command is, from its body (kind 0) and document sequences (kind 1). */
function describe(body: Document, sequences: Record<string, Document[]>): Parsed {
  const command = Object.keys(body)[0] ?? '?';
  const first: unknown = body[command];
  let collection = typeof first === 'string' ? first : '';
  if (command === 'getMore' && typeof body.collection === 'string') collection = body.collection;
  const list = (name: string): Document[] =>
    sequences[name] ?? (body[name] as Document[] | undefined) ?? [];
  const filters: unknown[] = [];
  let statements = 0;
  let sort = '';
  switch (command) {
    case 'find':
      filters.push(body.filter ?? {});
      if (body.sort && Object.keys(body.sort as Document).length > 0)
        sort = ` sort ${JSON.stringify(body.sort)}`;
      break;
    case 'count':
    case 'distinct':
      filters.push(body.query ?? {});
      break;
    case 'findAndModify':
      filters.push(body.query ?? {});
      statements = 1;
      break;
    case 'update':
      for (const u of list('updates')) filters.push(u.q);
      statements = list('updates').length;
      break;
    case 'delete':
      for (const d of list('deletes')) filters.push(d.q);
      statements = list('deletes').length;
      break;
    case 'insert':
      statements = list('documents').length;
      break;
    case 'aggregate': {
      const pipeline = (body.pipeline as Document[] | undefined) ?? [];
      const match = pipeline[0]?.$match as unknown;
      filters.push(match ?? {});
      break;
    }
    default:
      break;
  }
  const filter: FilterClass =
    filters.length === 0 ? '-' : filters.every((f) => classify(f) === '_id') ? '_id' : 'scan';
  return {
    command,
    collection,
    filter,
    statements,
    shapes: filters.map((f) => shapeOf(f) + sort),
  };
}

/** Splits a TCP byte stream into wire-protocol messages. */
class Framer {
  #buffer: Buffer = Buffer.alloc(0);
  constructor(private readonly onMessage: (message: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readInt32LE(0);
      if (length < 16 || this.#buffer.length < length) break;
      this.onMessage(this.#buffer.subarray(0, length));
      this.#buffer = this.#buffer.subarray(length);
    }
  }
}

function parseRequest(message: Buffer): Parsed | undefined {
  const opCode = message.readInt32LE(12);
  if (opCode === OP_QUERY) {
    // Legacy handshake (`isMaster` before the connection knows the server speaks OP_MSG).
    const nameEnd = message.indexOf(0, 20);
    const docStart = nameEnd + 1 + 8;
    const size = message.readInt32LE(docStart);
    const body = deserialize(message.subarray(docStart, docStart + size));
    return describe(body, {});
  }
  if (opCode === OP_COMPRESSED)
    return { command: 'compressed', collection: '', filter: '-', statements: 0, shapes: [] };
  if (opCode !== OP_MSG) return undefined;
  const flags = message.readUInt32LE(16);
  const end = message.length - (flags & 1 ? 4 : 0);
  let offset = 20;
  let body: Document | undefined;
  const sequences: Record<string, Document[]> = {};
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    const size = message.readInt32LE(offset);
    if (kind === 0) {
      body = deserialize(message.subarray(offset, offset + size));
      offset += size;
    } else {
      const sectionEnd = offset + size;
      const nameEnd = message.indexOf(0, offset + 4);
      const name = message.toString('utf8', offset + 4, nameEnd);
      const docs: Document[] = [];
      let at = nameEnd + 1;
      while (at < sectionEnd) {
        const docSize = message.readInt32LE(at);
        docs.push(deserialize(message.subarray(at, at + docSize)));
        at += docSize;
      }
      sequences[name] = docs;
      offset = sectionEnd;
    }
  }
  return body ? describe(body, sequences) : undefined;
}

function runWorker(input: WorkerInput): void {
  const port = parentPort!;
  const stats = new Map<string, ProxyStats>(input.systems.map((s) => [s, {}]));
  const record = (system: string, parsed: Parsed, ms: number): void => {
    const table = stats.get(system)!;
    const key = `${parsed.command} ${parsed.collection} ${parsed.filter}`;
    const stat = (table[key] ??= {
      command: parsed.command,
      collection: parsed.collection,
      filter: parsed.filter,
      count: 0,
      statements: 0,
      serverMs: 0,
      shapes: {},
    });
    stat.count += 1;
    stat.statements += parsed.statements;
    stat.serverMs += ms;
    for (const shape of parsed.shapes) stat.shapes[shape] = (stat.shapes[shape] ?? 0) + 1;
  };

  const servers: Server[] = [];
  const ports: Record<string, number> = {};
  let pending = input.systems.length;
  for (const system of input.systems) {
    const server = createServer((client: Socket) => {
      const upstream = createConnection(input.upstreamPort, input.upstreamHost);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const inFlight = new Map<number, { parsed: Parsed; at: number }>();
      const fromClient = new Framer((message) => {
        let parsed: Parsed | undefined;
        try {
          parsed = parseRequest(message);
        } catch {
          parsed = { command: 'unparsed', collection: '', filter: '-', statements: 0, shapes: [] };
        }
        if (!parsed) return;
        const requestId = message.readInt32LE(4);
        const flags = message.readInt32LE(12) === OP_MSG ? message.readUInt32LE(16) : 0;
        // moreToCome (bit 1): the server sends no reply; count it now.
        if (flags & 2) record(system, parsed, 0);
        else inFlight.set(requestId, { parsed, at: performance.now() });
      });
      const fromServer = new Framer((message) => {
        const responseTo = message.readInt32LE(8);
        const request = inFlight.get(responseTo);
        if (!request) return;
        inFlight.delete(responseTo);
        record(system, request.parsed, performance.now() - request.at);
      });
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        fromClient.push(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        client.write(chunk);
        fromServer.push(chunk);
      });
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
    });
    servers.push(server);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      ports[system] = typeof address === 'object' && address ? address.port : 0;
      pending -= 1;
      if (pending === 0) port.postMessage({ type: 'ports', ports } satisfies Reply);
    });
  }
  port.on('message', (request: Request) => {
    if (request.type === 'take') {
      const taken = stats.get(request.system) ?? {};
      stats.set(request.system, {});
      port.postMessage({ type: 'stats', id: request.id, stats: taken } satisfies Reply);
    }
  });
}

if (!isMainThread && (workerData as WorkerInput | undefined)?.kind === 'mongo-proxy') {
  runWorker(workerData as WorkerInput);
}

export interface MongoProxy {
  /** The URI a system connects to instead of the server's, with its own database name. */
  uri(system: string, database: string): string;
  /** What `system` sent since the last take (and starts counting afresh). */
  take(system: string): Promise<ProxyStats>;
  close(): Promise<void>;
}

/** Starts the proxy thread with one loopback port per system, all forwarding to `upstream`. */
export async function startMongoProxy(upstream: string, systems: string[]): Promise<MongoProxy> {
  const url = new URL(upstream);
  // The thread loads this same file; run under tsx (a .ts file), it registers tsx first.
  const self = import.meta.url;
  const boot = self.endsWith('.ts')
    ? `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(self)}); });`
    : `import(${JSON.stringify(self)});`;
  const worker = new Worker(boot, {
    eval: true,
    workerData: {
      kind: 'mongo-proxy',
      upstreamHost: url.hostname,
      upstreamPort: Number(url.port || 27017),
      systems,
    } satisfies WorkerInput,
  });
  const waiting = new Map<number, (stats: ProxyStats) => void>();
  let nextId = 0;
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (reply: Reply) => {
      if (reply.type === 'ports') resolve(reply.ports);
      else waiting.get(reply.id)?.(reply.stats);
    });
  });
  return {
    uri: (system, database) => `mongodb://127.0.0.1:${ports[system]}/${database}`,
    take: (system) =>
      new Promise((resolve) => {
        const id = (nextId += 1);
        waiting.set(id, (stats) => {
          waiting.delete(id);
          resolve(stats);
        });
        worker.postMessage({ type: 'take', id, system } satisfies Request);
      }),
    close: async () => {
      await worker.terminate();
    },
  };
}

/** Adds `from`'s counts into `into`. */
export function mergeStats(into: ProxyStats, from: ProxyStats): ProxyStats {
  for (const [key, stat] of Object.entries(from)) {
    const sum = (into[key] ??= { ...stat, count: 0, statements: 0, serverMs: 0, shapes: {} });
    sum.count += stat.count;
    sum.statements += stat.statements;
    sum.serverMs += stat.serverMs;
    for (const [shape, n] of Object.entries(stat.shapes))
      sum.shapes[shape] = (sum.shapes[shape] ?? 0) + n;
  }
  return into;
}

/**
 * Everything the proxy counts for `systems` until none of them has sent anything but driver
 * housekeeping for a moment (writes still in flight when a phase ends belong to it).
 */
export async function takeWhenQuiet(
  proxy: MongoProxy,
  systems: readonly string[],
): Promise<Record<string, ProxyStats>> {
  const merged: Record<string, ProxyStats> = Object.fromEntries(systems.map((s) => [s, {}]));
  for (let round = 0; round < 40; round += 1) {
    await new Promise((r) => setTimeout(r, 250));
    let busy = 0;
    for (const system of systems) {
      const taken = await proxy.take(system);
      mergeStats(merged[system]!, taken);
      for (const stat of Object.values(taken))
        if (!HOUSEKEEPING.has(stat.command)) busy += stat.count;
    }
    if (busy === 0 && round > 0) break;
  }
  return merged;
}
