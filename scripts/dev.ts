import { withLocalServices } from './with-services.js';

/**
 * `npm run dev`: local services if none are configured or running, then the `all` role with
 * the built-in local provider. Services keep running after the bot stops (data in .genbot/);
 * `npm run services:stop` stops them.
 */
await withLocalServices();
process.env.ROLE ??= 'all';
process.env.CONSOLE_MODERATORS ??= 'admin';
const { runRole } = await import('../src/run-role.js');
const { loadConfig } = await import('../src/config.js');
const { createLogger } = await import('../src/logger.js');
const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY });
await runRole(config, logger, {
  onRunning: () =>
    process.stderr.write(
      '[dev] genbot is running. Try: npm run cli -- --as admin grant alice 100 && npm run cli -- --as alice generate "a red fox" --wait\n',
    ),
});
