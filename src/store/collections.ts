import {
  Schema,
  type Types,
  type Collection,
  type Connection,
  type InferSchemaType,
  type Model,
} from 'mongoose';
import type { ResolvedRequest } from '../core/generation-request.js';
import type { Origin } from '../core/origin.js';
import { GENERATION_STATUSES } from '../core/status.js';
import { SETTLE_OUTCOMES, type LegacyProposal } from './recorded-result.js';

export { SETTLE_OUTCOMES };

/**
 * Mongoose schemas. The economy and generation code own the rules; these only shape the
 * documents. Ids are strings we choose, so every write can be made idempotent by `_id`.
 */

const accountSchema = new Schema(
  {
    _id: { type: String, required: true },
    displayName: { type: String, default: '' },
  },
  { timestamps: true, versionKey: false },
);

const identitySchema = new Schema(
  {
    /** `platform:id`, e.g. `console:alice`, `telegram:12345`. */
    _id: { type: String, required: true },
    accountId: { type: String, required: true, index: true },
    platform: { type: String, required: true },
    platformId: { type: String, required: true },
    displayName: { type: String, default: '' },
  },
  { timestamps: true, versionKey: false },
);

export const LEDGER_KINDS = ['grant', 'revoke', 'reserve', 'settle'] as const;

/**
 * One link in an account's chain of balance changes, stored as `_id = "<account>:<seq>"`.
 * Inserting the next link is the atomic commit point of a change on any MongoDB-protocol
 * server (a unique `_id` insert), and the head is found by probing `_id`s, the one lookup
 * every server answers from an index. `key` (unique) makes a repeated change a no-op.
 * Before this layout an entry's `_id` was its key; `migrateLedger` rewrites those.
 */
const ledgerEntrySchema = new Schema(
  {
    /** `<accountId>:<seq>`: see `linkId`. */
    _id: { type: String, required: true },
    /** The idempotency key: the same change asked twice is one entry. */
    key: { type: String, required: true },
    accountId: { type: String, required: true },
    seq: { type: Number, required: true },
    kind: { type: String, enum: LEDGER_KINDS, required: true },
    availableDelta: { type: Number, required: true },
    heldDelta: { type: Number, required: true },
    /** Change to the account's total (available + held). */
    amount: { type: Number, required: true },
    availableAfter: { type: Number, required: true },
    heldAfter: { type: Number, required: true },
    /** Reserve entries in the account's chain up to and including this one. */
    holds: { type: Number, default: 0 },
    /** For reserve and settle: the generation the hold belongs to. */
    holdId: { type: String },
    /** For settle: how the generation ended; the first settle decides it. */
    outcome: { type: String, enum: SETTLE_OUTCOMES },
    /**
     * For settle: the result that ending recorded (outputs, failures, error), so a finish cut
     * short after its settle is completed from the ledger alone. Read through
     * `recordedResultOf`.
     */
    result: { type: Schema.Types.Mixed, default: undefined },
    reason: { type: String },
    actor: { type: String },
  },
  { timestamps: true, versionKey: false, minimize: false },
);
// Sparse: entries of the old layout (no `key` yet) may coexist until they are migrated.
ledgerEntrySchema.index({ key: 1 }, { unique: true, sparse: true });
ledgerEntrySchema.index({ holdId: 1 });

const outputSchema = new Schema(
  {
    index: { type: Number, required: true },
    fileId: { type: String, required: true },
    mime: { type: String, required: true },
    bytes: { type: Number, required: true },
    sha256: { type: String, required: true },
    width: { type: Number, required: true },
    height: { type: Number, required: true },
    seed: { type: Number, required: true },
  },
  { _id: false },
);

const generationSchema = new Schema(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    /** Who asked, as `platform:id`. */
    requestedBy: { type: String, required: true },
    /** Their display name when they asked, for messages such as "this is alice's". */
    requesterName: { type: String },
    /** A hash of the request as asked (before defaults and seed), to tell a replay from reuse. */
    requestHash: { type: String },
    /** Where the member asked; the platform adapter reads it back to deliver. An `Origin`. */
    origin: { type: Schema.Types.Mixed, required: true },
    invocationKey: { type: String, required: true },
    /** A `ResolvedRequest`. */
    request: { type: Schema.Types.Mixed, required: true },
    model: { type: String, required: true },
    provider: { type: String, required: true },
    kind: { type: String, enum: ['image', 'video'], required: true },
    price: { type: Number, required: true },
    status: { type: String, enum: GENERATION_STATUSES, required: true },
    statusHistory: {
      type: [new Schema({ status: String, at: Date, note: String }, { _id: false })],
      default: [],
    },
    cancelRequested: { type: Boolean, default: false },
    attempts: { type: Number, default: 0 },
    /** Extra runs the reconciler gave after its job failed as stalled (at most one). */
    stallRetries: { type: Number, default: 0 },
    error: {
      type: new Schema({ code: String, message: String }, { _id: false }),
      default: undefined,
    },
    outputs: { type: [outputSchema], default: [] },
    failedOutputs: {
      type: [new Schema({ index: Number, code: String, message: String }, { _id: false })],
      default: [],
    },
    captured: { type: Number, default: 0 },
    queuePosition: { type: Number },
    /**
     * The result a worker of the release before was about to commit (a `LegacyProposal`); lets
     * the reconciler finish a finish it left cut short. This release records it with the settle.
     */
    proposed: { type: Schema.Types.Mixed, default: undefined },
    /** Set by the bot once the final result was handed to the platform (or had nowhere to go). */
    deliveredAt: { type: Date },
    /** Set when delivery gave up after its bounded retries; the reason is in the log. */
    deliveryFailedAt: { type: Date },
  },
  { timestamps: true, versionKey: false, minimize: false },
);
generationSchema.index({ accountId: 1, createdAt: -1 });
generationSchema.index({ status: 1, updatedAt: 1 });

export type AccountDoc = InferSchemaType<typeof accountSchema> & { _id: string };
export type IdentityDoc = InferSchemaType<typeof identitySchema> & { _id: string };

/** A ledger entry as stored; its Mixed `result` is read with `recordedResultOf`. */
export type LedgerEntryDoc = Omit<InferSchemaType<typeof ledgerEntrySchema>, 'result'> & {
  _id: string;
  result?: unknown;
};

/** A schema's inferred type with its document arrays as the plain arrays the driver stores. */
type PlainArrays<T> = {
  [K in keyof T]: T[K] extends Types.DocumentArray<infer E> ? E[] : T[K];
};

/**
 * A generation as the driver returns it. Its Mixed subdocuments are not checked by mongoose,
 * and older releases wrote them, so they stay `unknown` until `generationOf` reads them.
 */
export type StoredGeneration = Omit<
  PlainArrays<InferSchemaType<typeof generationSchema>>,
  'origin' | 'request' | 'proposed'
> & {
  _id: string;
  origin: unknown;
  request: unknown;
  proposed?: unknown;
};

/** A generation read back by `generationOf`: its subdocuments parsed and typed. */
export type GenerationDoc = Omit<StoredGeneration, 'origin' | 'request' | 'proposed'> & {
  /** Undefined: an origin this release cannot deliver to (a shape from an older release). */
  origin: Origin | undefined;
  request: ResolvedRequest;
  /** Only on a generation the release before left between its proposal and its status. */
  proposed?: LegacyProposal;
};

export interface Collections {
  Account: Model<AccountDoc>;
  Identity: Model<IdentityDoc>;
  LedgerEntry: Model<LedgerEntryDoc>;
  /** Read generations through `generationOf` (or `GenerationService.find`). */
  Generation: Model<StoredGeneration>;
  /**
   * The same collections for the driver straight, typed as stored: the hot path's reads and
   * writes, with documents our code builds whole and typed (every default and timestamp
   * written out). Hydrating, casting and validating a mongoose document costs about a
   * millisecond of CPU per command, more than the command's round trip on the embedded server.
   */
  direct: {
    identities: Collection<IdentityDoc>;
    ledger: Collection<LedgerEntryDoc>;
    generations: Collection<StoredGeneration>;
  };
}

/** Binds the schemas to one connection. Call once per connection. */
export function registerCollections(conn: Connection): Collections {
  return {
    Account: conn.model<AccountDoc>('Account', accountSchema, 'accounts'),
    Identity: conn.model<IdentityDoc>('Identity', identitySchema, 'identities'),
    LedgerEntry: conn.model<LedgerEntryDoc>('LedgerEntry', ledgerEntrySchema, 'ledger'),
    Generation: conn.model<StoredGeneration>('Generation', generationSchema, 'generations'),
    direct: {
      identities: conn.collection<IdentityDoc>('identities'),
      ledger: conn.collection<LedgerEntryDoc>('ledger'),
      generations: conn.collection<StoredGeneration>('generations'),
    },
  };
}

/** Creates indexes up front so the first member's request does not pay for it. */
export async function ensureIndexes(collections: Collections): Promise<void> {
  const { Account, Identity, LedgerEntry, Generation } = collections;
  await Promise.all([Account, Identity, LedgerEntry, Generation].map((m) => m.createIndexes()));
}
