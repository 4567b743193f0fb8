import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { summarize } from '../../scripts/ci-summary.js';
import { envSchema, loadConfig } from '../../src/config.js';
import { PROVIDER_MODULES } from '../../src/providers/index.js';

/**
 * What no Docker engine or CI machine runs here: the Dockerfile, docker-compose.yml, .ci/run
 * and the Go build script, read as text (and the build script's plan and the CI summary run).
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genbot-packaging-'));
  temps.push(dir);
  return dir;
}

/** Docker instructions, comments dropped and continuation lines joined. */
function dockerfile(): { op: string; args: string }[] {
  return read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** One service's block of docker-compose.yml (the lines indented under `  name:`). */
function service(name: string): string {
  const lines = read('docker-compose.yml').split('\n');
  const start = lines.findIndex((line) => line === `  ${name}:`);
  expect(start, `service ${name} in docker-compose.yml`).toBeGreaterThanOrEqual(0);
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && !line.startsWith('   ')) break;
    block.push(line);
  }
  return block.join('\n');
}

/** A key's value inside a service block: the rest of its line and the lines indented deeper. */
function key(block: string, name: string): string {
  const lines = block.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^    ${name}:`).test(line));
  if (start < 0) return '';
  const value = [lines[start]!.replace(new RegExp(`^    ${name}:\\s*`), '')];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && !line.startsWith('     ')) break;
    if (!line.trim().startsWith('#')) value.push(line.trim());
  }
  return value.join('\n').trim();
}

describe('Dockerfile', () => {
  it('builds and runs on Node 24 (node:24-bookworm-slim) in every stage', () => {
    const from = dockerfile().filter((i) => i.op === 'FROM');
    expect(from.length).toBeGreaterThanOrEqual(2);
    for (const stage of from) expect(stage.args).toMatch(/^node:24-bookworm-slim(\s|$)/);
  });

  it('runs as node with an output directory it may write to', () => {
    const steps = dockerfile();
    const final = steps.slice(steps.map((i) => i.op).lastIndexOf('FROM'));
    const workdir = final.filter((i) => i.op === 'WORKDIR').at(-1)?.args;
    expect(workdir).toBe('/app');
    const userAt = final.findIndex((i) => i.op === 'USER');
    expect(final[userAt]?.args).toBe('node');
    // Before USER: make /app/output and give it (or the whole workdir) to node.
    const chown = final
      .slice(0, userAt)
      .filter((i) => i.op === 'RUN' && /chown\s+(-R\s+)?node(:node)?\s/.test(i.args));
    expect(chown.some((i) => /\/app\/output\b|\s\/app(\s|$)/.test(i.args))).toBe(true);
    expect(final.slice(0, userAt).some((i) => /mkdir -p \/app\/output\b/.test(i.args))).toBe(true);
  });
});

describe('docker-compose.yml', () => {
  it('keeps every Redis key (noeviction, as BullMQ needs) and AOF on', () => {
    const command = key(service('redis'), 'command');
    const words = [...command.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2]);
    expect(words[0]).toBe('redis-server');
    expect(words[words.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(words[words.indexOf('--appendonly') + 1]).toBe('yes');
  });

  it('starts workers without the bot: own build, depending only on healthy mongo and redis', () => {
    const worker = service('worker');
    expect(key(worker, 'build')).toBe('.');
    const deps = key(worker, 'depends_on');
    const names = [...deps.matchAll(/^(\w[\w-]*):/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual(['mongo', 'redis']);
    expect(deps.match(/condition:\s*service_healthy/g)).toHaveLength(2);
    expect(key(worker, 'image')).toBe(key(service('bot'), 'image'));
  });
});

/** A mapping's lines (`NAME: value`), quotes taken off; comments are gone already. */
function mapping(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => /^([A-Z][A-Z0-9_]*):\s*(.*)$/.exec(line.trim()))
      .filter((m) => m !== null)
      .map((m) => [m[1] ?? '', (m[2] ?? '').replace(/^'(.*)'$/, '$1')]),
  );
}

/** `${NAME:?message}`: compose refuses to start while NAME is unset or empty. */
const required = (name: string) => new RegExp(`\\$\\{${name}:\\?[^}]+\\}`);

/**
 * `text` with compose's interpolation applied from `vars` (the forms this file uses:
 * `${NAME}`, `${NAME:?error}`, `${NAME:-default}`, `${NAME:+replacement}`).
 */
function interpolate(text: string, vars: Record<string, string>): string {
  const expression = /\$\{([A-Z0-9_]+)(?::([?+-])([^}]*))?\}/g;
  return text.replace(expression, (_, name: string, op?: string, arg: string = '') => {
    const value = vars[name] ?? '';
    if (op === '?' && value === '') throw new Error(`compose refuses: ${arg}`);
    if (op === '+') return value === '' ? '' : arg;
    if (op === '-' && value === '') return arg;
    return value;
  });
}

/** What a role's container gets from `dotEnv`: env_file, then its `environment` over it. */
function roleEnv(role: string, dotEnv: Record<string, string>): Record<string, string> {
  const block = service(role);
  expect(key(block, 'env_file')).toBe('.env');
  const own = Object.entries(mapping(key(block, 'environment'))).map(
    ([name, value]) => [name, interpolate(value, dotEnv)] as const,
  );
  return { ...dotEnv, ...Object.fromEntries(own) };
}

/**
 * The variables that switch a backend on: its key, or a self-hosted backend's URL (which may
 * carry a user and password). Unset any one of them and the module is not configured.
 */
const BACKEND_CREDENTIALS = PROVIDER_MODULES.flatMap((m) => {
  const optional = Object.entries(m.env.shape)
    .filter(([, schema]) => {
      const blank = z.safeParse(schema, '');
      return blank.success && blank.data === undefined;
    })
    .map(([name]) => name);
  const all = Object.fromEntries(optional.map((name) => [name, 'http://set.invalid']));
  return optional.filter((name) => m.settings(m.env.parse({ ...all, [name]: '' })) === undefined);
});
const CHAT_CREDENTIALS = Object.keys(envSchema.shape).filter((name) =>
  /^(TELEGRAM|DISCORD)_\w*(TOKEN|SECRET)$/.test(name),
);

/** An operator's .env with every credential filled in. */
const FILLED: Record<string, string> = {
  NODE_ENV: 'production',
  REDIS_PASSWORD: 'redis-password-0123',
  MONGO_ROOT_USERNAME: 'genbot',
  MONGO_ROOT_PASSWORD: 'mongo-password-0123',
  TELEGRAM_BOT_TOKEN: '123456:chat-token',
  TELEGRAM_WEBHOOK_SECRET: 'w'.repeat(40),
  DISCORD_TOKEN: 'discord-token',
  REPLICATE_API_TOKEN: 'r8-token',
  FAL_KEY: 'fal-id:fal-secret',
  OPENAI_API_KEY: 'sk-key',
  COMFYUI_URL: 'http://comfy-user:comfy-pass@gpu:8188',
  A1111_URL: 'http://a1111-user:a1111-pass@gpu:7860',
  HORDE_API_KEY: 'horde-key',
  KIE_API_KEY: 'kie-key',
};

describe('docker-compose.yml credentials', () => {
  it('runs Redis with the password .env must set, and checks its health logged in', () => {
    const redis = service('redis');
    const words = [...key(redis, 'command').matchAll(/'([^']*)'/g)].map((m) => m[1] ?? '');
    expect(words[words.indexOf('--requirepass') + 1]).toMatch(required('REDIS_PASSWORD'));
    expect(mapping(key(redis, 'environment')).REDISCLI_AUTH).toMatch(required('REDIS_PASSWORD'));
    expect(key(redis, 'healthcheck')).toContain('redis-cli ping');
  });

  it('runs MongoDB with the root user and password .env must set', () => {
    const env = mapping(key(service('mongo'), 'environment'));
    expect(env.MONGO_INITDB_ROOT_USERNAME).toMatch(required('MONGO_ROOT_USERNAME'));
    expect(env.MONGO_INITDB_ROOT_PASSWORD).toMatch(required('MONGO_ROOT_PASSWORD'));
  });

  it('connects the bot and the worker with those credentials, and refuses to start without', () => {
    for (const role of ['bot', 'worker']) {
      const env = roleEnv(role, FILLED);
      expect(env.REDIS_URL).toBe('redis://:redis-password-0123@redis:6379');
      expect(env.MONGODB_URI).toBe(
        'mongodb://genbot:mongo-password-0123@mongo:27017/genbot?authSource=admin',
      );
      for (const missing of ['REDIS_PASSWORD', 'MONGO_ROOT_USERNAME', 'MONGO_ROOT_PASSWORD'])
        expect(() => roleEnv(role, { ...FILLED, [missing]: '' })).toThrow(missing);
    }
  });

  it('gives the bot the chat tokens and the worker the backend keys, neither the other', () => {
    expect(BACKEND_CREDENTIALS.sort()).toEqual(
      Object.keys(FILLED)
        .filter((name) => /^(REPLICATE|FAL|OPENAI|COMFYUI|A1111|HORDE|KIE)_/.test(name))
        .sort(),
    );
    expect(CHAT_CREDENTIALS.sort()).toEqual(
      ['DISCORD_TOKEN', 'TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET'].sort(),
    );
    const bot = roleEnv('bot', FILLED);
    const worker = roleEnv('worker', FILLED);
    const botValues = Object.values(bot).join('\n');
    for (const name of BACKEND_CREDENTIALS) {
      expect(botValues, `bot ${name}`).not.toContain(FILLED[name]);
      expect(worker[name], `worker ${name}`).toBe(FILLED[name]);
    }
    expect(botValues).not.toMatch(/comfy-pass|a1111-pass|fal-secret/);
    for (const name of CHAT_CREDENTIALS) {
      expect(worker[name], `worker ${name}`).toBe('');
      expect(bot[name], `bot ${name}`).toBe(FILLED[name]);
    }
    const botConfig = loadConfig(bot);
    expect(botConfig.telegram?.token).toBe(FILLED.TELEGRAM_BOT_TOKEN);
    expect(botConfig.discord?.token).toBe(FILLED.DISCORD_TOKEN);
    const workerConfig = loadConfig(worker);
    expect(workerConfig.telegram).toBeUndefined();
    expect(workerConfig.discord).toBeUndefined();
  });

  it('lets the bot offer exactly the backends the workers run', () => {
    const ids = (env: Record<string, string>) =>
      Object.keys(loadConfig(env).providers.settings).sort();
    expect(ids(roleEnv('bot', FILLED))).toEqual(ids(roleEnv('worker', FILLED)));
    expect(ids(roleEnv('bot', FILLED))).toEqual(PROVIDER_MODULES.map((m) => m.id).sort());
    const falOnly = Object.fromEntries(
      Object.entries(FILLED).filter(([name]) => !BACKEND_CREDENTIALS.includes(name)),
    );
    falOnly.FAL_KEY = FILLED.FAL_KEY ?? '';
    expect(ids(roleEnv('bot', falOnly))).toEqual(['fal', 'local']);
    expect(ids(roleEnv('worker', falOnly))).toEqual(['fal', 'local']);
  });
});

describe('ignored files', () => {
  it('git ignores output/ (what `generate --wait` saves) and the local state', () => {
    const lines = read('.gitignore')
      .split('\n')
      .map((l) => l.trim());
    expect(lines.some((l) => /^\/?output\/?$/.test(l))).toBe(true);
    expect(lines).toContain('.genbot/');
    const check = spawnSync('git', ['check-ignore', '-q', 'output/fox-1.png'], { cwd: ROOT });
    expect(check.status).toBe(0);
  });
});

describe('.ci/run', () => {
  const ci = read('.ci/run');

  it('builds tools/ferretdb with scripts/build-ferretdb.sh, which fetches a Go go.mod accepts', () => {
    expect(ci).toMatch(/^\s*bash scripts\/build-ferretdb\.sh\b/m);
    expect(ci).not.toMatch(/^\s*\(?\s*cd tools\/ferretdb && go build/m);
    const script = read('scripts/build-ferretdb.sh');
    expect(script).toMatch(/export GOTOOLCHAIN="go\$WANT"/);
    expect(script).toContain('golang.org/toolchain@v0.0.1-go$WANT');
  });

  it('runs npm test on Node 20 and on Node 24 and sums both reports in the last line', () => {
    expect(ci).toMatch(/for major in 20 24; do/);
    expect(ci).toContain('node-linux-$arch');
    expect(ci).toMatch(/PATH="\$dir:\$PATH" npm test/);
    expect(ci).toMatch(/mv reports\/vitest\.json "\$report"/);
    const lines = ci.trim().split('\n');
    expect(lines.at(-2)).toMatch(/scripts\/ci-summary\.ts "\$\{reports\[@\]\}"/);
    expect(lines.at(-1)).toBe('exit $status');
    const syntax = spawnSync('bash', ['-n', join(ROOT, '.ci/run')]);
    expect(syntax.status, syntax.stderr.toString()).toBe(0);
  });
});

describe('scripts/build-ferretdb.sh --dry-run', () => {
  const goMod = read('tools/ferretdb/go.mod');
  const line = /^toolchain go(\S+)/m.exec(goMod)?.[1] ?? /^go (\S+)/m.exec(goMod)?.[1] ?? 'missing';
  const want = line.split('.').length === 2 ? `${line}.0` : line;

  function planWith(goVersion: string): string {
    const bin = tempDir();
    writeFileSync(join(bin, 'go'), `#!/bin/sh\necho "go version go${goVersion} linux/amd64"\n`);
    chmodSync(join(bin, 'go'), 0o755);
    const r = spawnSync('bash', [join(ROOT, 'scripts/build-ferretdb.sh'), '--dry-run'], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stderr;
  }

  it('builds with a Go at least as new as go.mod asks', () => {
    expect(planWith('1.99.0')).toContain(`plan: build with`);
  });

  it('asks a Go >= 1.21 that is too old for the go.mod version through GOTOOLCHAIN', () => {
    expect(planWith('1.21.0')).toContain(`GOTOOLCHAIN=go${want}`);
  });

  it("downloads the toolchain module with a Go older than 1.21 (Debian 12's 1.19)", () => {
    expect(planWith('1.19.8')).toContain(`download go${want} as module golang.org/toolchain`);
  });
});

describe('scripts/ci-summary.ts', () => {
  function report(data: object): string {
    const path = join(tempDir(), 'vitest.json');
    writeFileSync(path, JSON.stringify(data));
    return path;
  }

  it('sums the runs', () => {
    const a = report({ numPassedTests: 3, numFailedTests: 1, success: false });
    const b = report({ numPassedTests: 5, numFailedTests: 0, numPendingTests: 2, success: true });
    expect(summarize([a, b])).toEqual({ line: '8 passed, 1 failed, 2 skipped', ok: false });
    expect(summarize([b, b])).toEqual({ line: '10 passed, 0 failed, 4 skipped', ok: true });
  });

  it('counts a run without a report, or failed without a failed test, as a failure', () => {
    const ok = report({ numPassedTests: 4, numFailedTests: 0, success: true });
    const broken = report({ numPassedTests: 4, numFailedTests: 0, success: false });
    expect(summarize([ok, join(tempDir(), 'missing.json')]).line).toBe('4 passed, 1 failed');
    expect(summarize([ok, broken]).line).toBe('8 passed, 1 failed');
  });
});

describe('package.json', () => {
  it('allows development on Node 20.19+, which includes the image and CI Node 24', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    const min = /^>=\s*(\d+)\.(\d+)/.exec(pkg.engines.node);
    expect(min?.slice(1).map(Number)).toEqual([20, 19]);
  });
});
