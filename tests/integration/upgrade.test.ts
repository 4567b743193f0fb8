import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliverySink } from '../../src/delivery/sink.js';
import type { GenerationSummary } from '../../src/generation/summary.js';
import { linkId, reserveKey } from '../../src/economy/ledger.js';
import { DELIVER_JOB, deliveryJobId, GENERATE_JOB } from '../../src/queue/contracts.js';
import { createTestApp, fund, waitForStatus, type TestApp } from '../support/app.js';
import { until } from '../support/until.js';

/** Records deliveries, like a platform adapter would receive them. */
class RecordingSink implements DeliverySink {
  readonly platform = 'telegram';
  readonly delivered: { origin: Record<string, unknown>; generation: GenerationSummary }[] = [];
  async showProgress(): Promise<void> {}
  async deliver(origin: Record<string, unknown>, generation: GenerationSummary): Promise<void> {
    this.delivered.push({ origin, generation });
  }
}

/** One entry as the release before wrote it: its `_id` was its idempotency key. */
function oldEntry(
  key: string,
  accountId: string,
  seq: number,
  change: { kind: string; availableDelta: number; heldDelta: number; holdId?: string },
  after: { available: number; held: number },
  extra: Record<string, unknown> = {},
) {
  const at = new Date(Date.now() - 3_600_000 + seq * 1000);
  return {
    _id: key,
    accountId,
    seq,
    ...change,
    amount: change.availableDelta + change.heldDelta,
    availableAfter: after.available,
    heldAfter: after.held,
    createdAt: at,
    updatedAt: at,
    ...extra,
  };
}

/** A resolved request as the release before stored it. */
const oldRequest = {
  prompt: 'from before the upgrade',
  model: 't-fast',
  count: 1,
  width: 64,
  height: 64,
  steps: 4,
  guidance: 5,
  seed: 7,
  inputImages: [],
};

describe('data written by the release before this layout', () => {
  let app: TestApp;
  const sink = new RecordingSink();

  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  it('migrates a ledger to <account>:<seq> links once, keeping balances and keys', async () => {
    const ledger = app.collections.LedgerEntry.collection;
    const accountId = 'acc_upgrade_ledger';
    // The old layout's unique index, which would refuse the new copies.
    await ledger.createIndex({ accountId: 1, seq: 1 }, { unique: true });
    await ledger.insertMany([
      oldEntry(
        'grant:k1',
        accountId,
        1,
        { kind: 'grant', availableDelta: 50, heldDelta: 0 },
        { available: 50, held: 0 },
        { actor: 'mod', reason: 'funds' },
      ),
      oldEntry(
        'hold:gold1:reserve',
        accountId,
        2,
        { kind: 'reserve', availableDelta: -10, heldDelta: 10, holdId: 'gold1' },
        { available: 40, held: 10 },
      ),
      oldEntry(
        'hold:gold1:settle',
        accountId,
        3,
        { kind: 'settle', availableDelta: 6, heldDelta: -10, holdId: 'gold1' },
        { available: 46, held: 0 },
        { outcome: 'completed' },
      ),
    ] as never[]);
    // A migration cut short by a crash: its marker says so, the index is gone, the copy of
    // entry 1 is in, and its original is not deleted yet.
    await app.conn
      .collection<{ _id: string; done: boolean }>('migrations')
      .insertOne({ _id: 'ledger-links-v2', done: false });
    await ledger.dropIndex('accountId_1_seq_1');
    await ledger.insertOne({
      ...oldEntry(
        'grant:k1',
        accountId,
        1,
        { kind: 'grant', availableDelta: 50, heldDelta: 0 },
        { available: 50, held: 0 },
        { actor: 'mod', reason: 'funds' },
      ),
      _id: linkId(accountId, 1),
      key: 'grant:k1',
    } as never);

    expect(await app.economy.migrateLedger()).toBe(3);
    expect(await ledger.countDocuments({ accountId })).toBe(3);
    expect(
      (await ledger.find({ accountId }).sort({ seq: 1 }).toArray()).map((e) => [
        String(e._id),
        String(e.key),
      ]),
    ).toEqual([
      [linkId(accountId, 1), 'grant:k1'],
      [linkId(accountId, 2), 'hold:gold1:reserve'],
      [linkId(accountId, 3), 'hold:gold1:settle'],
    ]);
    expect(await app.economy.balance(accountId)).toEqual({ available: 46, held: 0 });
    expect(await app.economy.check()).toEqual([]);
    // The chain, with its running count of holds, is the member's /history index.
    expect(await app.economy.recentHolds(accountId, { skip: 0, limit: 5 })).toEqual({
      total: 1,
      holdIds: ['gold1'],
    });
    // Idempotency keys written before the upgrade still hold after it.
    const again = await app.economy.grant({
      accountId,
      amount: 50,
      key: 'k1',
      actor: 'mod',
      reason: 'funds',
    });
    expect(again).toEqual({ available: 46, held: 0 });
    expect(await app.economy.settlement('gold1')).toMatchObject({
      captured: 4,
      outcome: 'completed',
    });
    // New changes continue the same chain.
    await app.economy.grant({ accountId, amount: 5, key: 'k2', actor: 'mod', reason: 'more' });
    expect(await ledger.findOne({ _id: linkId(accountId, 4) } as never)).toMatchObject({
      key: 'grant:k2',
      availableAfter: 51,
    });
    expect(await app.economy.migrateLedger()).toBe(0);
    expect(await app.economy.check()).toEqual([]);

    // A ledger still under the old unique (accountId, seq) index: migrating drops the index.
    await ledger.createIndex({ accountId: 1, seq: 1 }, { unique: true });
    await ledger.insertOne(
      oldEntry(
        'grant:other',
        'acc_upgrade_other',
        1,
        { kind: 'grant', availableDelta: 3, heldDelta: 0 },
        { available: 3, held: 0 },
      ) as never,
    );
    expect(await app.economy.migrateLedger()).toBe(1);
    expect((await ledger.indexes()).map((i) => i.name)).not.toContain('accountId_1_seq_1');
    expect(await app.economy.balance('acc_upgrade_other')).toEqual({ available: 3, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });

  it('runs a generation job and delivers a delivery job queued by the release before', async () => {
    await app.startDelivery([sink]);
    await app.startWorkers();
    // A generation as the old release left it: queued, its points held, a v1 job waiting.
    const accountId = await fund(app, 'olga', 20);
    const id = 'oldgen0000000001';
    const request = {
      prompt: 'from before the upgrade',
      model: 't-fast',
      count: 1,
      width: 64,
      height: 64,
      steps: 4,
      guidance: 5,
      seed: 7,
      inputImages: [],
    };
    await app.collections.Generation.create({
      _id: id,
      accountId,
      requestedBy: 'telegram:77',
      requesterName: 'olga',
      origin: { platform: 'telegram', chatId: 77, messageId: 1 },
      invocationKey: 'telegram:update:77',
      request,
      model: 't-fast',
      provider: 'local',
      kind: 'image',
      price: 4,
      status: 'queued',
      statusHistory: [
        { status: 'pending', at: new Date() },
        { status: 'queued', at: new Date() },
      ],
    });
    await app.economy.reserve({ accountId, amount: 4, holdId: id });
    await app.queues.generation('local').add(
      GENERATE_JOB,
      {
        v: 1,
        generationId: id,
        accountId,
        provider: 'local',
        model: 't-fast',
        price: 4,
        request,
      },
      { jobId: id },
    );
    const done = await waitForStatus(app, id);
    expect(done).toMatchObject({ status: 'completed', captured: 4 });
    await until('the old job delivered', () => sink.delivered.some((d) => d.generation.id === id));
    const delivered = sink.delivered.find((d) => d.generation.id === id)!;
    expect(delivered.origin).toEqual({ platform: 'telegram', chatId: 77, messageId: 1 });
    expect(delivered.generation.outputs).toHaveLength(1);
    expect(await app.economy.holdOf(id)).toBe(true);
    expect(await app.collections.LedgerEntry.countDocuments({ key: reserveKey(id) })).toBe(1);

    // A v1 delivery job (id only) of a generation that finished before the upgrade.
    await app.queues
      .legacyDeliveries()
      .add(DELIVER_JOB, { v: 1, generationId: id }, { jobId: `${deliveryJobId(id)}-old` });
    await until(
      'the v1 delivery',
      () => sink.delivered.filter((d) => d.generation.id === id).length === 2,
    );
    expect(sink.delivered.filter((d) => d.generation.id === id)[1]?.generation.status).toBe(
      'completed',
    );
    expect(await app.economy.check()).toEqual([]);
  });

  it('finishes a generation the release before left between its settle and its status, from its proposal', async () => {
    // The release before wrote its result to the generation (`proposed`, with `error: null`
    // when there was none), then settled without recording a result, then died.
    const accountId = await fund(app, 'pia', 20);
    const id = 'oldgen0000000002';
    const stored = await app.media.put(Buffer.from('an old output'), {
      filename: `${id}-0.png`,
      contentType: 'image/png',
    });
    const output = { index: 0, ...stored, mime: 'image/png', width: 64, height: 64, seed: 9 };
    await app.collections.Generation.create({
      _id: id,
      accountId,
      requestedBy: 'telegram:78',
      requesterName: 'pia',
      origin: { platform: 'telegram', chatId: 78, messageId: 2 },
      invocationKey: 'telegram:update:78',
      request: { ...oldRequest, prompt: 'proposed before the upgrade', seed: 9 },
      model: 't-fast',
      provider: 'local',
      kind: 'image',
      price: 4,
      status: 'processing',
      statusHistory: [{ status: 'queued', at: new Date() }],
      proposed: { outcome: 'completed', outputs: [output], failedOutputs: [], error: null },
    });
    await app.economy.reserve({ accountId, amount: 4, holdId: id });
    await app.economy.settle({ holdId: id, capture: 4, outcome: 'completed' });

    expect(await app.reconciler.run(0)).toMatchObject({ finished: 1 });
    const done = await app.generations.summary(id);
    expect(done).toMatchObject({ status: 'completed', captured: 4 });
    expect(done.outputs).toEqual([output]);
    expect(done.error).toBeUndefined();
    expect((await app.collections.Generation.findById(id).lean())?.proposed).toBeUndefined();
    await until('the proposed result delivered', () =>
      sink.delivered.some((d) => d.generation.id === id),
    );
    expect(await app.economy.balance(accountId)).toEqual({ available: 16, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });

  it('reads a generation whose origin this release cannot deliver to', async () => {
    const accountId = await fund(app, 'quin', 20);
    const id = 'oldgen0000000003';
    // An origin without a Discord interaction, as an older release could write one.
    await app.collections.Generation.create({
      _id: id,
      accountId,
      requestedBy: 'discord:79',
      origin: { platform: 'discord' },
      invocationKey: 'discord:79',
      request: oldRequest,
      model: 't-fast',
      provider: 'local',
      kind: 'image',
      price: 4,
      status: 'failed',
      statusHistory: [{ status: 'failed', at: new Date() }],
    });
    const doc = await app.generations.find(id);
    expect(doc?.origin).toBeUndefined();
    expect(doc?.request).toEqual(oldRequest);
    expect(await app.generations.summary(id)).toMatchObject({
      status: 'failed',
      prompt: oldRequest.prompt,
    });
    expect(await app.generations.card(id)).toBeUndefined();
    // Nowhere to deliver it: nothing is queued.
    expect(await app.generations.redeliver(doc!)).toBe(false);
  });

  it('refuses to read a generation whose request is damaged, naming it', async () => {
    const accountId = await fund(app, 'rue', 20);
    const id = 'oldgen0000000004';
    await app.collections.Generation.create({
      _id: id,
      accountId,
      requestedBy: 'console:rue',
      origin: { platform: 'console', user: 'rue' },
      invocationKey: 'console:rue:1',
      request: { prompt: 'no size' },
      model: 't-fast',
      provider: 'local',
      kind: 'image',
      price: 4,
      status: 'failed',
    });
    await expect(app.generations.find(id)).rejects.toThrow(
      `generation ${id}: its stored request cannot be read`,
    );
  });

  it('reads a request accepted under limits this release no longer has', async () => {
    const accountId = await fund(app, 'sol', 20);
    const id = 'oldgen0000000005';
    const generous = { ...oldRequest, count: 9, prompt: 'x'.repeat(5000) };
    await app.collections.Generation.create({
      _id: id,
      accountId,
      requestedBy: 'console:sol',
      origin: { platform: 'console', user: 'sol' },
      invocationKey: 'console:sol:1',
      request: generous,
      model: 't-fast',
      provider: 'local',
      kind: 'image',
      price: 4,
      status: 'failed',
    });
    expect((await app.generations.find(id))?.request).toEqual(generous);
  });

  it('repairs the other generations when one unfinished generation cannot be read', async () => {
    const accountId = await fund(app, 'tam', 20);
    const base = {
      accountId,
      requestedBy: 'console:tam',
      origin: { platform: 'console', user: 'tam' },
      model: 't-fast',
      provider: 'local',
      kind: 'image',
      price: 4,
      status: 'queued',
      updatedAt: new Date(Date.now() - 3_600_000),
    };
    await app.collections.Generation.create({
      ...base,
      _id: 'oldgen0000000006',
      invocationKey: 'console:tam:1',
      request: { prompt: 'damaged' },
    });
    // Its job is gone and nothing was held: the full sweep fails it.
    await app.collections.Generation.create({
      ...base,
      _id: 'oldgen0000000007',
      invocationKey: 'console:tam:2',
      request: oldRequest,
    });
    const report = await app.reconciler.run(0, { scope: 'full' });
    expect(report.abandoned + report.failed).toBeGreaterThanOrEqual(1);
    expect((await app.generations.summary('oldgen0000000007')).status).toBe('failed');
    await app.collections.Generation.deleteOne({ _id: 'oldgen0000000006' });
  });
});
