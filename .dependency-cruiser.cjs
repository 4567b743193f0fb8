/**
 * Import boundaries of DESIGN.md:
 *   platforms -> commands -> (generation, economy, queue, store, catalog, delivery) -> core
 * plus: no circular imports anywhere, and adapters never talk to each other.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Circular imports make start-up order and testing fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-pure',
      severity: 'error',
      comment: 'src/core imports nothing of ours outside itself.',
      from: { path: '^src/core/' },
      to: { path: '^(src/(?!core/)|commands/)' },
    },
    {
      name: 'core-has-no-io',
      severity: 'error',
      comment: 'src/core may not import I/O libraries.',
      from: { path: '^src/core/' },
      to: {
        dependencyTypes: ['npm', 'core'],
        path: '(bullmq|ioredis|mongoose|mongodb|pino|sharp|discord\\.js|grammy|^fs|^net|^http|^https|^child_process)',
      },
    },
    {
      name: 'domain-does-not-know-commands-or-platforms',
      severity: 'error',
      comment:
        'Only platforms and the composition root may import commands; nothing imports platforms.',
      from: { path: '^src/(?!platforms/|main\\.ts|process-roles\\.ts|app\\.ts)' },
      to: { path: '^(commands/|src/platforms/)' },
    },
    {
      name: 'commands-do-not-know-platforms',
      severity: 'error',
      from: { path: '^commands/' },
      to: { path: '^src/(platforms|worker|providers)/' },
    },
    {
      name: 'chat-adapters-only-translate',
      severity: 'error',
      comment:
        'Discord and Telegram reach the domain through the command layer: they may name its types, never call its services.',
      from: { path: '^src/platforms/(discord|telegram)/' },
      to: {
        path: '^src/(economy|generation|worker|providers)/',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'platforms-are-independent',
      severity: 'error',
      comment: 'Adapters never talk to each other.',
      from: { path: '^src/platforms/([^/]+)/' },
      to: { path: '^src/platforms/(?!$1/)[^/]+/' },
    },
    {
      name: 'providers-only-know-core',
      severity: 'error',
      from: { path: '^src/providers/' },
      to: { path: '^src/(?!core/|providers/)' },
    },
    {
      name: 'catalog-only-knows-core',
      severity: 'error',
      from: { path: '^src/catalog/' },
      to: { path: '^src/(?!core/|catalog/)' },
    },
    {
      name: 'not-to-tests',
      severity: 'error',
      from: { path: '^(src|commands)/' },
      to: { path: '^tests/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
