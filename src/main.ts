import { ServiceUnreachableError } from './connect-services.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { start } from './roles.js';

/** Entry point: `node dist/src/main.js [all|bot|worker]` (or ROLE). */
async function main(): Promise<void> {
  let config: Config;
  try {
    const role = process.argv[2];
    config = loadConfig(role ? { ...process.env, ROLE: role } : process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  process.on('unhandledRejection', (reason) =>
    logger.error({ err: reason }, 'unhandled rejection'),
  );
  let stop: () => Promise<void>;
  try {
    ({ stop } = await start(config, logger));
  } catch (error) {
    // One line an operator can act on: which variable, which host, what went wrong.
    if (error instanceof ServiceUnreachableError)
      logger.fatal(
        { variable: error.variable, endpoint: error.endpoint, attempts: error.attempts },
        error.message,
      );
    else logger.fatal({ err: error }, 'start-up failed');
    process.exit(1);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

await main();
