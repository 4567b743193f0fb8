import { pino } from 'pino';
import type { Connection } from 'mongoose';
import { connectMongo } from '../../src/store/connection.js';
import {
  ensureIndexes,
  registerCollections,
  type Collections,
} from '../../src/store/collections.js';
import { testMongoUri, uniqueName } from './env.js';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestStore {
  conn: Connection;
  collections: Collections;
  close(): Promise<void>;
}

/** A real MongoDB-protocol database of its own for one test file, dropped at the end. */
export async function openTestStore(): Promise<TestStore> {
  const conn = await connectMongo(testMongoUri(uniqueName('genbot_test')), silentLogger);
  const collections = registerCollections(conn);
  await ensureIndexes(collections);
  return {
    conn,
    collections,
    close: async () => {
      await conn.dropDatabase().catch(() => undefined);
      await conn.close();
    },
  };
}
