import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  COMMANDS,
  findCommand,
  executeCommand,
  type CommandResult,
  type CommandServices,
} from '../../../commands/index.js';
import type { App } from '../../app.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import { randomInvocationKey } from '../../generation/ids.js';
import type { ReconcileReport } from '../../generation/reconciler.js';
import { consoleContext } from './console-context.js';
import { waitForGeneration } from './wait.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export interface CliDeps {
  /** Opens the app lazily, so `--help` works without Redis or MongoDB. */
  app(): Promise<App>;
  /** Optional: config and catalog alone, so `help` and `models` need no Redis or MongoDB. */
  catalog?(): Promise<Pick<App, 'config' | 'catalog'>>;
  io: CliIo;
  defaultUser: string;
}

function int(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} must be a whole number (got "${value}").`);
    return Number(value);
  };
}

function num(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a number (got "${value}").`);
    return n;
  };
}

/** Commands that read only the config and the catalog. */
const CATALOG_ONLY = new Set(['help', 'models']);

interface GlobalOptions {
  as?: string;
  json?: boolean;
  key?: string;
}

/**
 * The console surface: `npm run cli -- <command>`. It drives the same platform-neutral
 * commands as Discord and Telegram, as the member named by `--as`. Returns the exit code.
 */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const { io } = deps;
  let exitCode = 0;
  let app: App | undefined;
  const openApp = async (): Promise<App> => (app ??= await deps.app());

  const program = new Command('genbot')
    .description('Run bot commands from the console, and operator tools.')
    .option(
      '--as <name>',
      'act as this member (console moderators: CONSOLE_MODERATORS)',
      deps.defaultUser,
    )
    .option('--json', 'print one JSON object on stdout')
    .option(
      '--key <idempotency-key>',
      'idempotency key of this invocation (the same key twice is one action)',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError(false);

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();

  const print = (result: CommandResult, data?: Record<string, unknown>): void => {
    if (globals().json) io.out(JSON.stringify(data ?? result.data));
    else io.out(result.text);
  };

  const run = async (name: string, raw: Record<string, unknown>): Promise<CommandResult> => {
    const light = deps.catalog && CATALOG_ONLY.has(name) ? await deps.catalog() : undefined;
    const full = light ? undefined : await openApp();
    const a = light ?? full!;
    const command = findCommand(name);
    if (!command) throw new UserError('unknown_command', `Unknown command ${name}.`);
    const g = globals();
    const ctx = consoleContext({
      as: g.as ?? deps.defaultUser,
      moderators: a.config.console.moderators,
      invocationKey: g.key ? `console:${g.key}` : randomInvocationKey('console'),
    });
    const services: CommandServices = full
      ? { generations: full.generations, economy: full.economy, catalog: full.catalog }
      : ({ catalog: a.catalog } as CommandServices); // CATALOG_ONLY commands read nothing else
    return executeCommand(command, ctx, raw, services);
  };

  const simple =
    (name: string, toRaw: (...args: unknown[]) => Record<string, unknown>) =>
    async (...args: unknown[]): Promise<void> => {
      print(await run(name, toRaw(...args)));
    };

  program
    .command('generate')
    .description('generate an image or animation')
    .argument('<prompt...>', 'what to generate')
    .option('--model <id>', 'model id (see `models`)')
    .option('--neg <text>', 'negative prompt: what to keep out')
    .option('--ar <ratio>', 'aspect ratio, e.g. 16:9')
    .option('--width <px>', 'width in pixels', int('--width'))
    .option('--height <px>', 'height in pixels', int('--height'))
    .option('--steps <n>', 'sampling steps', int('--steps'))
    .option('--guidance <x>', 'guidance scale', num('--guidance'))
    .option('--seed <n>', 'seed for a repeatable result', int('--seed'))
    .option('--count <n>', 'how many images, 1-4', int('--count'))
    .option('--seconds <s>', 'length of an animation', num('--seconds'))
    .option('--wait', 'wait for the result, printing progress, and save the outputs')
    .option('--out <dir>', 'where --wait saves outputs', 'output')
    .action(async (words: string[], o: Record<string, unknown>) => {
      const raw: Record<string, unknown> = { prompt: words.join(' ') };
      const map: Record<string, string> = { neg: 'negativePrompt', ar: 'aspectRatio' };
      for (const key of [
        'model',
        'neg',
        'ar',
        'width',
        'height',
        'steps',
        'guidance',
        'seed',
        'count',
        'seconds',
      ]) {
        if (o[key] !== undefined) raw[map[key] ?? key] = o[key];
      }
      if (!o.wait) {
        print(await run('generate', raw));
        return;
      }
      const a = await openApp();
      const result = await waitForGeneration(a, {
        submit: () => run('generate', raw),
        model: typeof raw.model === 'string' ? raw.model : undefined,
        outDir: String(o.out),
        onProgress: (line) => (globals().json ? io.err(line) : io.out(line)),
        onNote: (line) => io.err(line),
      });
      if (globals().json) io.out(JSON.stringify(result.json));
      else io.out(result.text);
      if (result.json.status !== 'completed') exitCode = 1;
    });

  program
    .command('balance')
    .description('show your points')
    .action(simple('balance', () => ({})));

  program
    .command('history')
    .description('your generations, newest first, 5 per page')
    .argument('[page]', 'page number', int('page'))
    .option('--page <n>', 'page number', int('--page'))
    .addOption(new Option('--status <status>', 'only this status'))
    .action(
      simple('history', (page: unknown, o: unknown) => {
        const opts = o as { page?: number; status?: string };
        const raw: Record<string, unknown> = {};
        const p = opts.page ?? page;
        if (p !== undefined) raw.page = p;
        if (opts.status !== undefined) raw.status = opts.status;
        return raw;
      }),
    );

  program
    .command('cancel')
    .description('cancel a generation that has not finished')
    .argument('<generation-id>')
    .action(simple('cancel', (id: unknown) => ({ id })));

  program
    .command('models')
    .description('models and prices')
    .action(simple('models', () => ({})));

  program.helpCommand(false);
  program
    .command('help')
    .description('the chat commands, as members see them (`--help` lists the console options)')
    .action(simple('help', () => ({})));

  for (const name of ['grant', 'revoke'] as const) {
    program
      .command(name)
      .description(
        name === 'grant'
          ? 'give a member points (moderators)'
          : 'take points from a member (moderators)',
      )
      .argument('<member>')
      .argument('<points>', 'whole number above zero', int('points'))
      .option('--reason <text>', 'why; kept in the ledger')
      .action(
        simple(name, (member: unknown, points: unknown, o: unknown) => {
          const reason = (o as { reason?: string }).reason;
          return reason === undefined ? { member, points } : { member, points, reason };
        }),
      );
  }

  const ledger = program.command('ledger').description('points ledger tools (operators)');
  ledger
    .command('check')
    .description('verify every account against its ledger; exits non-zero on any violation')
    .action(async () => {
      const a = await openApp();
      const violations = await a.economy.check();
      if (globals().json) io.out(JSON.stringify({ ok: violations.length === 0, violations }));
      else if (violations.length === 0) io.out('ledger check: every account is consistent');
      else
        for (const v of violations)
          io.out(`ledger check: account ${v.accountId}: ${v.rule}: ${v.detail}`);
      if (violations.length > 0) exitCode = 1;
    });

  program
    .command('reconcile')
    .description('repair generations and holds left half done by a crash')
    .option(
      '--grace <seconds>',
      'leave work younger than this alone (0 or more)',
      (value: string): number => {
        const n = int('--grace')(value);
        if (n < 0)
          throw new InvalidArgumentError(
            `--grace is a number of seconds, 0 or more (got ${value}).`,
          );
        return n;
      },
    )
    .action(async (o: { grace?: number }) => {
      const a = await openApp();
      const report = await a.reconciler.run((o.grace ?? a.config.reconcileGraceMs / 1000) * 1000);
      io.out(globals().json ? JSON.stringify(report) : describeReport(report));
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    exitCode = reportError(error, io, globals().json === true);
  } finally {
    if (app) await app.close();
  }
  return exitCode;
}

/** What each count of a reconcile report means, in the order they are shown. */
const REPAIRS: [keyof ReconcileReport, string][] = [
  ['requeued', 'queued again (their job was lost)'],
  ['retried', 'run once more (their worker died)'],
  ['failed', 'failed with their points returned (their job ended without finishing them)'],
  ['abandoned', 'failed before they started (nothing was held)'],
  ['finished', 'finished from what their interrupted finish recorded'],
  ['orphanHolds', 'holds released that had no generation'],
];

function describeReport(report: ReconcileReport): string {
  const lines = REPAIRS.filter(([key]) => report[key] > 0).map(
    ([key, words]) => `  ${report[key]} ${words}`,
  );
  return lines.length === 0
    ? 'reconcile: nothing to repair'
    : ['reconcile: repaired', ...lines].join('\n');
}

/**
 * The command layer writes its refusals for chat (`See /history`, `Usage: /generate ...`); on
 * the console the same commands are typed without the slash. (`help` deliberately shows the
 * chat form: it is what members see.)
 */
function consoleWords(text: string): string {
  const names = COMMANDS.map((c) => c.name).join('|');
  return text.replace(new RegExp(`(^|[\\s("'])/(${names})\\b`, 'g'), '$1$2');
}

function reportError(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof CommanderError) {
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.exitCode === 0
    )
      return 0;
    if (json)
      io.out(
        JSON.stringify({
          error: { code: 'invalid_input', message: error.message.replace(/^error: /, '') },
        }),
      );
    return 2;
  }
  const code = errorCode(error);
  const message = memberMessage(error);
  if (json) io.out(JSON.stringify({ error: { code, message } }));
  else io.err(consoleWords(message));
  if (!(error instanceof UserError))
    io.err(`(internal error: ${(error as Error).message ?? String(error)})`);
  return 1;
}
