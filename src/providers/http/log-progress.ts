import type { ProgressEvent } from '../../core/progress.js';

/** Percent and steps from a progress-bar line in backend logs ("45%|████▌ | 9/20"). */
export function progressFromLogs(logs: string | undefined | null): ProgressEvent | undefined {
  if (!logs) return undefined;
  const lines = logs
    .trim()
    .split(/\r?\n|\r/)
    .reverse();
  for (const line of lines) {
    const steps = /(\d+)\s*\/\s*(\d+)\s*\[/.exec(line) ?? /\|\s*(\d+)\s*\/\s*(\d+)/.exec(line);
    const pct = /(\d{1,3})%\|/.exec(line);
    if (steps || pct) {
      const step = steps ? Number(steps[1]) : undefined;
      const total = steps ? Number(steps[2]) : undefined;
      const percent = pct
        ? Math.min(100, Number(pct[1]))
        : step !== undefined && total
          ? Math.round((step / total) * 100)
          : undefined;
      return {
        ...(percent !== undefined ? { percent } : {}),
        ...(step !== undefined && total ? { step, steps: total } : {}),
      };
    }
  }
  return undefined;
}
