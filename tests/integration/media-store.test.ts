import { createHash, randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaStore, ONE_DOCUMENT_MAX_BYTES } from '../../src/store/media-store.js';
import { openTestStore, type TestStore } from '../support/store.js';

describe('media store', () => {
  let store: TestStore;
  let media: MediaStore;
  let db: mongoose.mongo.Db;

  beforeAll(async () => {
    store = await openTestStore();
    media = new MediaStore(store.conn);
    db = store.conn.db!;
  });
  afterAll(async () => {
    await store.close();
  });

  const count = (collection: string) => db.collection(collection).countDocuments({});
  const meta = { filename: 'out.png', contentType: 'image/png', metadata: { generationId: 'g1' } };

  it('stores an image as one document and reads back the same bytes', async () => {
    const bytes = randomBytes(300_000);
    const [files, chunks] = [await count('media.files'), await count('media.chunks')];
    const saved = await media.put(bytes, meta);
    expect(saved.fileId).toMatch(/^[0-9a-f]{24}$/);
    expect(saved).toMatchObject({
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.byteLength,
    });
    const doc = await db
      .collection('media.whole')
      .findOne({ _id: new mongoose.mongo.ObjectId(saved.fileId) });
    expect(doc).toMatchObject({ contentType: 'image/png', length: 300_000, sha256: saved.sha256 });
    // Nothing in GridFS.
    expect([await count('media.files'), await count('media.chunks')]).toEqual([files, chunks]);
    expect((await media.get(saved.fileId)).equals(bytes)).toBe(true);
  });

  it('keeps media above the one-document size in GridFS, and reads it back', async () => {
    const bytes = randomBytes(ONE_DOCUMENT_MAX_BYTES + 1);
    const whole = await count('media.whole');
    const saved = await media.put(bytes, meta);
    expect(await count('media.whole')).toBe(whole);
    const file = await db
      .collection('media.files')
      .findOne({ _id: new mongoose.mongo.ObjectId(saved.fileId) });
    expect(file).toMatchObject({ length: bytes.byteLength });
    expect((await media.get(saved.fileId)).equals(bytes)).toBe(true);
    await media.delete(saved.fileId);
    expect(await db.collection('media.files').countDocuments({ _id: file!._id })).toBe(0);
    expect(await db.collection('media.chunks').countDocuments({ files_id: file!._id })).toBe(0);
  });

  it('reads and deletes media an older release stored in GridFS', async () => {
    const bytes = randomBytes(1000);
    const bucket = new mongoose.mongo.GridFSBucket(db, { bucketName: 'media' });
    const upload = bucket.openUploadStream('old.png', { metadata: { contentType: 'image/png' } });
    await new Promise<void>((resolve, reject) => {
      upload.once('error', reject);
      upload.once('finish', () => resolve());
      upload.end(bytes);
    });
    const fileId = upload.id.toString();
    expect((await media.get(fileId)).equals(bytes)).toBe(true);
    await media.delete(fileId);
    await expect(media.get(fileId)).rejects.toThrow(/FileNotFound|not found/i);
  });

  it('deletes a one-document medium, after which reading it fails', async () => {
    const saved = await media.put(randomBytes(10), meta);
    await media.delete(saved.fileId);
    expect(
      await db
        .collection('media.whole')
        .countDocuments({ _id: new mongoose.mongo.ObjectId(saved.fileId) }),
    ).toBe(0);
    await expect(media.get(saved.fileId)).rejects.toThrow(/FileNotFound|not found/i);
  });
});
