import { provisionServices } from './services/provision.js';

/**
 * Makes sure Redis and a MongoDB-protocol server are reachable (starting local ones in
 * .genbot/ when REDIS_URL / MONGODB_URI are not set), then puts their URLs in the
 * environment that the app's config reads.
 */
export async function withLocalServices(): Promise<void> {
  const services = await provisionServices({
    env: process.env,
    mode: 'persistent',
    log: (line) => process.stderr.write(`[services] ${line}\n`),
  });
  process.env.REDIS_URL = services.redisUrl;
  process.env.MONGODB_URI = services.mongodbUri.endsWith('/')
    ? `${services.mongodbUri}genbot`
    : services.mongodbUri;
}
