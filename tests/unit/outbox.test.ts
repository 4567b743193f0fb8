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

  describe('a chat queue bounded by maxQueued', () => {
    const BOUNDED: ChatPolicy = { ...GROUP, maxQueued: 3 };
    const bounded = () => outbox({ policyFor: () => BOUNDED });

    /** A write that stays in flight until `open()`: everything after it waits in the queue. */
    function held(box: Outbox, chat: string) {
      let open: () => void = () => undefined;
      const done = box.send(chat, () => new Promise<void>((resolve) => (open = resolve)));
      return { done, open: () => open() };
    }

    it('drops the oldest chatter for a newer write, and never a write that must arrive', async () => {
      const box = bounded();
      const sent: string[] = [];
      const write = (name: string) => async () => void sent.push(name);
      const first = held(box, '-1');
      await vi.advanceTimersByTimeAsync(0);
      const help = [1, 2, 3].map((n) => box.sendChatter('-1', write(`help ${n}`)));
      const refusal = box.send('-1', write('slow down'));
      const photo = box.send('-1', write('photo'));
      expect(box.queued('-1')).toBe(3);
      first.open();
      await vi.advanceTimersByTimeAsync(1000);
      await Promise.all([first.done, refusal, photo]);
      expect(await Promise.all(help)).toEqual([false, false, true]);
      expect(sent).toEqual(['help 3', 'slow down', 'photo']);
      expect(box.dropped()).toBe(2);
      expect(box.peakQueued()).toBe(3);
    });

    it('sends every write that must arrive, even past the bound when no chatter can give way', async () => {
      const box = bounded();
      const sent: string[] = [];
      const first = held(box, '-2');
      await vi.advanceTimersByTimeAsync(0);
      const results = Array.from({ length: 5 }, (_, i) =>
        box.send('-2', async () => void sent.push(`result ${i}`)),
      );
      const help = box.sendChatter('-2', async () => void sent.push('help'));
      expect(box.queued('-2')).toBe(5);
      first.open();
      await vi.advanceTimersByTimeAsync(1000);
      await Promise.all([first.done, ...results]);
      expect(await help).toBe(false);
      expect(sent).toEqual([0, 1, 2, 3, 4].map((i) => `result ${i}`));
      expect(box.dropped()).toBe(1);
    });

    it('lets a progress state give way in a full queue, never a final state', async () => {
      const box = bounded();
      const sent: string[] = [];
      const send = async (p: string) => void sent.push(p);
      const first = held(box, '-3');
      await vi.advanceTimersByTimeAsync(0);
      const progress = box.edit('-3', 'a', 'a 40%', send);
      const finals = ['b', 'c', 'd'].map((m) =>
        box.edit('-3', m, `${m} done`, send, { final: true }),
      );
      first.open();
      await vi.advanceTimersByTimeAsync(1000);
      await Promise.all([first.done, progress, ...finals]);
      expect(sent).toEqual(['b done', 'c done', 'd done']);
      expect(box.dropped()).toBe(1);
    });

    it('sends chatter in its place in the chat order while there is room, and says so', async () => {
      const box = bounded();
      const sent: string[] = [];
      const status = box.send('-4', async () => void sent.push('status'));
      const help = box.sendChatter('-4', async () => void sent.push('help'));
      const photo = box.send('-4', async () => void sent.push('photo'));
      await vi.advanceTimersByTimeAsync(1000);
      await Promise.all([status, photo]);
      expect(await help).toBe(true);
      expect(sent).toEqual(['status', 'help', 'photo']);
      expect(box.dropped()).toBe(0);
    });
  });
});
