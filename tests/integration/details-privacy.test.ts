import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeAction, findAction } from '../../commands/index.js';
import { command, consoleCtx, createTestApp, fund, type TestApp } from '../support/app.js';

/**
 * Details answer privately and show what the public message showed, so anyone may press them
 * under a generation made in a group. One made in a private chat was shown to nobody else: a
 * button forged elsewhere (callback data is the client's to send) gets its owner's refusal.
 */
describe('who may see a generation’s details', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
  });

  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  const generate = async (member: string, chatId: number, messageId: number) => {
    await fund(app, member, 20);
    const origin = { platform: 'telegram' as const, chatId, messageId };
    const result = await command(app, member, 'generate', { prompt: 'mine' }, undefined, origin);
    return result.generation!.id;
  };

  const details = (as: string, id: string) =>
    executeAction(findAction(`details:${id}`)!, consoleCtx(app, as), app.services);

  it('refuses a stranger the details of a generation made in a private chat', async () => {
    const id = await generate('ann', 4242, 1);
    await expect(details('bob', id)).rejects.toMatchObject({ code: 'forbidden' });
    expect((await details('ann', id)).text).toContain(`Generation ${id}`);
    expect((await details('mod', id)).text).toContain(`Generation ${id}`);
  });

  it('shows anyone the details of a generation made in a group', async () => {
    const id = await generate('cat', -1001234567890, 2);
    expect((await details('bob', id)).text).toContain(`Generation ${id}`);
  });
});
