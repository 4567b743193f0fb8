import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startServer, stopPid, which, type Log, type RunningService } from './process.js';

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
  /** A port to use instead of a free one. */
  port?: number;
  /** Called with the PID and URL as soon as it runs, before it is ready. */
  onSpawn?(pid: number, url: string): void;
}): Promise<RunningService> {
  const binary = findRedisServer(options.log, options.mayInstall);
  mkdirSync(options.dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
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
    // BullMQ needs every key kept: a full Redis must refuse writes, not evict jobs.
    '--maxmemory-policy',
    'noeviction',
    '--protected-mode',
    'yes',
  ];
  const { pid } = await startServer({
    command: binary,
    args,
    what: 'redis-server',
    port,
    detached: options.persistent,
    ...(options.persistent ? { logPath: join(options.dir, 'redis.log') } : {}),
    ...(options.onSpawn ? { onSpawn: (p: number) => options.onSpawn?.(p, url) } : {}),
  });
  return {
    url,
    pid,
    description: `started ${binary} on 127.0.0.1:${port} (pid ${pid})`,
    stop: () => stopPid(pid),
  };
}
