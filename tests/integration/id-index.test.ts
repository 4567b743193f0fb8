import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMongoUri, uniqueName } from '../support/env.js';

/** The query plan of an exact `_id` find, as the server reports it. */
async function planOf(db: mongoose.mongo.Db, collection: string, id: string): Promise<string[]> {
  const explained = await db.command({ explain: { find: collection, filter: { _id: id } } });
  const planner = (explained.queryPlanner ?? {}) as {
    Plan?: unknown;
    winningPlan?: { stage?: string; inputStage?: unknown };
  };
  // FerretDB on SQLite: SQLite's EXPLAIN QUERY PLAN lines.
  if (Array.isArray(planner.Plan)) return planner.Plan.map(String);
  const stages: string[] = [];
  let stage = planner.winningPlan as { stage?: string; inputStage?: unknown } | undefined;
  while (stage) {
    if (stage.stage) stages.push(stage.stage);
    stage = stage.inputStage as typeof stage;
  }
  return stages;
}

describe('exact _id lookups on the MongoDB-protocol server', () => {
  let conn: mongoose.Connection;
  beforeAll(async () => {
    conn = await mongoose.createConnection(testMongoUri(uniqueName('genbot_idx'))).asPromise();
  });
  afterAll(async () => {
    await conn.dropDatabase();
    await conn.close();
  });

  it('are answered from an index, for a collection created at run time', async () => {
    const db = conn.db!;
    const docs = Array.from({ length: 200 }, (_, i) => ({ _id: `doc-${i}`, n: i }));
    await db.collection<{ _id: string; n: number }>('lookups').insertMany(docs);
    // The embedded helper indexes a new table within a pass (every 250 ms); a server
    // connection plans with it from its next write on (SQLite reloads its schema then), so
    // the collection goes on being written, as a real one is.
    let plan = await planOf(db, 'lookups', 'doc-150');
    for (let i = 0; i < 200 && !usesIndex(plan); i += 1) {
      await new Promise((r) => setTimeout(r, 25));
      await db
        .collection<{ _id: string; n: number }>('lookups')
        .insertOne({ _id: `more-${i}`, n: -i });
      plan = await planOf(db, 'lookups', 'doc-150');
    }
    expect(usesIndex(plan), plan.join('; ')).toBe(true);
    expect(await db.collection('lookups').findOne({ _id: 'doc-150' } as never)).toMatchObject({
      n: 150,
    });
  });
});

function usesIndex(plan: string[]): boolean {
  // SQLite: "SEARCH <table> USING INDEX <table>__genbot_id (<expr>=?)"; mongod: an _id stage.
  return plan.some(
    (line) =>
      /SEARCH .* USING INDEX \S+__genbot_id/.test(line) ||
      ['IDHACK', 'EXPRESS_IXSCAN', 'IXSCAN', 'CLUSTERED_IXSCAN'].includes(line),
  );
}
