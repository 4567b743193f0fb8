import type { ChatContext } from '../../core/chat.js';
import { UserError } from '../../core/errors.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Console identities are plain names; `@bob` and `bob` are the same member. */
export function consoleName(raw: string): string {
  const name = raw.trim().replace(/^@/, '');
  if (!NAME.test(name)) {
    throw new UserError(
      'invalid_input',
      `"${raw}" is not a console member name (letters, digits, _ . - only).`,
    );
  }
  return name;
}

export function consoleContext(options: {
  as: string;
  moderators: readonly string[];
  invocationKey: string;
}): ChatContext {
  const name = consoleName(options.as);
  return {
    platform: 'console',
    actor: {
      identity: { platform: 'console', id: name },
      displayName: name,
      isModerator: options.moderators.includes(name),
    },
    invocationKey: options.invocationKey,
    // The console follows its own generations (`--wait`): nothing is delivered to it.
    openStatus: async () => ({ platform: 'console', user: name }),
    resolveMember: async (reference) => {
      const member = consoleName(reference);
      return { identity: { platform: 'console', id: member }, displayName: member };
    },
  };
}
