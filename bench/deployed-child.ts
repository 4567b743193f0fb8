import { performance } from 'node:perf_hooks';
import type { FromChild, ToChild } from './deployed-process.js';
import { startRole, type RunningRole } from './deployed-roles.js';

/**
 * The entry of one child process of the deployed benchmark, forked by deployed-process.ts
 * (`node --import tsx bench/deployed-child.ts`). It waits for `start`, runs its role, and then
 * does what the parent asks: `submit` (a bot half), `stop` (graceful, then exit). It reports
 * each generation that reached its member as `delivered`. If the parent goes away, so does it.
 */

const reply = (message: FromChild): void => {
  process.send?.(message);
};

let role: RunningRole | undefined;
let stopping = false;

async function submit(k: number, member: number): Promise<void> {
  const at = performance.now();
  try {
    if (!role?.submit) throw new Error('this role does not submit');
    const id = await role.submit(k, member);
    reply({ type: 'submitted', k, id, ms: performance.now() - at });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    reply({ type: 'submitted', k, ms: performance.now() - at, error: message });
  }
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const at = performance.now();
  await role?.stop();
  reply({ type: 'stopped', ms: performance.now() - at });
  process.exit(0);
}

process.on('message', (message: ToChild) => {
  switch (message.type) {
    case 'start':
      startRole(message.options, (id, ok) => reply({ type: 'delivered', id, ok })).then(
        (started) => {
          role = started.role;
          reply({ type: 'ready', startMs: started.startMs, sinceSpawnMs: performance.now() });
        },
        (error: unknown) => {
          console.error(`${message.options.role}: start failed:`, error);
          reply({
            type: 'failed',
            message: error instanceof Error ? error.message : String(error),
          });
          process.exit(1);
        },
      );
      break;
    case 'submit':
      void submit(message.k, message.member);
      break;
    case 'stop':
      stop().catch((error: unknown) => {
        console.error('stop failed:', error);
        process.exit(1);
      });
      break;
  }
});
// The bench went away (finished, killed, crashed): so does this process, at once.
process.once('disconnect', () => process.exit(0));
