import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  spawnServer,
  stopPid,
  waitForPort,
  which,
  type Log,
  type RunningService,
} from './process.js';

/**
 * Finds redis-server, installing it through apt when it is missing and we may (root, apt
 * present, GENBOT_NO_INSTALL unset). Otherwise says how to get it.
 */
export function findRedisServer(log: Log, mayInstall: boolean): string {
  const found = which('redis-server');
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (mayInstall && isRoot && which('apt-get')) {
    log(
      'redis: redis-server is not installed; installing it with apt-get (Debian package redis-server)',
    );
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const install = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    const installed = which('redis-server');
    if (update.status === 0 && install.status === 0 && installed) return installed;
  }
  throw new Error(
    'redis: redis-server is not installed. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`, macOS: `brew install redis`) or set REDIS_URL to a running Redis.',
  );
}

export async function startRedis(options: {
  dir: string;
  log: Log;
  persistent: boolean;
  mayInstall: boolean;
}): Promise<RunningService> {
  const binary = findRedisServer(options.log, options.mayInstall);
  mkdirSync(options.dir, { recursive: true });
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    options.dir,
    '--save',
    '',
    '--appendonly',
    options.persistent ? 'yes' : 'no',
    '--protected-mode',
    'yes',
  ];
  const logFile = options.persistent ? openSync(join(options.dir, 'redis.log'), 'a') : undefined;
  const child = spawnServer(binary, args, {
    detached: options.persistent,
    ...(logFile === undefined ? {} : { logFile }),
  });
  const pid = child.pid ?? 0;
  await waitForPort(child, '127.0.0.1', port, 'redis-server');
  if (options.persistent) child.unref();
  return {
    url: `redis://127.0.0.1:${port}`,
    pid,
    description: `started ${binary} on 127.0.0.1:${port} (pid ${pid})`,
    stop: () => stopPid(pid),
  };
}
