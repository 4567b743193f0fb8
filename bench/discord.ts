import { createDiscordAdapter } from '../src/platforms/discord/discord-bot.js';
import { benchApp } from './support.js';
import { provisionServices } from '../scripts/services/provision.js';
import { FakeDiscord, type FakeInteraction } from '../tests/fakes/discord/fake-discord.js';
import { RedisKeys } from '../src/queue/keys.js';

/**
 * `npm run bench:discord [n]`: n slash commands (default 300; 2 in 5 are /generate, the rest
 * /balance and /history) dispatched over the gateway at once to the real discord.js client,
 * against the loopback fake Discord, on real Redis and a MongoDB-protocol server. Measures how
 * long each interaction waited for its deferral (Discord drops it after 3 s) and how long until
 * every reply showed its final state.
 */

const N = Number(process.argv[2] ?? 300);
const MEMBERS = 50;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

const services = await provisionServices({
  env: process.env,
  mode: 'ephemeral',
  log: (l) => console.error(`[bench] ${l}`),
});
const fake = await FakeDiscord.start();
try {
  const app = await benchApp(services);
  const config = app.config;
  const adapter = createDiscordAdapter({
    config: {
      token: fake.token,
      apiUrl: fake.apiUrl,
      guildIds: [],
      moderators: [],
      moderatorRoles: [],
      manageGuildModerates: false,
      priorityRoles: [],
    },
    services: app.services,
    media: app.media,
    redis: app.redis,
    keys: new RedisKeys(config.keyPrefix),
    logger: app.logger,
  });
  const members = Array.from({ length: MEMBERS }, (_, m) => ({
    id: `2000000000000000${String(m).padStart(2, '0')}`,
    name: `m${m}`,
  }));
  for (const m of members) {
    const accountId = await app.economy.ensureAccount({ platform: 'discord', id: m.id });
    await app.economy.grant({
      accountId,
      amount: N,
      key: `fund-${m.id}`,
      actor: 'bench',
      reason: 'bench',
    });
  }
  await app.startDelivery([adapter.sink]);
  await app.startWorkers();
  await adapter.start();

  const place = { channelId: '400000000000000001', guildId: '300000000000000001' };
  const t0 = Date.now();
  const burst: FakeInteraction[] = Array.from({ length: N }, (_, n) => {
    const who = members[n % MEMBERS] ?? members[0]!;
    return n % 5 < 2
      ? fake.slash('generate', { prompt: `bench ${n}`, model: 'bench' }, who, place)
      : fake.slash(n % 5 === 2 ? 'history' : 'balance', {}, who, place);
  });
  const dispatched = Date.now() - t0;
  await until(() => burst.every((i) => i.response || i.refused.length > 0), 30_000);
  const waits = burst.map((i) => (i.response?.at ?? Infinity) - i.dispatchedAt);
  const gens = burst.filter((_, n) => n % 5 < 2);
  const allFinal = await until(
    () =>
      gens.every((i) =>
        ['Done', 'Failed', 'Cancelled'].includes(fake.original(i)?.embeds[0]?.title ?? ''),
      ) && burst.every((i) => (fake.original(i)?.embeds.length ?? 0) > 0),
    300_000,
  );
  const finished = Date.now() - t0;

  console.log(
    `interactions:           ${N} at once (${gens.length} /generate), dispatched in ${dispatched} ms`,
  );
  console.log(
    `deferred after (ms):    p50 ${percentile(waits, 50)}  p95 ${percentile(waits, 95)}  max ${Math.max(...waits)}`,
  );
  console.log(`refused (too late):     ${burst.filter((i) => i.refused.length > 0).length}`);
  console.log(
    `every reply final:      ${allFinal ? `${(finished / 1000).toFixed(1)} s` : 'NOT within 300 s'} (worker concurrency ${config.worker.concurrency})`,
  );
  console.log(
    `429s / 4xx / 5xx:       ${fake.calls.filter((c) => c.status === 429).length} / ${fake.calls.filter((c) => c.status >= 400 && c.status < 500 && c.status !== 429).length} / ${fake.calls.filter((c) => c.status >= 500).length}`,
  );
  await adapter.stop();
  await app.conn.dropDatabase();
  await app.close();
} finally {
  await fake.stop();
  await services.stop();
}
