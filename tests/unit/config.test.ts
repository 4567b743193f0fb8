import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, envSchema, loadConfig, redactUrl } from '../../src/config.js';

const base = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/genbot',
};

describe('configuration', () => {
  it('parses a minimal environment with defaults', () => {
    const config = loadConfig(base);
    expect(config.role).toBe('all');
    expect(config.worker).toEqual({ concurrency: 2, attempts: 3, backoffMs: 2000 });
    expect(config.console.moderators).toEqual([]);
  });

  it('names every bad or missing variable at once', () => {
    let message = '';
    try {
      loadConfig({ MONGODB_URI: 'http://nope', WORKER_CONCURRENCY: 'many', ROLE: 'chef' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/REDIS_URL: is missing/);
    expect(message).toMatch(/MONGODB_URI: must be a mongodb:\/\/ URL/);
    expect(message).toMatch(/WORKER_CONCURRENCY/);
    expect(message).toMatch(/ROLE/);
  });

  it('enables Discord only with a token, and checks its settings', () => {
    expect(loadConfig(base).discord).toBeUndefined();
    const discord = loadConfig({
      ...base,
      DISCORD_TOKEN: 'abc',
      DISCORD_GUILD_IDS: '300000000000000001, 300000000000000002',
      DISCORD_MODERATOR_ROLES: '500000000000000001',
      DISCORD_MANAGE_GUILD_MODERATORS: 'true',
    }).discord;
    expect(discord).toMatchObject({
      guildIds: ['300000000000000001', '300000000000000002'],
      moderatorRoles: ['500000000000000001'],
      manageGuildModerates: true,
      apiUrl: undefined,
    });
    expect(() =>
      loadConfig({
        ...base,
        DISCORD_TOKEN: 'abc',
        DISCORD_GUILD_IDS: 'my-server',
        DISCORD_API_URL: 'nope',
      }),
    ).toThrow(/DISCORD_GUILD_IDS[\s\S]*DISCORD_API_URL|DISCORD_API_URL[\s\S]*DISCORD_GUILD_IDS/);
    expect(() =>
      loadConfig({ ...base, DISCORD_TOKEN: 'abc', DISCORD_MANAGE_GUILD_MODERATORS: 'true' }),
    ).toThrow(/needs DISCORD_GUILD_IDS/);
    expect(() => loadConfig({ ...base, DISCORD_MANAGE_GUILD_MODERATORS: 'maybe' })).toThrow(
      /DISCORD_MANAGE_GUILD_MODERATORS: true or false/,
    );
  });

  it('splits comma lists', () => {
    expect(loadConfig({ ...base, CONSOLE_MODERATORS: ' admin, mod ,' }).console.moderators).toEqual(
      ['admin', 'mod'],
    );
  });

  it('documents every variable in .env.example, and nothing else', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const documented = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(envSchema.shape).sort());
  });

  it('explains every variable in the README configuration table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const missing = Object.keys(envSchema.shape).filter(
      (name) => !readme.includes(`| \`${name}\``),
    );
    expect(missing).toEqual([]);
  });

  it('removes credentials from URLs before they are logged', () => {
    expect(redactUrl('redis://user:hunter2@host:6379/0')).toBe('redis://***:***@host:6379/0');
    expect(redactUrl('mongodb://host:27017/db')).toBe('mongodb://host:27017/db');
  });
});
