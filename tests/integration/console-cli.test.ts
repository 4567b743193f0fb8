import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { Catalog } from '../../src/catalog/catalog.js';
import type { Config } from '../../src/config.js';
import { runCli } from '../../src/platforms/console/cli.js';
import { TEST_MODELS, testConfig } from '../support/app.js';
import { silentLogger } from '../support/store.js';

/** Drives the console surface in-process, on the real services, as `npm run cli` does. */
describe('console CLI', () => {
  let config: Config;
  let out: string;

  beforeAll(() => {
    config = testConfig();
    out = mkdtempSync(join(tmpdir(), 'genbot-cli-'));
  });
  afterAll(async () => {
    rmSync(out, { recursive: true, force: true });
    const app = await createApp(config, silentLogger, {
      catalog: Catalog.fromEntries(TEST_MODELS, 't-fast'),
    });
    await app.conn.dropDatabase();
    await app.close();
  });

  async function cli(...argv: string[]) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli(argv, {
      app: () =>
        createApp(config, silentLogger, {
          catalog: Catalog.fromEntries(TEST_MODELS, 't-fast'),
          progressIntervalMs: 0,
          runningAfterMs: 0,
        }),
      io: { out: (l) => stdout.push(l), err: (l) => stderr.push(l) },
      defaultUser: 'nobody',
    });
    return {
      code,
      stdout,
      stderr,
      json: () => JSON.parse(stdout.at(-1) ?? 'null') as Record<string, unknown>,
    };
  }

  it('grants as a moderator and shows the balance as JSON', async () => {
    const grant = await cli('--as', 'mod', 'grant', 'sam', '30', '--reason', 'welcome');
    expect(grant.code).toBe(0);
    expect(grant.stdout).toEqual(['Granted 30 points to sam; they now have 30 available.']);
    const balance = await cli('--as', 'sam', '--json', 'balance');
    expect(balance.json()).toEqual({ available: 30, held: 0 });
  });

  it('refuses a grant by a member who is not a moderator, exiting non-zero', async () => {
    const r = await cli('--as', 'sam', '--json', 'grant', 'sam', '1000');
    expect(r.code).toBe(1);
    expect(r.json()).toEqual({
      error: { code: 'forbidden', message: 'Only moderators can use /grant.' },
    });
  });

  it('rejects a non-numeric option with the option named', async () => {
    const r = await cli('--as', 'sam', 'generate', 'a', 'fox', '--count', 'many');
    expect(r.code).not.toBe(0);
    expect(r.stderr.join('\n')).toContain('--count must be a whole number (got "many")');
  });

  it('generates with --wait: prints progress as it arrives and ends with the saved outputs', async () => {
    const r = await cli(
      '--as',
      'sam',
      '--json',
      'generate',
      'a',
      'red',
      'fox',
      '--count',
      '2',
      '--seed',
      '5',
      '--wait',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    const result = r.json() as {
      id: string;
      status: string;
      price: number;
      outputs: {
        path: string;
        sha256: string;
        mime: string;
        width: number;
        height: number;
        bytes: number;
      }[];
    };
    expect(result.status).toBe('completed');
    expect(result.price).toBe(6);
    expect(result.outputs).toHaveLength(2);
    for (const o of result.outputs) {
      const bytes = readFileSync(o.path);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(o.sha256);
      expect(o).toMatchObject({
        mime: 'image/png',
        width: 64,
        height: 64,
        bytes: bytes.byteLength,
      });
    }
    const progress = r.stderr.filter((l) => l.startsWith(result.id));
    expect(progress[0]).toMatch(/queued/);
    expect(progress.some((l) => /step \d+\/4/.test(l))).toBe(true);
    expect(progress.at(-1)).toMatch(/done: 2 outputs \(charged 6 points\)/);
  });

  it('prints the member-facing reason and exits non-zero when the generation fails', async () => {
    const r = await cli(
      '--as',
      'sam',
      'generate',
      'a',
      'castle',
      '--model',
      't-fail2',
      '--wait',
      '--out',
      out,
    );
    expect(r.code).toBe(1);
    expect(r.stdout.at(-1)).toBe('The generator failed at step 2 of 4. Your points were returned.');
    const balance = await cli('--as', 'sam', '--json', 'balance');
    expect(balance.json()).toEqual({ available: 24, held: 0 });
  });

  it('pages history and cancels by id', async () => {
    const history = await cli('--as', 'sam', '--json', 'history', '--page', '1');
    const page = history.json() as { items: { id: string; status: string }[]; total: number };
    expect(page.total).toBe(2);
    expect(page.items.map((g) => g.status)).toEqual(['failed', 'completed']);
    const cancel = await cli('--as', 'sam', 'cancel', page.items[0]!.id);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toEqual([
      `Generation ${page.items[0]!.id} has already finished (failed).`,
    ]);
  });

  it('speaks in console terms: usage without the slash, and no chat commands', async () => {
    const bad = await cli('--as', 'sam', 'generate', 'a fox', '--steps', '0');
    expect(bad.code).toBe(1);
    expect(bad.stderr.join('\n')).toMatch(
      /^Steps must be at least 1 \(got 0\); each model's range is shown by models\. Usage: generate <prompt>/,
    );
    expect(bad.stderr.join('\n')).not.toMatch(/(^|\s)\/(generate|models|history)\b/);
    const unknown = await cli('--as', 'sam', 'cancel', 'zzzzzzzzzzzzzz');
    expect(unknown.stderr).toEqual([
      'There is no generation with the id zzzzzzzzzzzzzz. See history for yours.',
    ]);
  });

  it('names the last page instead of quietly showing it', async () => {
    await cli('--as', 'mod', 'grant', 'pia', '30');
    await cli('--as', 'pia', 'generate', 'one picture');
    const r = await cli('--as', 'pia', 'history', '99');
    expect(r.code).toBe(1);
    expect(r.stderr).toEqual([
      'There is no page 99: your history has 1 page (1 generation). Try history 1.',
    ]);
  });

  it('refuses a reused --key with a different request, and replays the same one', async () => {
    await cli('--as', 'mod', 'grant', 'kit', '30');
    const first = await cli('--as', 'kit', '--key', 'k-1', '--json', 'generate', 'a red fox');
    const id = (first.json().generation as { id: string }).id;
    const same = await cli('--as', 'kit', '--key', 'k-1', '--json', 'generate', 'a red fox');
    expect(same.json()).toMatchObject({ duplicate: true, generation: { id } });
    const other = await cli('--as', 'kit', '--key', 'k-1', 'generate', 'a blue whale');
    expect(other.code).toBe(1);
    expect(other.stderr[0]).toBe(
      `That idempotency key was already used for a different request (generation ${id}, "a red fox"). Use a new key for a new request.`,
    );
  });

  it('reports a reconcile in words, and refuses a negative grace', async () => {
    const r = await cli('reconcile', '--grace', '0');
    expect(r.code).toBe(0);
    expect(r.stdout.at(-1)).toMatch(/^reconcile: (nothing to repair|repaired)/);
    const negative = await cli('reconcile', '--grace', '-1');
    expect(negative.code).toBe(2);
    expect(negative.stderr.join('\n')).toMatch(/--grace is a number of seconds, 0 or more/);
  });

  it('has /queue, derived from its declaration like every chat command, with help', async () => {
    await cli('--as', 'mod', 'grant', 'quinn', '30');
    const made = await cli('--as', 'quinn', '--json', 'generate', 'a queued fox');
    const id = (made.json().generation as { id: string }).id;
    const r = await cli('--as', 'quinn', 'queue');
    expect(r.code).toBe(0);
    const lines = r.stdout.join('\n').split('\n');
    expect(lines[0]).toBe('Queues:');
    expect(lines).toContain('Yours (1):');
    expect(lines.find((l) => l.startsWith(id))).toMatch(
      /t-fast {2}(position \d+ of the local queue(, .+)?|running now)$/,
    );
    const json = await cli('--as', 'quinn', '--json', 'queue');
    expect((json.json().mine as { id: string }[]).map((g) => g.id)).toEqual([id]);
    const help = await cli('help');
    expect(help.stdout.join('\n')).toContain('/queue - What runs and waits on each generator');
    const sub = await cli('queue', '--help');
    expect(sub.code).toBe(0);
    expect(sub.stdout.join('\n')).toContain('What runs and waits on each generator');
    await cli('--as', 'quinn', 'cancel', id);
  });

  it('refuses a status that is not one, in the words of the command', async () => {
    const r = await cli('--as', 'sam', 'history', '--status', 'bogus');
    expect(r.code).toBe(1);
    expect(r.stderr.join('\n')).toMatch(/^The status is one of: /);
  });

  it('lists models with prices', async () => {
    const r = await cli('--json', 'models');
    const models = (r.json() as { models: { id: string; price: number }[] }).models;
    expect(models.find((m) => m.id === 't-fast')?.price).toBe(4);
  });

  it('checks the ledger and names an account that breaks an invariant', async () => {
    expect((await cli('ledger', 'check')).stdout).toEqual([
      'ledger check: every account is consistent',
    ]);
    const app = await createApp(config, silentLogger, {
      catalog: Catalog.fromEntries(TEST_MODELS, 't-fast'),
    });
    try {
      await app.collections.LedgerEntry.create({
        _id: 'tampered',
        key: 'tampered',
        accountId: 'acc_tampered',
        seq: 1,
        kind: 'grant',
        availableDelta: 5,
        heldDelta: 0,
        amount: 5,
        availableAfter: 50,
        heldAfter: 0,
      });
      const r = await cli('ledger', 'check');
      expect(r.code).toBe(1);
      expect(r.stdout.join('\n')).toContain('account acc_tampered: chain');
    } finally {
      await app.collections.LedgerEntry.deleteOne({ _id: 'tampered' });
      await app.close();
    }
  });
});
