import { UserError } from '../core/errors.js';
import type { GenerationSummary } from '../core/outputs.js';
import type { GenerationStatus } from '../core/status.js';
import type { GenerationDoc } from '../store/collections.js';
import type { GenerationContext } from './context.js';
import { summarize } from './summary.js';

export const HISTORY_PAGE_SIZE = 5;

export interface HistoryPage {
  items: GenerationSummary[];
  page: number;
  pages: number;
  total: number;
  status?: GenerationStatus;
}

/** The ids of one page of a member's generations, and how many there are in all. */
interface PageIds {
  total: number;
  ids: string[];
  /** Generations already read on the way (not read again for the page). */
  read: Map<string, GenerationDoc>;
}

/**
 * One page of a member's generations, newest first. `accountId` undefined: a member with
 * no account yet, whose history is empty. A page past the end is refused, saying how many
 * there are, rather than quietly showing another page.
 */
export async function history(
  ctx: GenerationContext,
  accountId: string | undefined,
  options: { page: number; status?: GenerationStatus },
): Promise<HistoryPage> {
  const skip = (Math.max(1, options.page) - 1) * HISTORY_PAGE_SIZE;
  const { total, ids, read } = !accountId
    ? { total: 0, ids: [], read: new Map<string, GenerationDoc>() }
    : options.status
      ? await idsWithStatus(ctx, accountId, options.status, skip)
      : await recentIds(ctx, accountId, skip);
  const pages = Math.max(1, Math.ceil(total / HISTORY_PAGE_SIZE));
  if (options.page > pages && total > 0) {
    const which = options.status ? `${options.status} generations` : 'history';
    throw new UserError(
      'invalid_input',
      `There is no page ${options.page}: your ${which} has ${pages} ${pages === 1 ? 'page' : 'pages'} (${total} ${total === 1 ? 'generation' : 'generations'}). Try /history ${pages}.`,
      { details: { pages, total } },
    );
  }
  const page = Math.min(Math.max(1, options.page), pages);
  const docs = await Promise.all(
    ids.map((id) => {
      const known = read.get(id);
      return known ? Promise.resolve(known) : ctx.find(id);
    }),
  );
  const items = docs.filter((d) => d !== undefined).map(summarize);
  const result: HistoryPage = { items, page, pages, total };
  if (options.status) result.status = options.status;
  return result;
}

/**
 * The member's ledger chain is the index of their generations (a reserve each, newest
 * last), read by `_id`: a page costs the same with 100 or 100,000 generations stored.
 */
async function recentIds(
  ctx: GenerationContext,
  accountId: string,
  skip: number,
): Promise<PageIds> {
  const recent = await ctx.deps.economy.recentHolds(accountId, { skip, limit: HISTORY_PAGE_SIZE });
  return { total: recent.total, ids: recent.holdIds, read: new Map() };
}

/**
 * One walk of the member's chain: ended holds carry their outcome in their settle entry;
 * open ones are looked up (at most the member's generations in flight).
 */
async function idsWithStatus(
  ctx: GenerationContext,
  accountId: string,
  status: GenerationStatus,
  skip: number,
): Promise<PageIds> {
  const holds = await ctx.deps.economy.holdOutcomes(accountId);
  const read = new Map<string, GenerationDoc>();
  const open = await Promise.all(holds.filter((h) => !h.outcome).map((h) => ctx.find(h.holdId)));
  for (const doc of open) if (doc) read.set(doc._id, doc);
  const matching = holds.filter((h) => (h.outcome ?? read.get(h.holdId)?.status) === status);
  return {
    total: matching.length,
    ids: matching.slice(skip, skip + HISTORY_PAGE_SIZE).map((h) => h.holdId),
    read,
  };
}
