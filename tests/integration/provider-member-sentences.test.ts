import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberMessage, ProviderError } from '../../src/core/errors.js';
import type { Provider, ProviderJob } from '../../src/core/provider.js';
import { MEMBER_SENTENCES } from '../../src/providers/http/errors.js';
import type { ProviderLogger } from '../../src/providers/provider-module.js';
import { createProviders } from '../../src/providers/registry.js';
import { FakeBackend } from '../fakes/providers/fake-backend.js';
import { directJob } from '../support/provider-contract.js';

/** What a logger was told, fields and all. */
function recordingLogger(): ProviderLogger & {
  lines: { level: string; fields: object; message: string }[];
} {
  const lines: { level: string; fields: object; message: string }[] = [];
  return {
    lines,
    debug: (fields, message) => lines.push({ level: 'debug', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
  };
}

/**
 * A backend's error text names what the operator runs (checkpoint files, paths in a stack
 * trace) and what the account owes: members read a fixed sentence for each kind of failure,
 * and the backend's words go to the operator's log, at warn, with the provider and the
 * generation they ended.
 */
describe('what members read when a backend fails', () => {
  let backend: FakeBackend;
  /** The next answer of each route, set by each test. */
  const answers = new Map<string, { status?: number; json: unknown }>();
  const logger = recordingLogger();
  let providers: ReturnType<typeof createProviders>;

  beforeAll(async () => {
    backend = await new FakeBackend().start();
    const answer = (name: string) => () => answers.get(name) ?? { json: {} };
    backend
      .route('POST', /^\/prompt$/, answer('comfyui-prompt'))
      .route('GET', /^\/history\/.+$/, answer('comfyui-history'))
      .route('POST', /^\/v1\/models\/.+\/predictions$/, answer('replicate-create'))
      .route('GET', /^\/v1\/predictions\/.+$/, answer('replicate-poll'))
      .route('POST', /^\/v1\/predictions\/.+\/cancel$/, () => ({ json: {} }));
    providers = createProviders(
      {
        outputMaxBytes: 1024 * 1024,
        settings: {
          comfyui: { apiUrl: backend.url, workflowsDir: undefined },
          replicate: { apiUrl: backend.url, apiKey: 'r8_test' },
        },
      },
      logger,
    );
  });

  afterAll(async () => {
    await backend?.stop();
  });

  async function failure(provider: Provider, job: ProviderJob): Promise<ProviderError> {
    logger.lines.length = 0;
    const error: unknown = await provider
      .generate(job, { signal: AbortSignal.timeout(10_000), onProgress: () => undefined })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert(error instanceof ProviderError);
    return error;
  }

  /** The warn line the failure left, which must hold the backend's words. */
  function logged(generationId: string) {
    return logger.lines.filter(
      (l) =>
        l.level === 'warn' && 'generationId' in l.fields && l.fields.generationId === generationId,
    );
  }

  it('does not show a checkpoint name ComfyUI refused, and logs it', async () => {
    answers.set('comfyui-prompt', {
      status: 400,
      json: {
        error: {
          type: 'prompt_outputs_failed_validation',
          message: 'Prompt outputs failed validation',
          details: '',
          extra_info: {},
        },
        node_errors: {
          '4': {
            class_type: 'CheckpointLoaderSimple',
            dependent_outputs: ['9'],
            errors: [
              {
                type: 'value_not_in_list',
                message: 'Value not in list',
                details: "ckpt_name: 'private-client-lora.safetensors' not in ['sdxl.safetensors']",
              },
            ],
          },
        },
      },
    });
    const job = directJob('comfyui', 'private-client-lora.safetensors')();
    const error = await failure(providers.get('comfyui'), { ...job, generationId: 'gen-comfy' });
    expect(error.code).toBe('provider_failed');
    expect(memberMessage(error)).toBe(MEMBER_SENTENCES.badRequest);
    expect(logged('gen-comfy')).toEqual([
      {
        level: 'warn',
        message: 'the backend said why the generation failed',
        fields: expect.objectContaining({
          provider: 'comfyui',
          generationId: 'gen-comfy',
          code: 'provider_failed',
          backendText: expect.stringContaining('private-client-lora.safetensors') as unknown,
        }) as unknown,
      },
    ]);
  });

  it('does not show the stack trace of a failed ComfyUI run, and logs it', async () => {
    answers.set('comfyui-prompt', { json: { prompt_id: 'p1', number: 1 } });
    const trace =
      'File "/home/alice/ComfyUI/execution.py", line 152: torch.OutOfMemoryError: CUDA out of memory';
    answers.set('comfyui-history', {
      json: {
        p1: {
          outputs: {},
          status: {
            status_str: 'error',
            completed: false,
            messages: [['execution_error', { prompt_id: 'p1', exception_message: trace }]],
          },
        },
      },
    });
    const job = directJob('comfyui', 'sdxl.safetensors')();
    const error = await failure(providers.get('comfyui'), { ...job, generationId: 'gen-trace' });
    expect(memberMessage(error)).toBe(MEMBER_SENTENCES.failed);
    expect(logged('gen-trace')[0]?.fields).toMatchObject({
      provider: 'comfyui',
      backendText: expect.stringContaining('/home/alice/ComfyUI/execution.py') as unknown,
    });
  });

  it('does not show why a Replicate prediction failed, and logs it', async () => {
    answers.set('replicate-create', { status: 201, json: { id: 'pr1', status: 'starting' } });
    const reason = 'Traceback: /src/predict.py line 88: weights for client-acme-v3 not found';
    answers.set('replicate-poll', { json: { id: 'pr1', status: 'failed', error: reason } });
    const job = directJob('replicate', 'owner/model')();
    const error = await failure(providers.get('replicate'), { ...job, generationId: 'gen-rep' });
    expect(memberMessage(error)).toBe(MEMBER_SENTENCES.failed);
    expect(memberMessage(error)).not.toMatch(/acme|predict\.py/);
    expect(logged('gen-rep')[0]?.fields).toMatchObject({
      provider: 'replicate',
      generationId: 'gen-rep',
      backendText: reason,
    });
  });

  it('does not show a content refusal’s wording, and logs it', async () => {
    answers.set('replicate-create', {
      status: 422,
      json: { detail: 'NSFW content detected in prompt "a portrait of Jane Roe"' },
    });
    const job = directJob('replicate', 'owner/model')();
    const error = await failure(providers.get('replicate'), { ...job, generationId: 'gen-nsfw' });
    expect(error.code).toBe('provider_refused');
    expect(memberMessage(error)).toBe(MEMBER_SENTENCES.refused);
    expect(logged('gen-nsfw')[0]?.fields).toMatchObject({
      backendText: expect.stringContaining('Jane Roe') as unknown,
    });
  });
});
