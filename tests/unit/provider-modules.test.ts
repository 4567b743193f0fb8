import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { envSchema, loadConfig } from '../../src/config.js';
import { PROVIDER_MODULES } from '../../src/providers/index.js';
import type { ProviderModule } from '../../src/providers/provider-module.js';
import { createProviders } from '../../src/providers/registry.js';

const base = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/genbot',
};

/** The variables the backends share; every other one in that section belongs to a module. */
const SHARED = [
  'OUTPUT_MAX_MB',
  'PROVIDER_CONCURRENCY',
  'PROVIDER_RATE_LIMIT',
  'PROVIDER_CHARGE_STOPPED',
];

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const documented = (text: string) =>
  new Map(
    [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
const allDocumented = documented(example);
const backendsSection = documented(
  example.slice(
    example.indexOf('# --- Generation backends'),
    example.indexOf('# ---', example.indexOf('# --- Generation backends') + 1),
  ),
);

const varsOf = (module: ProviderModule) => Object.keys(module.env.shape);
const prefixOf = (module: ProviderModule) => `${module.id.toUpperCase()}_`;
/** A value each variable accepts: a URL for the URLs, a key for the rest. */
const sampleEnv = (module: ProviderModule) =>
  Object.fromEntries(
    varsOf(module).map((name) => [
      name,
      name.endsWith('_URL') ? 'http://backend.test:8080' : 'test-key',
    ]),
  );
const remote = PROVIDER_MODULES.filter((m) => m.id !== 'local');

describe('provider modules (a provider is one file plus one line in PROVIDER_MODULES)', () => {
  it('have unique ids, and variables named for their provider and described', () => {
    const ids = PROVIDER_MODULES.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const module of PROVIDER_MODULES)
      for (const name of varsOf(module)) {
        expect(name, module.id).toMatch(new RegExp(`^${prefixOf(module)}`));
        const schema = module.env.shape[name];
        expect(schema && z.globalRegistry.get(schema)?.description, name).toBeTruthy();
      }
  });

  it('own every provider variable of .env.example, each exactly once', () => {
    const owners = new Map<string, string[]>();
    for (const module of PROVIDER_MODULES)
      for (const name of varsOf(module)) owners.set(name, [...(owners.get(name) ?? []), module.id]);
    for (const [name, ids] of owners) expect(ids, name).toHaveLength(1);

    const unowned = [...backendsSection.keys()].filter((name) => !owners.has(name));
    expect(unowned.sort()).toEqual([...SHARED].sort());
    for (const name of allDocumented.keys()) {
      const prefixed = PROVIDER_MODULES.filter((m) => name.startsWith(prefixOf(m)));
      for (const module of prefixed) expect(varsOf(module), name).toContain(name);
    }
    for (const name of owners.keys()) {
      expect(backendsSection.has(name), name).toBe(true);
      expect(Object.keys(envSchema.shape), name).toContain(name);
    }
  });

  it('document their defaults in .env.example', () => {
    for (const module of PROVIDER_MODULES) {
      const defaults: Record<string, unknown> = module.env.parse({});
      for (const [name, value] of Object.entries(defaults))
        if (value !== undefined) expect(allDocumented.get(name), name).toBe(value);
    }
  });

  it('leave every backend off but the local one when none of their variables is set', () => {
    const config = loadConfig(base);
    expect(Object.keys(config.providers.settings)).toEqual(['local']);
    expect(createProviders(config.providers).ids()).toEqual(['local']);
  });

  it.each(remote.map((m) => [m.id, m] as const))(
    'configure %s, and only it, from its own variables, with the provider of that id',
    (id, module) => {
      const config = loadConfig({ ...base, ...sampleEnv(module) });
      expect(Object.keys(config.providers.settings).sort()).toEqual(['local', id].sort());
      expect(createProviders(config.providers).ids().sort()).toEqual(['local', id].sort());
    },
  );

  it("apply a module's default concurrency until PROVIDER_CONCURRENCY names the provider", () => {
    const withDefaults = PROVIDER_MODULES.filter((m) => m.defaults.concurrency !== undefined);
    expect(withDefaults.map((m) => m.id).sort()).toEqual(['a1111', 'comfyui']);
    expect(loadConfig(base).providers.concurrency).toEqual({ comfyui: 1, a1111: 1 });
    expect(
      loadConfig({ ...base, PROVIDER_CONCURRENCY: 'comfyui=3,fal=8' }).providers.concurrency,
    ).toEqual({ comfyui: 3, a1111: 1, fal: 8 });
  });
});
