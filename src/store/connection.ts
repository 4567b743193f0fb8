import mongoose, { type Connection } from 'mongoose';
import { redactUrl } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Opens a dedicated mongoose connection (not the global default), so tests and tools can
 * hold several side by side and close each cleanly.
 */
export async function connectMongo(uri: string, logger: Logger): Promise<Connection> {
  const conn = mongoose.createConnection(uri, {
    serverSelectionTimeoutMS: 10_000,
    // FerretDB and a standalone mongod have no retryable writes; we rely on our own idempotency.
    retryWrites: false,
    autoIndex: true,
  });
  try {
    await conn.asPromise();
  } catch (error) {
    throw new Error(`cannot connect to MongoDB at ${redactUrl(uri)}`, { cause: error });
  }
  logger.info({ mongodb: redactUrl(uri) }, 'connected to MongoDB');
  return conn;
}
