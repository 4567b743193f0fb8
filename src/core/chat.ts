import type { Identity, Platform } from './identity.js';

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
  /** Where the invocation happened; stored with a generation so its result finds the way back. */
  origin: Record<string, unknown>;
  /** Finds another member named in a command (`/grant @bob 10`) on this platform. */
  resolveMember(reference: string): Promise<MemberRef | undefined>;
}
