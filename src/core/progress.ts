import { z } from 'zod';

/**
 * What a provider reports while it works. Every backend maps its own progress onto this, so
 * the notifier renders one view whatever generated the image.
 */
export const progressEventSchema = z.object({
  /** 0-100 when the backend knows it. */
  percent: z.number().min(0).max(100).optional(),
  step: z.int().min(0).optional(),
  steps: z.int().min(0).optional(),
  /** Which output (0-based) the step belongs to, for multi-image requests. */
  output: z.int().min(0).optional(),
  /** Position in the backend's own queue, when it has one. */
  queuePosition: z.int().min(0).optional(),
  etaSeconds: z.number().min(0).optional(),
  /** While it waits in our queue: seconds until it should start. */
  startsInSeconds: z.number().min(0).optional(),
  message: z.string().max(200).optional(),
  /** A small JPEG of the work in progress (base64), when the backend offers previews. */
  preview: z.string().max(34_000).optional(),
});
export type ProgressEvent = z.output<typeof progressEventSchema>;
