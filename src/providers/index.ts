import { localModule } from './local/local-provider.js';
import type { ProviderModule } from './provider-module.js';
import { a1111Module } from './remote/a1111.js';
import { comfyUiModule } from './remote/comfyui/comfyui.js';
import { falModule } from './remote/fal.js';
import { hordeModule } from './remote/horde.js';
import { kieModule } from './remote/kie.js';
import { openAiModule } from './remote/openai.js';
import { replicateModule } from './remote/replicate.js';

/**
 * Every provider this build knows. Config parses each one's variables and the registry
 * builds each one configured, in this order; adding a provider is its file and one line here.
 */
export const PROVIDER_MODULES: readonly ProviderModule[] = [
  localModule,
  replicateModule,
  falModule,
  openAiModule,
  comfyUiModule,
  a1111Module,
  hordeModule,
  kieModule,
];
