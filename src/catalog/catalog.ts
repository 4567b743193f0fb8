import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { modelSpecSchema, type ModelSpec, type ModelSpecInput } from '../core/model-spec.js';

const catalogFileSchema = z.array(modelSpecSchema).min(1, { error: 'the catalog lists no model' });

/** A catalog file's contents as model specs, or an error listing every entry that is wrong. */
function parseCatalogFile(contents: unknown): ModelSpec[] {
  const parsed = catalogFileSchema.safeParse(contents);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`catalog is not valid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The models members can use, with their limits and prices. Immutable once built. */
export class Catalog {
  readonly #models: ReadonlyMap<string, ModelSpec>;
  readonly defaultModel: ModelSpec;
  /** Providers whose runs, once started, are charged in full when stopped (cancel, timeout). */
  readonly #chargedWhenStopped: ReadonlySet<string>;

  constructor(
    models: readonly ModelSpec[],
    defaultModelId?: string,
    chargedWhenStopped: Iterable<string> = [],
  ) {
    this.#chargedWhenStopped = new Set(chargedWhenStopped);
    const byId = new Map<string, ModelSpec>();
    for (const model of models) {
      if (byId.has(model.id)) throw new Error(`catalog: model id "${model.id}" appears twice`);
      byId.set(model.id, model);
    }
    this.#models = byId;
    const fallback = models[0];
    if (!fallback) throw new Error('catalog: no models');
    const chosen = defaultModelId === undefined ? fallback : byId.get(defaultModelId);
    if (!chosen) {
      throw new Error(`catalog: DEFAULT_MODEL "${defaultModelId}" is not in the catalog`);
    }
    this.defaultModel = chosen;
  }

  /** Validates raw entries (as written in a catalog file) and builds a catalog. */
  static fromEntries(entries: readonly ModelSpecInput[], defaultModelId?: string): Catalog {
    return new Catalog(parseCatalogFile(entries), defaultModelId);
  }

  /**
   * Whether a run of this model that is stopped after its backend started it (a cancel, the
   * model's time limit) costs its full price: its backend cannot stop the work and bills it
   * anyway (the operator's choice per provider, PROVIDER_CHARGE_STOPPED).
   */
  chargesStoppedRuns(model: ModelSpec | string): boolean {
    const spec = typeof model === 'string' ? this.find(model) : model;
    return spec !== undefined && this.#chargedWhenStopped.has(spec.provider);
  }

  list(): ModelSpec[] {
    return [...this.#models.values()];
  }

  find(id: string): ModelSpec | undefined {
    return this.#models.get(id);
  }

  /** The model a member named, or the default; an unknown id is the member's mistake. */
  get(id?: string): ModelSpec {
    if (id === undefined) return this.defaultModel;
    const model = this.#models.get(id.toLowerCase());
    if (!model) {
      throw new UserError(
        'unknown_model',
        `There is no model "${id}". Available: ${[...this.#models.keys()].join(', ')}. See /models for prices.`,
        { details: { model: id } },
      );
    }
    return model;
  }

  providers(): string[] {
    return [...new Set(this.list().map((m) => m.provider))];
  }

  /** Keeps only models whose provider is available, so members never see a dead model. */
  restrictTo(providerIds: readonly string[]): Catalog {
    const kept = this.list().filter((m) => providerIds.includes(m.provider));
    const keepDefault = kept.some((m) => m.id === this.defaultModel.id)
      ? this.defaultModel.id
      : undefined;
    return new Catalog(kept, keepDefault, this.#chargedWhenStopped);
  }
}

/**
 * What members are offered: models whose provider this process can run, and the demo models
 * by the operator's choice. In production, once a real backend is configured, members who
 * name no model must not pay for a demo picture: demos are hidden unless DEMO_MODELS=on.
 * `onlyDemos` says that what is left is nothing but demos (worth one warning in production).
 */
export function offeredModels(
  full: Catalog,
  options: {
    providers: readonly string[];
    demoModels: 'auto' | 'on' | 'off';
    production: boolean;
    /** Providers whose stopped runs are charged (see `Catalog.chargesStoppedRuns`). */
    chargedWhenStopped?: readonly string[];
  },
): { catalog: Catalog; hidden: ModelSpec[]; onlyDemos: boolean } {
  const runnable = full.list().filter((m) => options.providers.includes(m.provider));
  const hidden = full.list().filter((m) => !options.providers.includes(m.provider));
  const real = runnable.filter((m) => !m.demo);
  const showDemos =
    options.demoModels === 'on' ||
    (options.demoModels === 'auto' && (!options.production || real.length === 0)) ||
    real.length === 0;
  const kept = showDemos ? runnable : real;
  if (kept.length === 0) throw new Error('catalog: no model can run with the configured backends');
  const catalog = new Catalog(
    kept,
    kept.some((m) => m.id === full.defaultModel.id) ? full.defaultModel.id : undefined,
    options.chargedWhenStopped,
  );
  if (!showDemos) hidden.push(...runnable.filter((m) => m.demo));
  return { catalog, hidden, onlyDemos: real.length === 0 };
}

/** The catalog shipped with the bot: four local demo models and examples for every backend. */
export const BUILTIN_CATALOG_URL = new URL('./models.json', import.meta.url);

/** The operator's catalog (or the built-in one), narrowed to what members are offered. */
export async function loadOfferedCatalog(
  settings: {
    catalogFile: string | undefined;
    defaultModel: string | undefined;
    demoModels: 'auto' | 'on' | 'off';
    production: boolean;
    chargedWhenStopped: readonly string[];
  },
  providers: readonly string[],
): Promise<ReturnType<typeof offeredModels>> {
  const full = await loadCatalog(
    settings.catalogFile ?? BUILTIN_CATALOG_URL,
    settings.defaultModel,
  );
  return offeredModels(full, {
    providers,
    demoModels: settings.demoModels,
    production: settings.production,
    chargedWhenStopped: settings.chargedWhenStopped,
  });
}

export async function loadCatalog(path: string | URL, defaultModelId?: string): Promise<Catalog> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`catalog: cannot read ${String(path)}`, { cause: error });
  }
  try {
    return new Catalog(parseCatalogFile(raw), defaultModelId);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`catalog ${String(path)}: ${reason}`, { cause: error });
  }
}
