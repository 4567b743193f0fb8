import { describe, expect, it } from 'vitest';
import {
  BUILTIN_CATALOG_URL,
  Catalog,
  loadCatalog,
  offeredModels,
} from '../../src/catalog/catalog.js';
import { quote } from '../../src/core/pricing.js';

describe('model catalog', () => {
  it('hides the demo models in production once a real backend is configured', async () => {
    const full = await loadCatalog(BUILTIN_CATALOG_URL);
    const offer = (providers: string[], production: boolean, demoModels: 'auto' | 'on' | 'off') =>
      offeredModels(full, { providers, production, demoModels });

    const live = offer(['local', 'replicate'], true, 'auto');
    expect(live.catalog.list().some((m) => m.demo)).toBe(false);
    expect(live.catalog.defaultModel.provider).toBe('replicate');
    expect(live.onlyDemos).toBe(false);
    expect(live.hidden.filter((m) => m.demo).map((m) => m.id)).toContain('local-sketch');

    const shown = offer(['local', 'replicate'], true, 'on');
    expect(shown.catalog.defaultModel.id).toBe('local-sketch');

    // With no real backend the demos stay, and say so.
    const demoOnly = offer(['local'], true, 'auto');
    expect(demoOnly.catalog.list().every((m) => m.demo)).toBe(true);
    expect(demoOnly.onlyDemos).toBe(true);

    // Outside production the demos are always there.
    expect(offer(['local', 'replicate'], false, 'auto').catalog.defaultModel.id).toBe(
      'local-sketch',
    );
    expect(
      offer(['local', 'replicate'], false, 'off')
        .catalog.list()
        .some((m) => m.demo),
    ).toBe(false);
  });

  it('ships local demo models: images at different prices, one animation, one that takes an image', async () => {
    const catalog = (await loadCatalog(BUILTIN_CATALOG_URL)).restrictTo(['local']);
    const models = catalog.list();
    expect(models.every((m) => m.provider === 'local' && m.demo)).toBe(true);
    expect(models.filter((m) => m.kind === 'image')).toHaveLength(3);
    expect(models.filter((m) => m.kind === 'video')).toHaveLength(1);
    expect(models.filter((m) => m.capabilities.img2img).map((m) => m.id)).toEqual(['local-remix']);
    const prices = models.map((m) => quote(m, { ...m.defaults, count: 1 }).total);
    expect(new Set(prices).size).toBeGreaterThanOrEqual(3);
  });

  it('ships models for every real backend, the local ones first so a fresh install defaults to them', async () => {
    const catalog = await loadCatalog(BUILTIN_CATALOG_URL);
    expect(catalog.defaultModel.provider).toBe('local');
    expect(catalog.providers().sort()).toEqual(
      ['a1111', 'comfyui', 'fal', 'horde', 'kie', 'local', 'openai', 'replicate'].sort(),
    );
    const createProviders = (await import('../../src/providers/registry.js')).createProviders;
    const registry = createProviders({
      outputMaxBytes: 1024,
      settings: { local: {}, fal: { apiUrl: 'https://queue.fal.run', apiKey: 'k' } },
    });
    expect(registry.ids().sort()).toEqual(['fal', 'local']);
    // Every model that takes an input image says how many.
    for (const m of catalog.list().filter((x) => x.capabilities.img2img))
      expect(m.limits.maxInputImages, m.id).toBeGreaterThan(0);
  });

  it('rejects an invalid catalog at start-up, naming the field', () => {
    expect(() =>
      Catalog.fromEntries([
        {
          id: 'Bad Id',
          name: 'x',
          provider: 'local',
          ref: 'x',
          kind: 'image',
          limits: { maxWidth: 64, maxHeight: 64 },
          defaults: { width: 128, height: 64 },
        },
      ]),
    ).toThrow(
      /0\.id: model ids are lower-case[\s\S]*0\.defaults\.width: default width is outside the limits/,
    );
  });

  it('refuses duplicate ids and an unknown default model', () => {
    const entry = {
      id: 'a',
      name: 'a',
      provider: 'local',
      ref: 'a',
      kind: 'image' as const,
      limits: { maxWidth: 64, maxHeight: 64 },
      defaults: { width: 64, height: 64 },
    };
    expect(() => Catalog.fromEntries([entry, entry])).toThrow(/appears twice/);
    expect(() => Catalog.fromEntries([entry], 'zzz')).toThrow(/DEFAULT_MODEL "zzz"/);
  });

  it('names the available models when a member asks for an unknown one', () => {
    const entry = {
      id: 'a',
      name: 'a',
      provider: 'local',
      ref: 'a',
      kind: 'image' as const,
      limits: { maxWidth: 64, maxHeight: 64 },
      defaults: { width: 64, height: 64 },
    };
    expect(() => Catalog.fromEntries([entry]).get('b')).toThrow(
      'There is no model "b". Available: a. See /models for prices.',
    );
  });
});
