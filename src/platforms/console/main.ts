import { runConsole } from './run-console.js';

/** Entry point of the console in production: `node dist/src/platforms/console/main.js ...`. */
await runConsole();
