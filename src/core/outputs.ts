import { z } from 'zod';

/** One output of a generation as stored (GridFS file id and what it is). */
export const storedOutputSchema = z.object({
  index: z.number(),
  fileId: z.string(),
  mime: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  width: z.number(),
  height: z.number(),
  seed: z.number(),
});
export type StoredOutput = z.output<typeof storedOutputSchema>;

export const failedOutputSchema = z.object({
  index: z.number(),
  code: z.string(),
  message: z.string(),
});
export type FailedOutput = z.output<typeof failedOutputSchema>;
