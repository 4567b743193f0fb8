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

/**
 * The port a platform adapter implements for one command invocation. Commands see only
 * this, so the same command runs on Discord, Telegram and the console.
 */
export interface ChatContext {
  platform: Platform;
  actor: Actor;
  /** Unique per platform event: the same event delivered twice carries the same key. */
  invocationKey: string;
  /** Where the invocation happened; stored with a generation so its result finds the way back. */
  origin: Record<string, unknown>;
  /** Finds another member named in a command (`/grant @bob 10`) on this platform. */
  resolveMember(reference: string): Promise<MemberRef | undefined>;
}
