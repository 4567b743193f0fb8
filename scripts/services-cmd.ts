import { provisionServices, stopPersistentServices } from './services/provision.js';

/** `npm run services -- start|stop`: the local Redis and MongoDB-protocol server of `npm run dev`. */
const action = process.argv[2] ?? 'start';
const log = (line: string): void => {
  process.stderr.write(`[services] ${line}\n`);
};
if (action === 'stop') {
  await stopPersistentServices(log);
} else if (action === 'start') {
  const s = await provisionServices({ env: process.env, mode: 'persistent', log });
  process.stdout.write(`REDIS_URL=${s.redisUrl}\nMONGODB_URI=${s.mongodbUri}genbot\n`);
} else {
  process.stderr.write('usage: npm run services -- start|stop\n');
  process.exitCode = 2;
}
