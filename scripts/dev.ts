import { withLocalServices } from './with-services.js';

/**
 * `npm run dev`: local services if none are configured or running, then the `all` role with
 * the built-in local provider. Services keep running after the bot stops (data in .genbot/);
 * `npm run services:stop` stops them.
 */
await withLocalServices();
process.env.ROLE ??= 'all';
process.env.CONSOLE_MODERATORS ??= 'admin';
const { start } = await import('../src/roles.js');
const { loadConfig } = await import('../src/config.js');
const { createLogger } = await import('../src/logger.js');
const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY });
const { stop } = await start(config, logger);
process.stderr.write(
  '[dev] genbot is running. Try: npm run cli -- --as admin grant alice 100 && npm run cli -- --as alice generate "a red fox" --wait\n',
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stop().then(() => process.exit(0));
  });
}
