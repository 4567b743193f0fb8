import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** A fresh name per test file, so files running in parallel never share data. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export function testMongoUri(dbName: string): string {
  const base = new URL(inject('mongodbUri'));
  base.pathname = `/${dbName}`;
  return base.toString();
}

export function testRedisUrl(): string {
  return inject('redisUrl');
}
