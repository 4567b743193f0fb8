import type { Identity, Platform } from './identity.js';
import type { Origin } from './origin.js';

export interface Actor {
  identity: Identity;
  displayName: string;
  /** Decided by the adapter from the operator's settings (ids, roles, admin rights). */
  isModerator: boolean;
}

export interface MemberRef {
  identity: Identity;
  displayName: string;
}

export interface LegacyInvocation {
  keys: readonly string[];
  notBefore: Date;
}

/**
 * The port a platform adapter implements for one command invocation. Commands see only
 * this, so the same command runs on Discord, Telegram and the console.
 */
export interface ChatContext {
  platform: Platform;
  actor: Actor;
  /** Unique per platform event: the same event delivered twice carries the same key. */
  invocationKey: string;
  /**
   * Keys an older release derived for this same event, and the earliest time a generation
   * it submitted could date from. Set only for events that may have reached an older
   * release first (sent before this process started).
   */
  legacyInvocation?: LegacyInvocation;
  /**
   * Where a generation started by this invocation reports back; stored with it. Undefined
   * where the surface has no place for a result (a command that starts none).
   */
  origin?: Origin | undefined;
  /** Finds another member named in a command (`/grant @bob 10`) on this platform. */
  resolveMember(reference: string): Promise<MemberRef | undefined>;
}

/**
 * The origin a generation started from this invocation reports back to. Every surface gives
 * one where a generation can start; none here is a bug in the adapter, not a member's error.
 */
export function originOf(ctx: ChatContext): Origin {
  if (!ctx.origin)
    throw new Error(
      `the ${ctx.platform} adapter gave no origin for a command that starts a generation`,
    );
  return ctx.origin;
}
