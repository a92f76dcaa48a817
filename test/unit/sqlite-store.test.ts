/**
 * SqliteStore: the database in a worker thread. Writes return at once and are committed in
 * order; flush() says when; failures reach the server through onWriteError; errors on open
 * keep their codes; close() releases the lock. (The database itself: sqlite-db.test.ts.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, SqliteStore, StoreError } from '../../src/index.js';

function dir(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-sqlite-store-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('SqliteStore (worker thread)', () => {
  test('writes in order, durable after flush, back after close and open', async (t) => {
    const d = dir(t);
    const s = new SqliteStore({ dir: d });
    assert.deepEqual(await s.open(), { clients: [], contacts: [], groups: [], members: [], users: [] });
    for (let i = 0; i < 500; i++) s.putClient({ id: `c${i}`, firstSeen: i, lastSeen: i });
    s.putGroup({ id: 'g', name: 'G', owner: 'c1', passwordHash: 'scrypt$x', created: 1 });
    s.putMember('g', 'c1');
    s.putContacts('c1', { defaultReceivers: ['c2'], allowedSenders: [] });
    s.deleteClient('c0');
    await s.flush();
    await s.close();
    s.putClient({ id: 'after-close', firstSeen: 1, lastSeen: 1 }); // ignored
    const again = new SqliteStore({ dir: d });
    t.after(() => again.close());
    const st = await again.open();
    assert.equal(st.clients.length, 499);
    assert.equal(st.clients[0].id, 'c1');
    assert.deepEqual(st.groups.map((g) => g.id), ['g']);
    assert.deepEqual(st.members, [{ group: 'g', client: 'c1' }]);
    assert.deepEqual(st.contacts, [{ id: 'c1', defaultReceivers: ['c2'], allowedSenders: [] }]);
  });

  test('a write the database refuses is reported to onWriteError, and the store goes on', async (t) => {
    const s = new SqliteStore({ dir: dir(t) });
    t.after(() => s.close());
    const errors: Array<[string, string]> = [];
    await s.open({ onWriteError: (err, op) => errors.push([(err as StoreError).code, op]) });
    s.putClient({ id: 'bad', firstSeen: NaN, lastSeen: 1 });
    s.putClient({ id: 'good', firstSeen: 1, lastSeen: 1 });
    await s.flush();
    assert.deepEqual(errors, [[ErrorCode.STORE_WRITE, 'putClient']]);
    await s.close();
    const again = new SqliteStore({ dir: path.dirname(s.location) });
    t.after(() => again.close());
    assert.deepEqual((await again.open()).clients.map((c) => c.id), ['good']);
  });

  test('open errors keep their codes: a second store on the folder is STORE_LOCKED until the first closes', async (t) => {
    const d = dir(t);
    const a = new SqliteStore({ dir: d });
    await a.open();
    const b = new SqliteStore({ dir: d });
    await assert.rejects(b.open(), (e: unknown) => e instanceof StoreError && e.code === ErrorCode.STORE_LOCKED && e.message.includes(a.location));
    await a.close();
    await b.open();
    await b.close();
    const file = path.join(d, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    await assert.rejects(new SqliteStore({ dir: path.join(file, 'sub') }).open(), (e: unknown) => e instanceof StoreError && e.code === ErrorCode.STORE_UNWRITABLE);
  });
});
