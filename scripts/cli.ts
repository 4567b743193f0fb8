import { withLocalServices } from './with-services.js';

/** `npm run cli -- ...`: the console surface, on the same local services as `npm run dev`. */
await withLocalServices();
process.env.CONSOLE_MODERATORS ??= 'admin';
await import('../src/platforms/console/main.js');
