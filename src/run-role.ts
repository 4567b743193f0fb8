import { ServiceUnreachableError } from './connect-services.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { start } from './process-roles.js';

/**
 * Runs a role as this process's life: started, or one fatal line an operator can act on
 * (which variable, which host, what went wrong) and exit 1; then SIGINT/SIGTERM stop it
 * gracefully. `main.ts` (production) and `npm run dev` both run through here.
 */
export async function runRole(
  config: Config,
  logger: Logger,
  options: { onRunning?: () => void } = {},
): Promise<void> {
  process.on('unhandledRejection', (reason) =>
    logger.error({ err: reason }, 'unhandled rejection'),
  );
  let stop: () => Promise<void>;
  try {
    ({ stop } = await start(config, logger));
  } catch (error) {
    if (error instanceof ServiceUnreachableError)
      logger.fatal(
        { variable: error.variable, endpoint: error.endpoint, attempts: error.attempts },
        error.message,
      );
    else logger.fatal({ err: error }, 'start-up failed');
    logger.flush();
    process.exit(1);
  }
  options.onRunning?.();
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
