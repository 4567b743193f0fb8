import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  spawnServer,
  stopPid,
  waitForPort,
  which,
  type Log,
  type RunningService,
} from './process.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRETDB_DIR = join(ROOT, 'tools', 'ferretdb');
export const FERRETDB_BINARY = join(FERRETDB_DIR, 'bin', 'ferretdb');

/** Builds the embedded FerretDB helper with Go if it is not built yet. */
export function ensureFerretDbBinary(log: Log): string {
  if (existsSync(FERRETDB_BINARY)) return FERRETDB_BINARY;
  const go = which('go');
  if (!go) {
    throw new Error(
      'mongo: no mongod on the PATH and Go is not installed to build the embedded FerretDB helper (tools/ferretdb). Install Go 1.24+ or MongoDB, or set MONGODB_URI.',
    );
  }
  log(
    'mongo: building the embedded FerretDB helper (tools/ferretdb) with Go; the first build takes a few minutes',
  );
  const build = spawnSync(go, ['build', '-o', FERRETDB_BINARY, '.'], {
    cwd: FERRETDB_DIR,
    stdio: 'inherit',
  });
  if (build.status !== 0 || !existsSync(FERRETDB_BINARY)) {
    throw new Error('mongo: building tools/ferretdb failed (see the Go output above)');
  }
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
}): Promise<RunningService> {
  mkdirSync(options.dir, { recursive: true });
  const port = await freePort();
  const logFile = options.persistent ? openSync(join(options.dir, 'mongo.log'), 'a') : undefined;
  const spawnOpts = { detached: options.persistent, ...(logFile === undefined ? {} : { logFile }) };
  const mongod = which('mongod');
  let binary: string;
  let args: string[];
  let kind: string;
  if (mongod) {
    binary = mongod;
    args = ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', options.dir, '--quiet'];
    kind = 'mongod';
  } else {
    binary = ensureFerretDbBinary(options.log);
    args = ['-listen', `127.0.0.1:${port}`, '-dir', options.dir];
    kind = 'embedded FerretDB (no mongod on the PATH)';
  }
  const child = spawnServer(binary, args, spawnOpts);
  const pid = child.pid ?? 0;
  await waitForPort(child, '127.0.0.1', port, kind);
  if (options.persistent) child.unref();
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    pid,
    description: `started ${kind} on 127.0.0.1:${port} (pid ${pid})`,
    stop: () => stopPid(pid),
  };
}
