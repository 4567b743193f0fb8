import type { InputImageRef } from './generation-request.js';
import type { Identity, Platform } from './identity.js';
import type { Origin } from './origin.js';

export interface Actor {
  identity: Identity;
  displayName: string;
  /** Decided by the adapter from the operator's settings (ids, roles, admin rights). */
  isModerator: boolean;
  /**
   * Their jobs go first in the queue: decided by the adapter (Discord PRIORITY_ROLES,
   * Telegram administrators of the admin groups); PRIORITY_MEMBERS apply everywhere.
   */
  priority?: boolean;
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
  /** Finds another member named in a command (`/grant @bob 10`) on this platform. */
  resolveMember(reference: string): Promise<MemberRef | undefined>;
  /**
   * Images the member attached to this invocation (a Discord attachment, the photo a
   * Telegram message replies to). Nothing is downloaded until a command asks.
   */
  attachments?: AttachedImages | undefined;
  /**
   * Shows the status message of a generation this invocation is about to submit, already
   * carrying its price, and returns the origin its progress and result report to (stored
   * with the generation). A surface whose message exists already (Discord's deferred reply)
   * just returns it; one with no place for results leaves it out, and starts none.
   */
  openStatus?: ((preview: GenerationPreview) => Promise<Origin>) | undefined;
}

export interface AttachedImages {
  count: number;
  /** Checks, downloads and stores them; a refusal is a UserError naming the image. */
  store(): Promise<InputImageRef[]>;
}

/** A generation about to be submitted: what, on which model, for how much (a pure quote). */
export interface GenerationPreview {
  generationId: string;
  model: string;
  prompt: string;
  price: number;
  count: number;
}

/**
 * Opens the status message of a generation and returns where it reports back. Every surface
 * where a generation can start offers it; none here is a bug in the adapter, not a member's
 * error.
 */
export function statusOrigin(ctx: ChatContext, preview: GenerationPreview): Promise<Origin> {
  if (!ctx.openStatus)
    throw new Error(
      `the ${ctx.platform} surface has no status for a command that starts a generation`,
    );
  return ctx.openStatus(preview);
}
