import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { isDuplicateKey } from './server-errors.js';

/**
 * A secret this deployment makes once and keeps in MongoDB (collection `secrets`), for an
 * operator who sets none in the environment: the first process to start writes it, every
 * other one, now and after a restart, reads the same. One read at start-up, none after.
 */
export async function deploymentSecret(conn: Connection, name: string): Promise<Buffer> {
  const db = conn.db;
  if (!db) throw new Error('deployment secret: the MongoDB connection is not open');
  const secrets = db.collection<{ _id: string; value: string }>('secrets');
  const stored = await secrets.findOne({ _id: name });
  if (stored) return Buffer.from(stored.value, 'base64');
  const value = randomBytes(32).toString('base64');
  try {
    await secrets.insertOne({ _id: name, value });
    return Buffer.from(value, 'base64');
  } catch (error) {
    // Another process made it first: theirs is the one.
    if (!isDuplicateKey(error)) throw error;
    const winner = await secrets.findOne({ _id: name });
    if (!winner) throw error;
    return Buffer.from(winner.value, 'base64');
  }
}
