import mongoose, { type Connection } from 'mongoose';
import { redactUrl } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Opens a dedicated mongoose connection (not the global default), so tests and tools can
 * hold several side by side and close each cleanly.
 *
 * One attempt: rejects with the driver's error when no server answers within `timeoutMs`
 * and closes the connection, so it does not go on trying in the background. The caller
 * decides whether to try again (start-up retries, see `createApp`).
 */
export async function connectMongo(
  uri: string,
  logger: Logger,
  options: { timeoutMs?: number } = {},
): Promise<Connection> {
  const conn = mongoose.createConnection(uri, {
    // Also how long a later operation waits for a server while MongoDB is away.
    serverSelectionTimeoutMS: 10_000,
    // FerretDB and a standalone mongod have no retryable writes; we rely on our own idempotency.
    retryWrites: false,
    autoIndex: true,
  });
  const timeoutMs = options.timeoutMs ?? 10_000;
  // What the driver's monitor last saw, for a timeout to say why (connection refused, ...).
  let lastFailure: string | undefined;
  const client = conn.getClient();
  const onHeartbeatFailed = (event: { failure?: Error }): void => {
    lastFailure = event.failure?.message;
  };
  client.on('serverHeartbeatFailed', onHeartbeatFailed);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      conn.asPromise(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(lastFailure ?? `no answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    // Closing the driver's client stops its server selection (mongoose's close would wait
    // for it); the connection's own rejection then has nobody waiting for it. What the
    // clean-up runs into is logged, not thrown: the caller gets the error that stopped us.
    const cleanUp = (step: string) => (e: unknown) =>
      logger.debug({ err: e, mongodb: redactUrl(uri) }, `failed MongoDB attempt: ${step}`);
    conn.asPromise().catch(cleanUp('the connection gave up'));
    await client.close(true).catch(cleanUp('could not close the client'));
    await conn.close(true).catch(cleanUp('could not close the connection'));
    throw error;
  } finally {
    clearTimeout(timer);
    client.off('serverHeartbeatFailed', onHeartbeatFailed);
  }
  logger.info({ mongodb: redactUrl(uri) }, 'connected to MongoDB');
  return conn;
}
