export const PLATFORMS = ['console', 'discord', 'telegram'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** A person as one platform knows them. Several identities can point at one account. */
export interface Identity {
  platform: Platform;
  id: string;
}

export function identityKey(identity: Identity): string {
  return `${identity.platform}:${identity.id}`;
}
