import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { identityKey, type Identity } from '../core/identity.js';
import type { Collections } from '../store/collections.js';
import { isDuplicateKey } from '../store/server-errors.js';
import type { LedgerChain } from './chain.js';

/** Account ids are derived from the first identity, so concurrent first commands agree. */
export function accountIdFor(identity: Identity): string {
  return `acc_${createHash('sha256').update(identityKey(identity)).digest('hex').slice(0, 20)}`;
}

/** What `Accounts` reads and writes: the two collections, and the chain for welcome points. */
export interface AccountsDeps {
  collections: Pick<Collections, 'Account' | 'Identity' | 'direct'>;
  chain: LedgerChain;
  welcomePoints: number;
}

/**
 * Identities (a member on one platform) and the accounts that hold their points. Several
 * identities may one day share an account, so everything else keys by account, and finding
 * it is the first step of every command that touches points.
 */
export class Accounts {
  readonly #d: AccountsDeps;
  /**
   * Identity to account, as found: an identity's account never changes once made, so a
   * submit does not read it again (kept ten minutes, for when accounts can be linked).
   */
  readonly #known = new LRUCache<string, string>({ max: 50_000, ttl: 600_000 });

  constructor(deps: AccountsDeps) {
    this.#d = deps;
  }

  /** The account behind an identity, created (with any welcome points) on first use. */
  async ensure(identity: Identity, displayName = ''): Promise<string> {
    const { Account: accounts, Identity: identities } = this.#d.collections;
    const key = identityKey(identity);
    const existing = await identities.findById(key).lean();
    if (existing) {
      if (displayName && existing.displayName !== displayName) {
        await identities.updateOne({ _id: key }, { $set: { displayName } });
      }
      return existing.accountId;
    }
    const accountId = accountIdFor(identity);
    await ignoreDuplicate(accounts.create({ _id: accountId, displayName }));
    await ignoreDuplicate(
      identities.create({
        _id: key,
        accountId,
        platform: identity.platform,
        platformId: identity.id,
        displayName,
      }),
    );
    // A concurrent first use may have made the identity: the stored one answers.
    const identityDoc = await identities.findById(key).lean();
    if (!identityDoc) throw new Error(`identity ${key} vanished after insert`);
    await this.#welcome(identityDoc.accountId);
    return identityDoc.accountId;
  }

  /** The account of an identity, without creating one. */
  async find(identity: Identity): Promise<string | undefined> {
    const key = identityKey(identity);
    const known = this.#known.get(key);
    if (known) return known;
    // Every submit of a member this process has not seen asks this: the driver straight.
    const doc = await this.#d.collections.direct.identities.findOne(
      { _id: key },
      { projection: { accountId: 1 } },
    );
    if (doc) this.#known.set(key, doc.accountId);
    return doc?.accountId;
  }

  /** The welcome grant, keyed by account so the losers of a concurrent first use add none. */
  async #welcome(accountId: string): Promise<void> {
    const points = this.#d.welcomePoints;
    if (points <= 0) return;
    await this.#d.chain.append(accountId, `welcome:${accountId}`, () => ({
      kind: 'grant',
      availableDelta: points,
      heldDelta: 0,
      actor: 'system',
      reason: 'welcome points',
    }));
  }
}

async function ignoreDuplicate(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}
