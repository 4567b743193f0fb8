import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbox, RetryAfterError, type ChatPolicy } from '../../src/delivery/outbox.js';

const PRIVATE: ChatPolicy = { minIntervalMs: 1000, window: { count: 1000, windowMs: 60_000 } };
const GROUP: ChatPolicy = { minIntervalMs: 0, window: { count: 20, windowMs: 60_000 } };

function outbox(options: Partial<ConstructorParameters<typeof Outbox>[0]> = {}) {
  return new Outbox({
    policyFor: (chat) => (chat.startsWith('-') ? GROUP : PRIVATE),
    logger: pino({ level: 'silent' }),
    isNotModified: (e) => e instanceof Error && e.message.includes('not modified'),
    ...options,
  });
}

describe('outbox (edit scheduler)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('coalesces edits of one message and always delivers the newest state', async () => {
    const box = outbox();
    const sent: number[] = [];
    const send = async (n: number) => {
      sent.push(n);
    };
    const done = Array.from({ length: 10 }, (_, i) =>
      box.edit('42', 'm1', i, send, { final: i === 9 }),
    );
    await vi.advanceTimersByTimeAsync(5000);
    await Promise.all(done);
    expect(sent).toEqual([0, 9]);
  });

  it('keeps about one write a second in a private chat', async () => {
    const box = outbox();
    const times: number[] = [];
    const start = Date.now();
    const done = ['a', 'b', 'c'].map((m) =>
      box.edit('42', m, m, async () => void times.push(Date.now() - start)),
    );
    await vi.advanceTimersByTimeAsync(5000);
    await Promise.all(done);
    expect(times).toEqual([0, 1000, 2000]);
  });

  it('never exceeds 20 writes a minute in a group, and sends the rest later', async () => {
    const box = outbox();
    const times: number[] = [];
    const start = Date.now();
    const done = Array.from({ length: 30 }, () =>
      box.send('-100', async () => void times.push(Date.now() - start)),
    );
    await vi.advanceTimersByTimeAsync(59_000);
    expect(times).toHaveLength(20);
    await vi.advanceTimersByTimeAsync(2_000);
    await Promise.all(done);
    expect(times).toHaveLength(30);
    for (const t of times)
      expect(times.filter((u) => u > t - 60_000 && u <= t).length).toBeLessThanOrEqual(20);
  });

  it('pauses a chat for retry_after and then delivers, without holding up other chats', async () => {
    const box = outbox();
    const log: string[] = [];
    let limited = true;
    const a = box.edit(
      '7',
      'x',
      'final',
      async (p) => {
        if (limited) {
          limited = false;
          throw new RetryAfterError(3000);
        }
        log.push(`7:${p}@${Date.now()}`);
      },
      { final: true },
    );
    const b = box.send('8', async () => void log.push(`8@${Date.now()}`));
    const start = Date.now();
    await vi.advanceTimersByTimeAsync(10);
    expect(log).toEqual([`8@${start}`]);
    await vi.advanceTimersByTimeAsync(3000);
    await Promise.all([a, b]);
    expect(log[1]).toBe(`7:final@${start + 3000}`);
  });

  it("recognises a platform's own rate-limit error through retryAfterMs", async () => {
    const box = outbox({
      retryAfterMs: (e) => (e instanceof Error && e.message === '429' ? 2000 : undefined),
    });
    const at: number[] = [];
    const start = Date.now();
    let first = true;
    const done = box.send('11', async () => {
      if (first) {
        first = false;
        throw new Error('429');
      }
      at.push(Date.now() - start);
    });
    await vi.advanceTimersByTimeAsync(2500);
    await done;
    expect(at).toEqual([2000]);
  });

  it('never lets a late progress state overwrite the final one', async () => {
    const box = outbox();
    const sent: string[] = [];
    const send = async (p: string) => void sent.push(p);
    const first = box.edit('43', 'm', 'queued', send);
    const final = box.edit('43', 'm', 'done', send, { final: true });
    const late = box.edit('43', 'm', '40%', send);
    await vi.advanceTimersByTimeAsync(5000);
    await Promise.all([first, final, late]);
    expect(sent).toEqual(['queued', 'done']);
  });

  it('treats "message is not modified" as done', async () => {
    const box = outbox();
    await expect(
      Promise.all([
        box.edit('9', 'm', 1, async () => {
          throw new Error('Bad Request: message is not modified');
        }),
        vi.advanceTimersByTimeAsync(10),
      ]),
    ).resolves.toBeDefined();
  });

  it('retries a failed final edit but drops a failed progress edit', async () => {
    const box = outbox();
    let calls = 0;
    const final = box.edit(
      '5',
      'f',
      'done',
      async () => {
        calls += 1;
        if (calls < 3) throw new Error('network down');
      },
      { final: true },
    );
    const progress = box.edit('6', 'p', 'half', async () => {
      throw new Error('network down');
    });
    const progressResult = progress.then(
      () => 'ok',
      () => 'dropped',
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(final).resolves.toBeUndefined();
    expect(calls).toBe(3);
    expect(await progressResult).toBe('dropped');
  });

  it('forgets idle chats once their window and final memory have passed', async () => {
    const box = outbox();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        box.edit(`chat-${i}`, 'm', 'done', async () => undefined, { final: true }),
      ),
    );
    expect(box.chats()).toBe(50);
    // Within the final memory a late progress update is still dropped, so the chat is kept.
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    await box.edit('chat-0', 'm', 'late', async () => {
      throw new Error('a late update must not be sent');
    });
    expect(box.chats()).toBe(50);
    await vi.advanceTimersByTimeAsync(11 * 60_000);
    await box.edit('other', 'm', 'x', async () => undefined, { final: true });
    expect(box.chats()).toBe(1);
  });

  it('gives up at once on a write the platform refused for good, and moves on', async () => {
    const calls: string[] = [];
    const box = outbox({ isPermanent: (e) => e instanceof Error && e.message === 'bad request' });
    const refused = box.edit(
      '42',
      'status',
      'final',
      async () => {
        calls.push('edit');
        throw new Error('bad request');
      },
      { final: true },
    );
    const outcome = refused.then(
      () => 'sent',
      (e: unknown) => (e as Error).message,
    );
    const photo = box.send('42', async () => void calls.push('photo'));
    await vi.advanceTimersByTimeAsync(5000);
    expect(await outcome).toBe('bad request');
    await photo;
    expect(calls).toEqual(['edit', 'photo']);
  });
});
