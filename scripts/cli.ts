import { runConsole } from '../src/platforms/console/run-console.js';
import { withLocalServices } from './with-services.js';

/**
 * `npm run cli -- ...`: the console surface on the same local services as `npm run dev`.
 * Services are provisioned only when a command opens the app: `--help`, `help`, `models` and
 * bad input start none, and reusing running ones prints nothing.
 */
process.env.CONSOLE_MODERATORS ??= 'admin';
await runConsole({ beforeApp: () => withLocalServices({ quiet: true }) });
