import { userInfo } from 'node:os';
import { loadOfferedCatalog } from '../../catalog/catalog.js';
import { loadConfig, type Config } from '../../config.js';
import { createLogger } from '../../logger.js';
import { createProviders } from '../../providers/registry.js';
import { runCli } from './cli.js';

/** Placeholders for commands that never connect: only the URLs' form is checked. */
const UNUSED_SERVICES = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/genbot',
};

/**
 * The console surface as a process: `node dist/src/platforms/console/main.js` in production,
 * `npm run cli` in development (which passes `beforeApp` to start local services). The app,
 * and so Redis and MongoDB, is opened only by a command that needs it: `--help`, `help` and
 * `models` read the config and the catalog alone. Logs go to stderr at `warn` unless
 * LOG_LEVEL says otherwise.
 */
export async function runConsole(options: { beforeApp?: () => Promise<void> } = {}): Promise<void> {
  const env = () => ({ LOG_LEVEL: 'warn', ...process.env });
  const code = await runCli(process.argv.slice(2), {
    app: async () => {
      await options.beforeApp?.();
      // Loaded here: the app's modules take most of a second, which `--help` need not wait for.
      const { createApp } = await import('../../app.js');
      const config = loadConfig(env());
      const logger = createLogger({ level: config.logLevel, name: 'genbot-cli' }, process.stderr);
      return createApp(config, logger);
    },
    catalog: async () => {
      const config: Config = loadConfig({ ...UNUSED_SERVICES, ...env() });
      const { catalog } = await loadOfferedCatalog(
        {
          ...config,
          production: config.env === 'production',
          chargedWhenStopped: config.providers.chargedWhenStopped,
        },
        createProviders(config.providers).ids(),
      );
      return { config, catalog };
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
