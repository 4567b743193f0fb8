import { z } from 'zod';

/** An optional variable: unset or blank is undefined (a key left empty in .env). */
export const optionalString = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === '' ? undefined : s.trim()));

/** An optional URL, e.g. a self-hosted backend's: unset leaves the provider off. */
export const optionalUrl = optionalString.pipe(z.url({ error: 'must be a URL' }).optional());

/** A hosted API's base URL, its public endpoint unless the operator points it elsewhere. */
export const urlOr = (fallback: string) => z.url({ error: 'must be a URL' }).default(fallback);
