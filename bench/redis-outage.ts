import { performance } from 'node:perf_hooks';
import { provisionServices } from '../scripts/services/provision.js';
import { startOwnedRedis } from '../tests/support/servers.js';
import { benchApp } from './support.js';

/**
 * `npx tsx bench/redis-outage.ts [n]`: how long a member waits for an answer to /generate
 * while Redis is away. On a Redis of its own it builds the app, then for each way Redis
 * can be gone (stopped: connection refused; frozen with SIGSTOP: the socket stays open and
 * nothing answers) submits n generations one after another and prints how long each took to
 * be refused, then gives Redis back and prints how long until a submission is queued again.
 * The documented behaviour is a refusal at once with the points returned.
 */

const N = Number(process.argv[2] ?? 3);

const services = await provisionServices({
  env: process.env,
  mode: 'ephemeral',
  log: (l) => console.error(`[bench] ${l}`),
});
let redis = await startOwnedRedis();
try {
  const app = await benchApp({ ...services, redisUrl: redis.url });
  const accountId = await app.economy.ensureAccount({ platform: 'console', id: 'outage' });
  await app.economy.grant({
    accountId,
    amount: 1000,
    key: 'fund-outage',
    actor: 'bench',
    reason: 'bench',
  });
  let key = 0;
  const submit = async (): Promise<{ outcome: string; ms: number }> => {
    key += 1;
    const start = performance.now();
    const outcome = await app.generations
      .submit({
        requester: {
          identity: { platform: 'console', id: 'outage' },
          displayName: 'outage',
          isModerator: false,
        },
        invocationKey: `outage:${key}`,
        origin: { platform: 'console' },
        request: { prompt: `outage ${key}`, seed: key },
      })
      .then(
        () => 'queued',
        (e: unknown) => (e as { code?: string }).code ?? String(e),
      );
    return { outcome, ms: performance.now() - start };
  };
  const refusals = async (label: string): Promise<void> => {
    for (let i = 0; i < N; i += 1) {
      const { outcome, ms } = await submit();
      console.log(`${label}: submission ${i + 1} ${outcome} after ${ms.toFixed(0)} ms`);
    }
    console.log(`${label}: balance ${JSON.stringify(await app.economy.balance(accountId))}`);
  };
  const recovery = async (label: string): Promise<void> => {
    const start = performance.now();
    let last = await submit();
    let tries = 1;
    while (last.outcome !== 'queued' && tries < 200) {
      await new Promise((r) => setTimeout(r, 50));
      last = await submit();
      tries += 1;
    }
    console.log(
      `${label}: ${last.outcome} ${(performance.now() - start).toFixed(0)} ms after Redis came back (${tries} submissions)`,
    );
  };

  console.log(`healthy: ${(await submit()).outcome}`);
  const { port } = redis;
  await redis.stop();
  await refusals('stopped');
  redis = await startOwnedRedis(port);
  await recovery('stopped');

  redis.pause();
  await refusals('frozen');
  redis.resume();
  await recovery('frozen');

  await app.conn.dropDatabase();
  await app.close();
} finally {
  await redis.stop();
  await services.stop();
}
