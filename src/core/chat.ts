import type { InputImageRef } from './generation-request.js';
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
  /**
   * Images the member attached to this invocation (a Discord attachment, the photo a
   * Telegram message replies to). Nothing is downloaded until a command asks.
   */
  attachments?: AttachedImages | undefined;
  /**
   * Shows the status message of a generation this invocation is about to submit, already
   * carrying its price, and returns the origin its progress and result report to. A surface
   * whose message exists already (Discord's deferred reply) just returns it.
   */
  openStatus?(preview: GenerationPreview): Promise<Origin>;
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
 * Opens the status message of a generation and returns where it reports back: the surface's
 * status message where it has one, else the invocation's origin.
 */
export function statusOrigin(ctx: ChatContext, preview: GenerationPreview): Promise<Origin> {
  return ctx.openStatus ? ctx.openStatus(preview) : Promise.resolve(originOf(ctx));
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
