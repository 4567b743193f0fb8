import { userInfo } from 'node:os';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../logger.js';
import { runCli } from './cli.js';

/** Entry point of `npm run cli`. Logs go to stderr at `warn` unless LOG_LEVEL says otherwise. */
async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), {
    app: async () => {
      const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env });
      const logger = createLogger({ level: config.logLevel, name: 'genbot-cli' }, process.stderr);
      return createApp(config, logger);
    },
    io: {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    },
    defaultUser: safeUser(),
  });
  process.exitCode = code;
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '') || 'operator';
  } catch {
    return 'operator';
  }
}

await main();
