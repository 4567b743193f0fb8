import { InvalidArgumentError, type Command } from 'commander';
import type { App } from '../../app.js';
import type { ReconcileReport } from '../../generation/reconciler.js';
import { wholeNumber } from './chat-commands.js';

export interface OperatorContext {
  openApp(): Promise<App>;
  io: { out(line: string): void };
  json(): boolean;
  /** The command found something wrong: the process exits non-zero. */
  failed(): void;
}

/** What each count of a reconcile report means, in the order they are shown. */
const REPAIRS: [keyof ReconcileReport, string][] = [
  ['requeued', 'queued again (their job was lost)'],
  ['retried', 'run once more (their worker died)'],
  ['failed', 'failed with their points returned (their job ended without finishing them)'],
  ['abandoned', 'failed before they started (nothing was held)'],
  ['finished', 'finished from what their interrupted finish recorded'],
  ['orphanHolds', 'holds released that had no generation'],
  ['slots', 'member slots freed that ended generations still held'],
];

function describeReport(report: ReconcileReport): string {
  const lines = REPAIRS.filter(([key]) => report[key] > 0).map(
    ([key, words]) => `  ${report[key]} ${words}`,
  );
  return lines.length === 0
    ? 'reconcile: nothing to repair'
    : ['reconcile: repaired', ...lines].join('\n');
}

/** Operator tools beside the chat commands: `ledger check` and `reconcile`. */
export function addOperatorCommands(program: Command, ctx: OperatorContext): void {
  const ledger = program.command('ledger').description('points ledger tools (operators)');
  ledger
    .command('check')
    .description('verify every account against its ledger; exits non-zero on any violation')
    .action(async () => {
      const a = await ctx.openApp();
      const violations = await a.economy.check();
      if (ctx.json()) ctx.io.out(JSON.stringify({ ok: violations.length === 0, violations }));
      else if (violations.length === 0) ctx.io.out('ledger check: every account is consistent');
      else
        for (const v of violations)
          ctx.io.out(`ledger check: account ${v.accountId}: ${v.rule}: ${v.detail}`);
      if (violations.length > 0) ctx.failed();
    });

  program
    .command('reconcile')
    .description('repair generations and holds left half done by a crash')
    .option(
      '--grace <seconds>',
      'leave work younger than this alone (0 or more)',
      (value: string): number => {
        const n = wholeNumber('--grace')(value);
        if (n < 0)
          throw new InvalidArgumentError(
            `--grace is a number of seconds, 0 or more (got ${value}).`,
          );
        return n;
      },
    )
    .action(async (o: { grace?: number }) => {
      const a = await ctx.openApp();
      const report = await a.reconciler.run((o.grace ?? a.config.reconcileGraceMs / 1000) * 1000);
      ctx.io.out(ctx.json() ? JSON.stringify(report) : describeReport(report));
    });
}
