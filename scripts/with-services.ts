import { provisionServices } from './services/provision.js';

/**
 * Makes sure Redis and a MongoDB-protocol server are reachable (starting local ones in
 * .genbot/, or GENBOT_STATE_DIR, when REDIS_URL / MONGODB_URI are not set), then puts their
 * URLs in the environment that the app's config reads.
 *
 * `quiet`: print only what is actually done (starting, building, waiting), not what is reused.
 */
export async function withLocalServices(options: { quiet?: boolean } = {}): Promise<void> {
  const log = (line: string): void => {
    process.stderr.write(`[services] ${line}\n`);
  };
  const services = await provisionServices({
    env: process.env,
    mode: 'persistent',
    log,
    note: options.quiet ? () => undefined : log,
  });
  process.env.REDIS_URL = services.redisUrl;
  process.env.MONGODB_URI = services.mongodbUri.endsWith('/')
    ? `${services.mongodbUri}genbot`
    : services.mongodbUri;
}
