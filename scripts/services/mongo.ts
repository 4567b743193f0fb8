import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startServer, stopPid, which, type Log, type RunningService } from './process.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRETDB_DIR = join(ROOT, 'tools', 'ferretdb');
export const FERRETDB_BINARY = join(FERRETDB_DIR, 'bin', 'ferretdb');
/** Picks a Go that tools/ferretdb/go.mod accepts (fetching one if needed) and builds it. */
export const BUILD_FERRETDB_SCRIPT = join(ROOT, 'scripts', 'build-ferretdb.sh');

/** Whether a source file of the helper changed after the binary was built (an upgrade). */
function helperSourceIsNewer(): boolean {
  const builtAt = statSync(FERRETDB_BINARY).mtimeMs;
  return readdirSync(FERRETDB_DIR)
    .filter((name) => name.endsWith('.go') || name === 'go.mod' || name === 'go.sum')
    .some((name) => statSync(join(FERRETDB_DIR, name)).mtimeMs > builtAt);
}

/**
 * Builds the embedded FerretDB helper if it is not built yet, or rebuilds it after its source
 * changed, with scripts/build-ferretdb.sh
 * (the same build `.ci/run` does). Its Go output is shown only when the build fails.
 */
export async function ensureFerretDbBinary(log: Log, mayInstall = true): Promise<string> {
  const built = existsSync(FERRETDB_BINARY);
  if (built && !helperSourceIsNewer()) return FERRETDB_BINARY;
  log(
    built
      ? 'mongo: tools/ferretdb changed since its helper was built; rebuilding it'
      : 'mongo: no mongod on the PATH; building the embedded FerretDB helper (tools/ferretdb) with Go, about a minute the first time',
  );
  const env = { ...process.env, ...(mayInstall ? {} : { GENBOT_NO_INSTALL: '1' }) };
  const child = spawn('bash', [BUILD_FERRETDB_SCRIPT], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-64_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', (status) => done(status));
  });
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  if (code !== 0 || !existsSync(FERRETDB_BINARY)) {
    const tail = lines.filter((line) => !line.startsWith('go: downloading')).slice(-20);
    throw new Error(
      `mongo: building tools/ferretdb failed (no mongod on the PATH either; or set MONGODB_URI). Its last output:\n${tail.join('\n')}`,
    );
  }
  for (const line of lines) if (line.startsWith('[go] ')) log(`mongo: ${line.slice(5)}`);
  return FERRETDB_BINARY;
}

/**
 * Starts a MongoDB-protocol server on loopback: a real mongod when one is on the PATH,
 * else the embedded FerretDB (SQLite backend) helper.
 */
export async function startMongo(options: {
  dir: string;
  log: Log;
  persistent: boolean;
  mayInstall?: boolean;
  /** A port to use instead of a free one. */
  port?: number;
  /** Called with the PID and URL as soon as it runs, before it is ready. */
  onSpawn?(pid: number, url: string): void;
}): Promise<RunningService> {
  mkdirSync(options.dir, { recursive: true });
  const mongod = which('mongod');
  let binary: string;
  let kind: string;
  if (mongod) {
    binary = mongod;
    kind = 'mongod';
  } else {
    binary = await ensureFerretDbBinary(options.log, options.mayInstall ?? true);
    kind = 'embedded FerretDB (no mongod on the PATH)';
  }
  const port = options.port ?? (await freePort());
  const url = `mongodb://127.0.0.1:${port}/`;
  const args = mongod
    ? ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', options.dir, '--quiet']
    : ['-listen', `127.0.0.1:${port}`, '-dir', options.dir];
  const { pid } = await startServer({
    command: binary,
    args,
    what: mongod ? 'mongod' : 'embedded FerretDB',
    port,
    detached: options.persistent,
    ...(options.persistent ? { logPath: join(options.dir, 'mongo.log') } : {}),
    ...(options.onSpawn ? { onSpawn: (p: number) => options.onSpawn?.(p, url) } : {}),
  });
  return {
    url,
    pid,
    description: `started ${kind} on 127.0.0.1:${port} (pid ${pid})`,
    stop: () => stopPid(pid),
  };
}
