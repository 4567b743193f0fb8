import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const webhook = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/genbot',
  TELEGRAM_BOT_TOKEN: '123456:test-token',
  TELEGRAM_MODE: 'webhook',
  TELEGRAM_WEBHOOK_URL: 'https://bot.example.com/telegram',
};

/** The configuration error `env` gets, as the operator reads it. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('the configuration was accepted');
}

describe('TELEGRAM_WEBHOOK_SECRET', () => {
  it('takes 32 to 256 of the characters Telegram allows (A-Z a-z 0-9 _ -)', () => {
    for (const secret of ['a'.repeat(32), `Ab0_-${'x'.repeat(27)}`, 'Z'.repeat(256)]) {
      const config = loadConfig({ ...webhook, TELEGRAM_WEBHOOK_SECRET: secret });
      expect(config.telegram?.webhook?.secret).toBe(secret);
    }
  });

  it('refuses a secret shorter than 32 characters, naming the variable', () => {
    const message = refusal({ ...webhook, TELEGRAM_WEBHOOK_SECRET: 'a'.repeat(31) });
    expect(message).toMatch(/TELEGRAM_WEBHOOK_SECRET: at least 32 characters/);
    // Even when the bot polls: a short secret left in the file is refused before it is used.
    expect(
      refusal({ ...webhook, TELEGRAM_MODE: 'polling', TELEGRAM_WEBHOOK_SECRET: 'short-secret' }),
    ).toMatch(/TELEGRAM_WEBHOOK_SECRET: at least 32 characters/);
  });

  it('refuses characters Telegram does not allow, and more than 256', () => {
    expect(refusal({ ...webhook, TELEGRAM_WEBHOOK_SECRET: `${'a'.repeat(32)}!` })).toMatch(
      /TELEGRAM_WEBHOOK_SECRET: letters, digits, _ and - only/,
    );
    expect(refusal({ ...webhook, TELEGRAM_WEBHOOK_SECRET: 'a'.repeat(257) })).toMatch(
      /TELEGRAM_WEBHOOK_SECRET: at most 256 characters/,
    );
  });

  it('is still required in webhook mode', () => {
    expect(refusal(webhook)).toMatch(/TELEGRAM_WEBHOOK_SECRET: is missing/);
  });
});
