import { z } from 'zod';

export const PLATFORMS = ['console', 'discord', 'telegram'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** A person as one platform knows them. Several identities can point at one account. */
export const identitySchema = z.object({
  platform: z.enum(PLATFORMS),
  id: z.string().min(1).max(128),
});
export type Identity = z.output<typeof identitySchema>;

export function identityKey(identity: Identity): string {
  return `${identity.platform}:${identity.id}`;
}
