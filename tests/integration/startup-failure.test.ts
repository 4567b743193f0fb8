import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { testMongoUri, testRedisUrl, uniqueName } from '../support/env.js';
import {
  freePort,
  startOwnedMongo,
  startOwnedRedis,
  type OwnedServer,
} from '../support/servers.js';

/**
 * The real entry point (`src/main.ts worker`) as a child process, as an operator runs it,
 * with MongoDB or Redis unreachable at start-up: one fatal line naming the variable and the
 * host (never the credentials), exit code 1, no stack trace; and a server that comes up
 * while start-up is still retrying lets it go on.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

interface Child {
  lines: LogLine[];
  output(): string;
  /** Resolves with the first log line `match` accepts (already seen or still to come). */
  waitFor(match: (line: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

function startMain(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'worker'], {
    cwd: ROOT,
    // Only what the bot needs: nothing of the test runner's own environment leaks in.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      QUEUE_PREFIX: uniqueName('start'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  const waiters: { match: (l: LogLine) => boolean; done: (l: LogLine) => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stdout += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      if (part.trim() === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(part) as LogLine;
      } catch {
        line = { level: -1, msg: part };
      }
      lines.push(line);
      for (const w of waiters.filter((x) => x.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done(line);
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    lines,
    output: () => `${stdout}\n${stderr}`,
    waitFor: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((done, fail) => {
        waiters.push({ match, done });
        void exited.then((code) =>
          fail(new Error(`main exited (${String(code)}) first:\n${stdout}\n${stderr}`)),
        );
      });
    },
    exited,
    kill: (signal) => child.kill(signal),
  };
}

const FATAL = 60;
const WARN = 40;

/** The outcome every unreachable service must give. */
function expectOneFatalLine(child: Child, code: number | null, variable: string, port: number) {
  const output = child.output();
  expect(code).toBe(1);
  expect(output).not.toContain('secret');
  expect(output).not.toContain('user:');
  expect(output).not.toMatch(/^\s+at /m);
  // Every line is a pino JSON line: no stray stack dump on stdout or stderr.
  expect(child.lines.filter((l) => l.level === -1)).toEqual([]);
  const fatal = child.lines.filter((l) => l.level === FATAL);
  expect(fatal).toHaveLength(1);
  expect(fatal[0]).toMatchObject({ variable, endpoint: `127.0.0.1:${port}` });
  expect(fatal[0]!.msg).toContain(variable);
  expect(fatal[0]!.msg).toContain(`127.0.0.1:${port}`);
  // One warn line per retry, none for the last attempt (that one is the fatal line).
  const warns = child.lines.filter((l) => l.level === WARN);
  expect(warns).toHaveLength((fatal[0]!.attempts as number) - 1);
  expect(warns.every((w) => w.variable === variable)).toBe(true);
  expect(warns.length).toBeLessThanOrEqual(5);
}

describe('start-up with a service unreachable', () => {
  const owned: OwnedServer[] = [];
  const children: Child[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await child.exited;
    }
    for (const server of owned.splice(0)) await server.stop();
  });

  it('Redis: one fatal line naming REDIS_URL and the host, exit 1', async () => {
    const port = await freePort();
    const child = startMain({
      REDIS_URL: `redis://user:secret@127.0.0.1:${port}`,
      MONGODB_URI: testMongoUri(uniqueName('genbot_start')),
      STARTUP_RETRY_SECONDS: '2',
    });
    children.push(child);
    const code = await child.exited;
    expectOneFatalLine(child, code, 'REDIS_URL', port);
    expect(child.lines.find((l) => l.level === FATAL)?.attempts).toBeGreaterThan(1);
  });

  it('MongoDB: one fatal line naming MONGODB_URI and the host, exit 1', async () => {
    const port = await freePort();
    const child = startMain({
      REDIS_URL: testRedisUrl(),
      MONGODB_URI: `mongodb://user:secret@127.0.0.1:${port}/genbot`,
      STARTUP_RETRY_SECONDS: '4',
    });
    children.push(child);
    const code = await child.exited;
    expectOneFatalLine(child, code, 'MONGODB_URI', port);
    expect(child.lines.find((l) => l.level === FATAL)?.attempts).toBeGreaterThan(1);
  });

  for (const [service, variable] of [
    ['MongoDB', 'MONGODB_URI'],
    ['Redis', 'REDIS_URL'],
  ] as const) {
    it(`${service} that comes up while start-up retries: start-up goes on`, async () => {
      const port = await freePort();
      const child = startMain({
        REDIS_URL: variable === 'REDIS_URL' ? `redis://127.0.0.1:${port}` : testRedisUrl(),
        MONGODB_URI:
          variable === 'MONGODB_URI'
            ? `mongodb://127.0.0.1:${port}/genbot_start`
            : testMongoUri(uniqueName('genbot_start')),
        // Far more than the server needs to start: the test does not race the budget.
        STARTUP_RETRY_SECONDS: '120',
      });
      children.push(child);
      // Only once start-up has failed an attempt does the server start, on that port.
      await child.waitFor((l) => l.level === WARN && l.variable === variable);
      owned.push(
        variable === 'MONGODB_URI' ? await startOwnedMongo(port) : await startOwnedRedis(port),
      );
      await child.waitFor((l) => l.msg === 'genbot is running');
      child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
      expect(child.lines.filter((l) => l.level >= 50)).toEqual([]);
      expect(child.output()).not.toMatch(/^\s+at /m);
      const warns = child.lines.filter((l) => l.level === WARN);
      expect(warns.length).toBeGreaterThanOrEqual(1);
      expect(warns.every((w) => w.variable === variable)).toBe(true);
    });
  }
});
