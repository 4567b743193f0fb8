import { FakeBackend, type Recorded, type Reply } from './fake-backend.js';

const KEY = 'kie_test';

/** Aspect ratios Imagen 4 (fast) takes in `input.aspect_ratio`. */
const IMAGEN_RATIOS = ['1:1', '16:9', '9:16', '3:4', '4:3'];
/** Veo 3 renders 16:9 or 9:16 (or lets Kie choose with "Auto"). */
const VEO_RATIOS = ['16:9', '9:16', 'Auto'];
const VEO_MODELS = ['veo3', 'veo3_fast'];

interface Task {
  kind: 'market' | 'veo';
  model: string;
  param: unknown;
  polls: number;
  createTime: number;
}

/**
 * Kie.ai (https://docs.kie.ai). Every call wants `Authorization: Bearer <key>` and every
 * answer is the envelope `{ code, msg, data }`, where `code` is Kie's own status: 200, or 401
 * (unauthorized), 402 (no credit), 422 (validation), 429 (rate limited), 455 (maintenance),
 * 500, 501, 505. Kie often answers such errors with HTTP 200, so this fake does too for a bad
 * key, a bad body, an unknown task and the 'unauthorized' and 'error-then-success' scenarios;
 * 'rate-limited' is a real HTTP 429 with Retry-After.
 *
 * Market (unified task API): POST /api/v1/jobs/createTask `{ model, input, callBackUrl? }` →
 * `data.taskId`; GET /api/v1/jobs/recordInfo?taskId= → `data.state` waiting, generating, then
 * success with `resultJson` (a JSON string holding `resultUrls`) or fail with failCode/failMsg.
 *
 * Veo 3: POST /api/v1/veo/generate `{ prompt, model, aspectRatio, seeds?, ... }` →
 * `data.taskId`; GET /api/v1/veo/record-info?taskId= → `data.successFlag` 0 (generating),
 * 1 (done, `response.resultUrls`), 2 or 3 (failed, `errorCode`/`errorMessage`).
 *
 * Kie has no cancel call.
 */
export async function fakeKie(): Promise<FakeBackend> {
  const backend = await new FakeBackend().start();
  const tasks = new Map<string, Task>();
  let next = 0;

  const answer = (code: number, msg: string, data: unknown = null): Reply => ({
    json: { code, msg, data },
  });
  const ok = (data: unknown) => answer(200, 'success', data);
  const unauthorized = (req: Recorded): Reply | undefined =>
    req.headers.authorization === `Bearer ${KEY}`
      ? undefined
      : answer(401, 'You do not have access permissions');

  /**
   * The scenario's injection on a "create" call, shaped as Kie sends it: a bad key and a
   * server error as HTTP 200 with the code in the body, the rate limit as a real HTTP 429
   * with Retry-After, a broken body as is. Then the key check.
   */
  const beforeCreate = (req: Recorded): Reply | undefined => {
    const injected = backend.injectOnCreate((msg) => ({ code: 429, msg, data: null }));
    if (!injected) return unauthorized(req);
    switch (backend.scenario) {
      case 'unauthorized':
        return answer(401, 'You do not have access permissions');
      case 'error-then-success':
        return answer(500, 'Server Error');
      default:
        return injected;
    }
  };

  const createTask = (kind: Task['kind'], model: string, param: unknown): Reply => {
    next += 1;
    const taskId = `${kind === 'veo' ? 'veo_task_' : 'task_'}${String(next).padStart(6, '0')}`;
    tasks.set(taskId, { kind, model, param, polls: 0, createTime: Date.now() });
    return ok({ taskId });
  };

  /** The task a record-info call names, counting the poll. */
  const lookup = (kind: Task['kind'], url: URL): { taskId: string; task: Task } | undefined => {
    const taskId = url.searchParams.get('taskId') ?? '';
    const task = tasks.get(taskId);
    if (!task || task.kind !== kind) return undefined;
    task.polls += 1;
    return { taskId, task };
  };

  backend.route('POST', /^\/api\/v1\/jobs\/createTask$/, (req) => {
    const early = beforeCreate(req);
    if (early) return early;
    const body = (req.body ?? {}) as { model?: unknown; input?: Record<string, unknown> };
    if (typeof body.model !== 'string' || !body.model) return answer(422, 'model is required');
    if (!body.input || typeof body.input.prompt !== 'string' || !body.input.prompt)
      return answer(422, 'input.prompt is required');
    const ratio = body.input.aspect_ratio;
    if (ratio !== undefined && (typeof ratio !== 'string' || !IMAGEN_RATIOS.includes(ratio)))
      return answer(422, `aspect_ratio must be one of ${IMAGEN_RATIOS.join(', ')}`);
    return createTask('market', body.model, body);
  });

  backend.route('GET', /^\/api\/v1\/jobs\/recordInfo$/, async (req, url) => {
    const denied = unauthorized(req);
    if (denied) return denied;
    const found = lookup('market', url);
    if (!found) return answer(422, 'recordInfo is null');
    const { taskId, task } = found;
    const now = Date.now();
    const base = {
      taskId,
      model: task.model,
      param: JSON.stringify(task.param),
      resultJson: '',
      failCode: '',
      failMsg: '',
      costTime: null,
      completeTime: null,
      createTime: task.createTime,
      updateTime: now,
    };
    if (task.polls === 1) return ok({ ...base, state: 'waiting' });
    if (task.polls === 2 || backend.scenario === 'timeout')
      return ok({ ...base, state: 'generating' });
    const done = { costTime: now - task.createTime, completeTime: now };
    if (backend.scenario === 'refusal')
      return ok({
        ...base,
        ...done,
        state: 'fail',
        failCode: '400',
        failMsg:
          'Your prompt was flagged as sensitive content and was not processed. Please revise it and try again.',
      });
    const resultUrls = [await backend.outputUrl(`${taskId}-0.png`)];
    return ok({ ...base, ...done, state: 'success', resultJson: JSON.stringify({ resultUrls }) });
  });

  backend.route('POST', /^\/api\/v1\/veo\/generate$/, (req) => {
    const early = beforeCreate(req);
    if (early) return early;
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.prompt !== 'string' || !body.prompt) return answer(422, 'prompt is required');
    const model = body.model ?? 'veo3_fast';
    if (typeof model !== 'string' || !VEO_MODELS.includes(model))
      return answer(422, `model must be one of ${VEO_MODELS.join(', ')}`);
    const ratio = body.aspectRatio;
    if (ratio !== undefined && (typeof ratio !== 'string' || !VEO_RATIOS.includes(ratio)))
      return answer(422, `aspectRatio must be one of ${VEO_RATIOS.join(', ')}`);
    return createTask('veo', model, body);
  });

  backend.route('GET', /^\/api\/v1\/veo\/record-info$/, async (req, url) => {
    const denied = unauthorized(req);
    if (denied) return denied;
    const found = lookup('veo', url);
    if (!found) return answer(422, 'record is null');
    const { taskId, task } = found;
    const base = {
      taskId,
      paramJson: JSON.stringify(task.param),
      createTime: new Date(task.createTime).toISOString(),
      completeTime: null,
      response: null,
      errorCode: null,
      errorMessage: '',
      fallbackFlag: false,
    };
    if (task.polls <= 2 || backend.scenario === 'timeout') return ok({ ...base, successFlag: 0 });
    const completeTime = new Date().toISOString();
    if (backend.scenario === 'refusal')
      return ok({
        ...base,
        completeTime,
        successFlag: 2,
        errorCode: 400,
        errorMessage:
          'The content you submitted contains sensitive information and was rejected by the safety filter.',
      });
    const video = await backend.outputUrl(`${taskId}-0.png`);
    return ok({
      ...base,
      completeTime,
      successFlag: 1,
      response: { taskId, resultUrls: [video], originUrls: [video], resolution: '1080p' },
    });
  });

  return backend;
}
