import { z } from 'zod';
import { quote } from '../src/core/pricing.js';
import { defineCommand } from './command.js';

export const models = defineCommand({
  name: 'models',
  description: 'Models you can use, with their prices',
  options: z.object({}),
  syntax: {},
  role: 'member',
  uses: ['catalog'],
  private: true,
  examples: ['/models'],
  async run(_ctx, _input, { catalog }) {
    const list = catalog.list().map((m) => {
      const price = quote(m, { ...m.defaults, count: 1, seconds: m.defaults.seconds }).total;
      return {
        id: m.id,
        name: m.name,
        kind: m.kind,
        description: m.description,
        demo: m.demo,
        default: m.id === catalog.defaultModel.id,
        price,
        size: `${m.defaults.width}x${m.defaults.height}`,
        maxSize: `${m.limits.maxWidth}x${m.limits.maxHeight}`,
        steps: m.defaults.steps,
        stepsRange: [m.limits.minSteps, m.limits.maxSteps],
        stepsAdjustable: m.capabilities.steps,
        maxCount: m.limits.maxCount,
        img2img: m.capabilities.img2img,
        pricing: m.price,
        /** A cancel (or the time limit) after the run started still costs the full price. */
        chargedWhenStopped: catalog.chargesStoppedRuns(m),
      };
    });
    const lines = list.map(
      (m) =>
        `${m.id}${m.default ? ' (default)' : ''} - ${m.name}: ${m.price} points for one ${m.kind === 'video' ? 'clip' : 'image'} at ${m.size}, ${m.steps} steps${m.stepsAdjustable && m.stepsRange[0] !== m.stepsRange[1] ? ` (${m.stepsRange[0]}-${m.stepsRange[1]})` : ''}; up to ${m.maxSize}, ${m.maxCount} at a time${m.img2img ? ', takes an input image' : ''}${m.chargedWhenStopped ? '; its backend cannot stop a started run, so a cancel once it runs still costs the full price' : ''}.`,
    );
    return {
      text: [
        'Models (prices at default settings; bigger sizes, more steps and more images cost more):',
        ...lines,
      ].join('\n'),
      data: { models: list },
    };
  },
});
