import { clip, oneLine } from '../src/core/text.js';
import type { GenerationSummary } from '../src/generation/summary.js';

const MAX_PROMPT_IN_LIST = 48;

export function shortPrompt(prompt: string): string {
  return clip(oneLine(prompt), MAX_PROMPT_IN_LIST);
}

/** What a generation cost: charged, nothing, or held while it runs. */
export function chargeLabel(g: GenerationSummary): string {
  return g.status === 'completed'
    ? `${g.captured} pts`
    : g.status === 'failed' || g.status === 'cancelled'
      ? '0 pts'
      : `${g.price} pts held`;
}

/** One line per generation, as /history and the console show it. */
export function describeGeneration(g: GenerationSummary): string {
  const when = g.createdAt.slice(0, 16).replace('T', ' ');
  const charge = chargeLabel(g);
  const outputs = g.status === 'completed' ? ` ${g.outputs.length}/${g.count}` : '';
  return `${g.id}  ${g.status}${outputs}  ${g.model}  ${charge}  ${when}  "${shortPrompt(g.prompt)}"`;
}
