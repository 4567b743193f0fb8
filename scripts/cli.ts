import { userInfo } from 'node:os';
import { BUILTIN_CATALOG_URL, loadCatalog } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { runCli } from '../src/platforms/console/cli.js';
import { createProviders } from '../src/providers/registry.js';
import { withLocalServices } from './with-services.js';

/**
 * `npm run cli -- ...`: the console surface (as src/platforms/console/main.ts runs it), on the
 * same local services as `npm run dev`. Services are provisioned only when a command opens the
 * app: `--help`, `help`, `models` and bad input start none, and reusing running ones prints
 * nothing.
 */
process.env.CONSOLE_MODERATORS ??= 'admin';

const code = await runCli(process.argv.slice(2), {
  app: async () => {
    await withLocalServices({ quiet: true });
    // Loaded here: the app's modules take most of a second, which `--help` need not wait for.
    const { createApp } = await import('../src/app.js');
    const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env });
    const logger = createLogger({ level: config.logLevel, name: 'genbot-cli' }, process.stderr);
    return createApp(config, logger);
  },
  catalog: async () => {
    // These commands never connect, so the service URLs only need to be well formed.
    const config = loadConfig({
      LOG_LEVEL: 'warn',
      REDIS_URL: 'redis://127.0.0.1:6379',
      MONGODB_URI: 'mongodb://127.0.0.1:27017/genbot',
      ...process.env,
    });
    // The models the app would show: the catalog's, for the providers that are configured.
    const providers = createProviders(config.providers);
    const full = await loadCatalog(config.catalogFile ?? BUILTIN_CATALOG_URL, config.defaultModel);
    const hidden = full.list().some((m) => !providers.has(m.provider));
    return { config, catalog: hidden ? full.restrictTo(providers.ids()) : full };
  },
  io: {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  },
  defaultUser: safeUser(),
});
process.exitCode = code;

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '') || 'operator';
  } catch {
    return 'operator';
  }
}
