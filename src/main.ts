import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { runRole } from './run-role.js';

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
  await runRole(config, createLogger({ level: config.logLevel }));
}

await main();
