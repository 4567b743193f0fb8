import { ProviderError } from '../core/errors.js';
import type { Provider } from '../core/provider.js';
import type { ProviderLogger } from './provider-module.js';

/**
 * A provider whose failures leave the backend's own words in the operator's log. Members read
 * a fixed sentence per kind of failure (MEMBER_SENTENCES); what the backend said (a checkpoint
 * it lacks, a stack trace, a billing note) is logged here, at warn, with the provider and the
 * generation it ended, so the operator can still act on it.
 */
export function withBackendTextLog(provider: Provider, logger: ProviderLogger): Provider {
  return {
    id: provider.id,
    label: provider.label,
    async generate(job, ctx) {
      try {
        return await provider.generate(job, ctx);
      } catch (error) {
        if (error instanceof ProviderError && error.backendText !== undefined)
          logger.warn(
            {
              provider: provider.id,
              generationId: job.generationId,
              attempt: job.attempt,
              code: error.code,
              retryable: error.retryable,
              backendText: error.backendText,
            },
            'the backend said why the generation failed',
          );
        throw error;
      }
    },
  };
}
