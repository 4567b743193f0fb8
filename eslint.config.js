// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** I/O libraries that the pure domain must never import. */
const ioLibraries = [
  'bullmq',
  'ioredis',
  'mongoose',
  'mongodb',
  'pino',
  'sharp',
  'discord.js',
  'grammy',
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:child_process',
  'fs',
  'net',
  'http',
  'https',
  'child_process',
];

export default tseslint.config(
  {
    ignores: ['node_modules/', 'dist/', 'coverage/', 'reports/', '.genbot/', 'tools/ferretdb/bin/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: {
          allowDefaultProject: ['eslint.config.js', '.dependency-cruiser.cjs'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Async interface implementations without an await are normal here (ports, fakes).
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false } },
      ],
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        // An explicit default is a decision about the other cases, e.g. gateway opcodes a fake ignores.
        { considerDefaultExhaustiveForUnions: true },
      ],
      'no-console': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The pure domain: no I/O, and nothing of ours outside itself.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioLibraries.map((name) => ({
            name,
            message: 'src/core is pure: no I/O imports.',
          })),
          patterns: [
            { group: ['../*'], message: 'src/core imports nothing of ours outside itself.' },
          ],
        },
      ],
    },
  },
  {
    // Small rooms: a function fits on a screen, a file holds one concept. Tests, benchmarks,
    // scripts and tools are exempt (a test reads best as one story).
    files: ['src/**/*.ts', 'commands/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 400 }],
    },
  },
  {
    // Command-line entry points, tests, scripts and benchmarks may print.
    files: ['src/platforms/console/**/*.ts', 'scripts/**/*.ts', 'tests/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
