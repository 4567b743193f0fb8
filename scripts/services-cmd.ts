import { provisionServices, stopPersistentServices } from './services/provision.js';

/** `npm run services -- start|stop`: the local Redis and MongoDB-protocol server of `npm run dev`. */
const action = process.argv[2] ?? 'start';
const log = (line: string): void => {
  process.stderr.write(`[services] ${line}\n`);
};
try {
  if (action === 'stop') {
    await stopPersistentServices(log, { env: process.env });
  } else if (action === 'start') {
    const s = await provisionServices({ env: process.env, mode: 'persistent', log });
    const mongodbUri = s.mongodbUri.endsWith('/') ? `${s.mongodbUri}genbot` : s.mongodbUri;
    process.stdout.write(`REDIS_URL=${s.redisUrl}\nMONGODB_URI=${mongodbUri}\n`);
  } else {
    process.stderr.write('usage: npm run services -- start|stop\n');
    process.exitCode = 2;
  }
} catch (error) {
  process.stderr.write(`[services] ${(error as Error).message}\n`);
  process.exitCode = 1;
}
