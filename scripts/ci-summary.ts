import { readFileSync } from 'node:fs';

/**
 * `tsx scripts/ci-summary.ts <vitest.json>...`: one line, "N passed, N failed" (plus skipped),
 * summed over the JSON reports of several `npm test` runs (`.ci/run` runs the suite once per
 * Node version). A report that is missing or unreadable, or that failed without a failed test
 * (a file that did not load, a failing hook), counts as one failure. Exits 1 when anything failed.
 */
interface Report {
  numPassedTests?: number;
  numFailedTests?: number;
  numPendingTests?: number;
  numTodoTests?: number;
  success?: boolean;
}

export function summarize(paths: readonly string[]): { line: string; ok: boolean } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const path of paths) {
    let report: Report;
    try {
      report = JSON.parse(readFileSync(path, 'utf8')) as Report;
    } catch {
      process.stderr.write(`[ci] no test report at ${path}: counted as one failure\n`);
      failed += 1;
      continue;
    }
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    // A file that failed to load or a failing hook fails the run without failing a test.
    if (report.success === false && !report.numFailedTests) failed += 1;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  }
  if (paths.length === 0) failed += 1;
  const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
  return { line, ok: failed === 0 };
}

if (process.argv[1]?.endsWith('ci-summary.ts')) {
  const { line, ok } = summarize(process.argv.slice(2));
  process.stdout.write(`${line}\n`);
  process.exitCode = ok ? 0 : 1;
}
