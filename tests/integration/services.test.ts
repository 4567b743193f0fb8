import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../../scripts/services/lock.js';
import { findServersOnDir, isAlive, startServer, which } from '../../scripts/services/process.js';
import {
  lockFile,
  provisionServices,
  stopPersistentServices,
} from '../../scripts/services/provision.js';
import { startRedis } from '../../scripts/services/redis.js';

/**
 * Local service provisioning as `npm run dev`, `npm run cli` and `npm run services` use it, in
 * persistent mode against temp state dirs (GENBOT_STATE_DIR), with real redis-server and
 * MongoDB-protocol server processes. Servers are counted by what runs on each data directory.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const stateDirs: string[] = [];

function newStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genbot-state-'));
  stateDirs.push(dir);
  return dir;
}

function childEnv(stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GENBOT_STATE_DIR: stateDir };
  env.GENBOT_NO_INSTALL = '1';
  // Nothing configured but the built-in local provider, on services of its own.
  for (const name of [
    'REDIS_URL',
    'MONGODB_URI',
    'CATALOG_FILE',
    'DEFAULT_MODEL',
    'REPLICATE_API_TOKEN',
    'FAL_KEY',
    'OPENAI_API_KEY',
    'COMFYUI_URL',
    'A1111_URL',
    'HORDE_API_KEY',
    'KIE_API_KEY',
  ])
    delete env[name];
  return env;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one of our scripts with tsx under this Node, as `npm run` does. */
function runScript(script: string, args: string[], stateDir: string) {
  const child = spawn(process.execPath, [TSX, join(ROOT, script), ...args], {
    cwd: ROOT,
    env: childEnv(stateDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Ran>((resolveDone, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolveDone({ code, stdout, stderr }));
  });
  /** Resolves once stderr matches; fails if the script ends first. */
  const stderrMatches = (pattern: RegExp): Promise<void> =>
    new Promise((resolveMatch, reject) => {
      const check = (): void => {
        if (pattern.test(stderr)) resolveMatch();
      };
      child.stderr.on('data', check);
      check();
      void done.then(({ code }) => {
        if (!pattern.test(stderr))
          reject(new Error(`exited (${code}) without printing ${pattern}; stderr:\n${stderr}`));
      });
    });
  return { done, stderrMatches };
}

function servers(stateDir: string) {
  return {
    redis: findServersOnDir('redis', join(stateDir, 'redis')),
    mongo: findServersOnDir('mongo', join(stateDir, 'mongo')),
  };
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern, 'g'))?.length ?? 0;
}

afterAll(async () => {
  for (const dir of stateDirs) {
    await stopPersistentServices(() => undefined, { stateDir: dir });
    rmSync(dir, { recursive: true, force: true });
  }
});

describe.skipIf(process.platform !== 'linux')('persistent services', () => {
  it('two processes starting at once: one starts Redis and Mongo, the other waits and reuses them', async () => {
    const stateDir = newStateDir();
    // Hold the lock so both are provably at it together, then let them go.
    const release = await acquireLock(lockFile(stateDir), { log: () => undefined });
    const first = runScript('scripts/services-cmd.ts', ['start'], stateDir);
    const second = runScript('scripts/services-cmd.ts', ['start'], stateDir);
    const waiting = new RegExp(`waiting for pid ${process.pid}\\b`);
    await Promise.all([first.stderrMatches(waiting), second.stderrMatches(waiting)]);
    release();
    const [a, b] = await Promise.all([first.done, second.done]);

    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.stdout).toMatch(/^REDIS_URL=redis:\/\/127\.0\.0\.1:\d+\nMONGODB_URI=mongodb:\/\//);
    expect(b.stdout).toBe(a.stdout);
    const stderr = a.stderr + b.stderr;
    expect(count(stderr, /redis: started/)).toBe(1);
    expect(count(stderr, /mongo: started/)).toBe(1);
    const running = servers(stateDir);
    expect(running.redis).toHaveLength(1);
    expect(running.mongo).toHaveLength(1);

    await stopPersistentServices(() => undefined, { stateDir });
    expect(servers(stateDir)).toEqual({ redis: [], mongo: [] });
  });

  it('two provisionings in one process get the same servers', async () => {
    const stateDir = newStateDir();
    const lines: string[] = [];
    const provision = () =>
      provisionServices({
        env: { GENBOT_NO_INSTALL: '1' },
        mode: 'persistent',
        stateDir,
        log: (line) => lines.push(line),
      });
    const [a, b] = await Promise.all([provision(), provision()]);
    expect(b.redisUrl).toBe(a.redisUrl);
    expect(b.mongodbUri).toBe(a.mongodbUri);
    expect(lines.filter((l) => l.startsWith('redis: started'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('mongo: started'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('reusing'))).toHaveLength(2);
    const running = servers(stateDir);
    expect(running.redis).toHaveLength(1);
    expect(running.mongo).toHaveLength(1);
  });

  it('takes over a lock whose owner has died', async () => {
    const stateDir = newStateDir();
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(isAlive(gone)).toBe(false);
    writeFileSync(lockFile(stateDir), `${JSON.stringify({ pid: gone })}\n`);
    const lines: string[] = [];
    const s = await provisionServices({
      env: { GENBOT_NO_INSTALL: '1' },
      mode: 'persistent',
      stateDir,
      log: (line) => lines.push(line),
      lockTimeoutMs: 60_000,
    });
    expect(s.redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(lines.join('\n')).toContain(`removed a stale lock left by pid ${gone}`);
    expect(lines.join('\n')).not.toContain('waiting for pid');
    expect(existsSync(lockFile(stateDir))).toBe(false);
  });

  it('services:stop stops what a run left even without services.json', async () => {
    const stateDir = newStateDir();
    await provisionServices({
      env: { GENBOT_NO_INSTALL: '1' },
      mode: 'persistent',
      stateDir,
      log: () => undefined,
    });
    const before = servers(stateDir);
    expect(before.redis).toHaveLength(1);
    expect(before.mongo).toHaveLength(1);
    rmSync(join(stateDir, 'services.json'));

    const stop = await runScript('scripts/services-cmd.ts', ['stop'], stateDir).done;
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toContain(`redis: stopped pid ${before.redis[0]}, a leftover server`);
    expect(stop.stderr).toContain(`mongo: stopped pid ${before.mongo[0]}, a leftover server`);
    expect(servers(stateDir)).toEqual({ redis: [], mongo: [] });
    expect(isAlive(before.redis[0]!)).toBe(false);
    expect(isAlive(before.mongo[0]!)).toBe(false);
  });

  it.skipIf(which('mongod') !== undefined)(
    'a MongoDB-protocol server that fails to start says why, and nothing this run started stays up',
    async () => {
      const stateDir = newStateDir();
      mkdirSync(join(stateDir, 'mongo'));
      // FerretDB opens every database file at start-up; this one is not SQLite.
      writeFileSync(join(stateDir, 'mongo', 'genbot.sqlite'), 'not a database, just text\n');
      const lines: string[] = [];
      const failed = provisionServices({
        env: { GENBOT_NO_INSTALL: '1' },
        mode: 'persistent',
        stateDir,
        log: (line) => lines.push(line),
      });
      await expect(failed).rejects.toThrow(
        /embedded FerretDB exited with code 1 before it was ready/,
      );
      await expect(failed).rejects.toThrow(/file is not a database/);
      // The Redis it had started for this run is stopped again, and nothing is recorded.
      expect(lines.filter((l) => l.startsWith('redis: started'))).toHaveLength(1);
      expect(servers(stateDir)).toEqual({ redis: [], mongo: [] });
      expect(JSON.parse(readFileSync(join(stateDir, 'services.json'), 'utf8'))).toEqual({});
    },
  );

  it('a redis-server that fails to start reports its own output and is not left running', async () => {
    const dir = join(newStateDir(), 'redis');
    mkdirSync(join(dir, 'appendonlydir'), { recursive: true });
    writeFileSync(join(dir, 'appendonlydir', 'appendonly.aof.manifest'), 'garbage\n');
    const pids: number[] = [];
    await expect(
      startRedis({
        dir,
        log: () => undefined,
        persistent: true,
        mayInstall: false,
        onSpawn: (pid) => pids.push(pid),
      }),
    ).rejects.toThrow(
      /redis-server exited with code 1 before it was ready[\s\S]*Invalid AOF manifest/,
    );
    expect(pids).toHaveLength(1);
    expect(isAlive(pids[0]!)).toBe(false);
    expect(findServersOnDir('redis', dir)).toEqual([]);
  });

  it('a server that never opens its port is stopped, with the lines it printed', async () => {
    const pids: number[] = [];
    await expect(
      startServer({
        command: 'sh',
        args: ['-c', 'echo "still loading the data set"; exec sleep 600'],
        what: 'slow-server',
        port: 9, // discard: nothing listens there
        detached: false,
        timeoutMs: 500,
        onSpawn: (pid) => pids.push(pid),
      }),
    ).rejects.toThrow(/slow-server did not accept connections[\s\S]*still loading the data set/);
    expect(pids).toHaveLength(1);
    expect(isAlive(pids[0]!)).toBe(false);
  });

  it('a server that exits at once reports what it printed on stderr', async () => {
    await expect(
      startServer({
        command: 'sh',
        args: ['-c', 'echo "fatal: bad option --frobnicate" >&2; exit 3'],
        what: 'bad-server',
        port: 9,
        detached: false,
      }),
    ).rejects.toThrow(
      /bad-server exited with code 3 before it was ready[\s\S]*bad option --frobnicate/,
    );
  });
});

describe.skipIf(process.platform !== 'linux')('npm run cli and services', () => {
  const cli = (stateDir: string, ...args: string[]) =>
    runScript('scripts/cli.ts', args, stateDir).done;

  it.each([
    { args: ['--help'], code: 0, out: 'Usage: genbot' },
    { args: ['-h'], code: 0, out: 'Usage: genbot' },
    { args: ['generate', '--help'], code: 0, out: 'Usage: genbot generate' },
    { args: [], code: 2, out: '' },
    { args: ['--version'], code: 2, out: '' },
    { args: ['--as', 'alice', 'help'], code: 0, out: '/generate <prompt>' },
    { args: ['models'], code: 0, out: 'local-sketch (default)' },
  ])(
    '`cli $args` starts no services and prints no [services] line',
    async ({ args, code, out }) => {
      const stateDir = newStateDir();
      const r = await cli(stateDir, ...args);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stdout + r.stderr).toContain(out);
      expect(r.stderr).not.toContain('[services]');
      expect(existsSync(join(stateDir, 'services.json'))).toBe(false);
      expect(servers(stateDir)).toEqual({ redis: [], mongo: [] });
    },
  );

  it('`cli --json models` lists the same models as the app would', async () => {
    const r = await cli(newStateDir(), '--json', 'models');
    expect(r.code, r.stderr).toBe(0);
    const ids = (JSON.parse(r.stdout) as { models: { id: string }[] }).models.map((m) => m.id);
    // Only the local provider is configured here, so only its models show, in catalog order.
    const builtIn = JSON.parse(
      readFileSync(join(ROOT, 'src', 'catalog', 'models.json'), 'utf8'),
    ) as { id: string; provider: string }[];
    expect(ids).toEqual(builtIn.filter((m) => m.provider === 'local').map((m) => m.id));
    expect(ids).toContain('local-sketch');
  });

  it('a command that needs services says only what it starts, and nothing when it reuses them', async () => {
    const stateDir = newStateDir();
    const first = await cli(stateDir, '--as', 'admin', 'balance');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('You have 0 points available');
    const lines = first.stderr.split('\n').filter((l) => l.startsWith('[services]'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[services\] redis: started /);
    expect(lines[1]).toMatch(/^\[services\] mongo: started /);

    const again = await cli(stateDir, '--as', 'admin', 'balance');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('You have 0 points available');
    expect(again.stderr).toBe('');
    const running = servers(stateDir);
    expect(running.redis).toHaveLength(1);
    expect(running.mongo).toHaveLength(1);
  });
});
