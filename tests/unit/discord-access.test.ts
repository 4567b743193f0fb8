import { describe, expect, it } from 'vitest';
import {
  NOT_IN_DMS,
  NOT_IN_THIS_SERVER,
  placeRefusal,
} from '../../src/platforms/discord/access.js';

describe('Discord: which places are answered', () => {
  const open = { guildIds: [] };
  const ours = { guildIds: ['300000000000000001'] };

  it('answers every server and DMs while no guild is named', () => {
    expect(placeRefusal(open, '300000000000000009')).toBeUndefined();
    expect(placeRefusal(open, null)).toBeUndefined();
  });

  it('refuses servers not named, and DMs only when they are turned off', () => {
    expect(placeRefusal(ours, '300000000000000001')).toBeUndefined();
    expect(placeRefusal(ours, '300000000000000009')).toBe(NOT_IN_THIS_SERVER);
    expect(placeRefusal(ours, null)).toBeUndefined();
    expect(placeRefusal({ ...ours, allowDms: false }, null)).toBe(NOT_IN_DMS);
    expect(placeRefusal({ ...open, allowDms: false }, null)).toBe(NOT_IN_DMS);
  });
});
