import { createHash } from 'node:crypto';
import mongoose, { type Connection } from 'mongoose';

export interface StoredMedia {
  fileId: string;
  sha256: string;
  bytes: number;
}

/**
 * Media no larger than this is stored as one document (most images); larger media goes to
 * GridFS in chunks. A document may hold 16 MiB with its fields; this leaves room.
 */
export const ONE_DOCUMENT_MAX_BYTES = 8 * 1024 * 1024;

/** A medium stored whole: its bytes with what GridFS would keep beside them. */
interface WholeMedia {
  _id: mongoose.mongo.ObjectId;
  filename: string;
  contentType: string;
  sha256: string;
  length: number;
  uploadDate: Date;
  metadata?: Record<string, unknown>;
  data: mongoose.mongo.Binary;
}

/**
 * Media bytes in MongoDB, so outputs live with their metadata and any process can read them
 * back: one document in `<bucket>.whole` up to `ONE_DOCUMENT_MAX_BYTES` (one insert, one
 * read), GridFS above it (files and chunks). A file id is an ObjectId either way; a read
 * looks for the whole document first, then in GridFS (large media, and all media stored
 * before media was kept whole). The sha256 is computed before storing and kept on the
 * generation.
 */
export class MediaStore {
  readonly #bucket: mongoose.mongo.GridFSBucket;
  readonly #whole: mongoose.mongo.Collection<WholeMedia>;

  constructor(conn: Connection, bucketName = 'media') {
    const db = conn.db;
    if (!db) throw new Error('media store: the MongoDB connection is not open');
    this.#bucket = new mongoose.mongo.GridFSBucket(db, { bucketName });
    this.#whole = db.collection<WholeMedia>(`${bucketName}.whole`);
  }

  async put(
    data: Uint8Array,
    meta: { filename: string; contentType: string; metadata?: Record<string, unknown> },
  ): Promise<StoredMedia> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (data.byteLength <= ONE_DOCUMENT_MAX_BYTES) {
      const _id = new mongoose.mongo.ObjectId();
      await this.#whole.insertOne({
        _id,
        filename: meta.filename,
        contentType: meta.contentType,
        sha256,
        length: data.byteLength,
        uploadDate: new Date(),
        ...(meta.metadata ? { metadata: meta.metadata } : {}),
        data: new mongoose.mongo.Binary(bytes),
      });
      return { fileId: _id.toHexString(), sha256, bytes: data.byteLength };
    }
    const upload = this.#bucket.openUploadStream(meta.filename, {
      metadata: { ...meta.metadata, contentType: meta.contentType, sha256 },
    });
    await new Promise<void>((resolve, reject) => {
      upload.once('error', reject);
      upload.once('finish', () => resolve());
      upload.end(bytes);
    });
    return { fileId: upload.id.toString(), sha256, bytes: data.byteLength };
  }

  async get(fileId: string): Promise<Buffer> {
    const _id = new mongoose.mongo.ObjectId(fileId);
    const whole = await this.#whole.findOne({ _id }, { projection: { data: 1 } });
    if (whole) {
      const view = whole.data.value();
      return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.#bucket.openDownloadStream(_id)) {
      // GridFS yields Buffers; its stream's type does not say so.
      if (!Buffer.isBuffer(chunk)) throw new Error(`media ${fileId}: a chunk is not bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  async delete(fileId: string): Promise<void> {
    const _id = new mongoose.mongo.ObjectId(fileId);
    const { deletedCount } = await this.#whole.deleteOne({ _id });
    if (deletedCount === 0) await this.#bucket.delete(_id);
  }
}
