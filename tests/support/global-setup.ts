import type { TestProject } from 'vitest/node';
import { provisionServices } from '../../scripts/services/provision.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    mongodbUri: string;
  }
}

/**
 * Starts one Redis and one MongoDB-protocol server for the whole run (or uses REDIS_URL and
 * MONGODB_URI), on loopback, and stops them afterwards. Each test file isolates itself with
 * its own database name and queue prefix.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await provisionServices({
    env: process.env,
    mode: 'ephemeral',
    log: (line) => console.log(`[test services] ${line}`),
  });
  project.provide('redisUrl', services.redisUrl);
  project.provide('mongodbUri', services.mongodbUri);
  return () => services.stop();
}
