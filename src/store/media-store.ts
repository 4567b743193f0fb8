import { createHash } from 'node:crypto';
import mongoose, { type Connection } from 'mongoose';

export interface StoredMedia {
  fileId: string;
  sha256: string;
  bytes: number;
}

/**
 * Media bytes in GridFS, so outputs live with their metadata in MongoDB and any process can
 * read them back. The sha256 is computed before upload and kept on the generation.
 */
export class MediaStore {
  readonly #bucket: mongoose.mongo.GridFSBucket;

  constructor(conn: Connection, bucketName = 'media') {
    const db = conn.db;
    if (!db) throw new Error('media store: the MongoDB connection is not open');
    this.#bucket = new mongoose.mongo.GridFSBucket(db, { bucketName });
  }

  async put(
    data: Uint8Array,
    meta: { filename: string; contentType: string; metadata?: Record<string, unknown> },
  ): Promise<StoredMedia> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const upload = this.#bucket.openUploadStream(meta.filename, {
      metadata: { ...meta.metadata, contentType: meta.contentType, sha256 },
    });
    await new Promise<void>((resolve, reject) => {
      upload.once('error', reject);
      upload.once('finish', () => resolve());
      upload.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
    return { fileId: upload.id.toString(), sha256, bytes: data.byteLength };
  }

  async get(fileId: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const stream = this.#bucket.openDownloadStream(new mongoose.mongo.ObjectId(fileId));
    for await (const chunk of stream) {
      // GridFS yields Buffers; its stream's type does not say so.
      if (!Buffer.isBuffer(chunk)) throw new Error(`media ${fileId}: a chunk is not bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  async delete(fileId: string): Promise<void> {
    await this.#bucket.delete(new mongoose.mongo.ObjectId(fileId));
  }
}
