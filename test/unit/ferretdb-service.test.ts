// The MongoDB-wire test service (test/services/ferretdb.sh) and its helpers: the shared server
// answers, and a private server keeps its data across a crash (SIGKILL) and a restart.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { dropDb, MONGO_URL, requireMongo, startPrivateMongo, uniqueDbName, type PrivateMongo } from '../helpers/mongo.ts';

interface Doc {
  _id: string;
  n: number;
}

describe('FerretDB test service', () => {
  it('the shared server answers a ping (npm run services)', async () => {
    await requireMongo();
  });

  it('requireMongo fails, naming the fix, when nothing answers', async () => {
    await assert.rejects(requireMongo('mongodb://127.0.0.1:1/', 300), /no MongoDB-wire server at mongodb:\/\/127\.0\.0\.1:1\/: run `npm run services`/);
  });

  it('uniqueDbName gives short, distinct, file-safe names', () => {
    const names = new Set(Array.from({ length: 50 }, () => uniqueDbName('reports-store.v2')));
    assert.equal(names.size, 50);
    for (const name of [...names, uniqueDbName(), uniqueDbName('x'.repeat(60))]) {
      assert.match(name, /^[A-Za-z0-9_]{1,38}$/);
    }
  });

  it('a database on the shared server can be written and dropped', async () => {
    const name = uniqueDbName('svc');
    const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 3000 });
    try {
      await client.db(name).collection('c').insertOne({ a: 1 });
      assert.ok((await client.db().admin().listDatabases()).databases.some((d) => d.name === name));
      await dropDb(MONGO_URL, name);
      assert.ok(!(await client.db().admin().listDatabases()).databases.some((d) => d.name === name));
    } finally {
      await client.close();
    }
  });

  describe('a private server', () => {
    let server: PrivateMongo | undefined;
    after(async () => {
      await server?.close();
    });

    it('keeps its data across a kill and a restart on the same port', async () => {
      server = await startPrivateMongo();
      assert.match(server.url, new RegExp(`^mongodb://127\\.0\\.0\\.1:${server.port}/$`));
      const options = { serverSelectionTimeoutMS: 1000 };
      let client = new MongoClient(server.url, options);
      try {
        await client.db('nebula').collection<Doc>('docs').insertOne({ _id: 'kept', n: 42 });
      } finally {
        await client.close();
      }

      await server.kill();
      client = new MongoClient(server.url, { serverSelectionTimeoutMS: 300 });
      try {
        await assert.rejects(client.db('admin').command({ ping: 1 }), /ECONNREFUSED|Server selection timed out/);
      } finally {
        await client.close();
      }

      await server.restart();
      client = new MongoClient(server.url, options);
      try {
        const doc = await client.db('nebula').collection<Doc>('docs').findOne({ _id: 'kept' });
        assert.deepEqual(doc, { _id: 'kept', n: 42 });
      } finally {
        await client.close();
      }

      await server.stop();
      await server.stop(); // a no-op once stopped
      assert.ok(existsSync(server.dataDir));
      await server.close();
      assert.ok(!existsSync(server.dataDir));
      server = undefined;
    });
  });
});
