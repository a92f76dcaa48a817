/**
 * SqliteDb: the same semantics as MemoryStore, kept across close and open; exclusive use;
 * schema versions and migrations; typed errors for unusable files and folders.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { ErrorCode, StoreError } from '../../src/errors.js';
import type { StoreWrites } from '../../src/server/store/guard.js';
import { MemoryStore } from '../../src/server/store/memory-store.js';
import { SCHEMA_VERSION } from '../../src/server/store/sqlite-schema.js';
import { SqliteDb } from '../../src/server/store/sqlite-db.js';
import type { ServerStore, StoreState } from '../../src/server/store/store.js';
import { fcParams } from '../helpers/protocol-fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../../test/fixtures/store');
const storeModule = pathToFileURL(path.resolve(here, '../../src/server/store/sqlite-db.js')).href;

/** A fresh folder, removed after the test. */
function tmp(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store on `dir`, closed after the test. */
async function opened(t: TestContext, dir: string): Promise<[SqliteDb, StoreState]> {
  const s = new SqliteDb({ dir });
  t.after(() => s.close());
  return [s, await s.open()];
}

/** Asserts that `p` rejects with a StoreError of `code`, and returns it. */
async function refused(p: Promise<unknown>, code: string): Promise<StoreError> {
  const err = await p.then(() => assert.fail(`expected ${code}, but it opened`), (e: unknown) => e);
  assert.ok(err instanceof StoreError, `not a StoreError: ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

/** Mounts a tmpfs on `dir`; returns why it could not, or undefined. */
function mount(dir: string, opts: string): string | undefined {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { encoding: 'utf8' });
  return r.error ? r.error.message : r.status !== 0 ? r.stderr.trim() || `exit ${r.status}` : undefined;
}

/** A folder with a tmpfs of `opts` mounted on it, unmounted after the test (after `closeFirst`). */
function tmpfs(t: TestContext, opts: string, closeFirst: ServerStore[]): string | undefined {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-store-mnt-'));
  const mnt = path.join(root, 'mnt');
  fs.mkdirSync(mnt);
  const why = mount(mnt, opts);
  t.after(() => {
    for (const s of closeFirst) s.close();
    if (!why) spawnSync('umount', [mnt]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  if (why) t.skip(`mount not permitted: ${why}`);
  return why ? undefined : mnt;
}

// ---------------------------------------------------------------- child processes

/** A child process that opens a store on STORE_DIR: prints "ready" and waits, or prints the error code. */
const CHILD = `
import { SqliteDb } from ${JSON.stringify(storeModule)};
const s = new SqliteDb({ dir: process.env.STORE_DIR });
try { await s.open(); } catch (err) { console.log(err.code); process.exit(0); }
s.putClient({ id: 'child', firstSeen: 1, lastSeen: 2 });
console.log('ready');
setInterval(() => {}, 1 << 30);
`;

function child(t: TestContext, dir: string, script = CHILD): ChildProcess & { line: Promise<string> } {
  const cp = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, STORE_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (cp.exitCode === null && cp.signalCode === null) cp.kill('SIGKILL');
  });
  const line = new Promise<string>((resolve, reject) => {
    let buf = '';
    cp.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    cp.once('exit', (code) => reject(new Error(`child exited (${code}) before printing a line: ${buf}`)));
  });
  return Object.assign(cp, { line });
}

// ---------------------------------------------------------------- same semantics as MemoryStore

type Op = { [K in keyof StoreWrites]: [K, ...Parameters<StoreWrites[K]>] }[keyof StoreWrites] | ['reopen'];

const id = fc.constantFrom('', 'a', 'b', 'ü', '日本', '😀');
const ids = fc.array(id, { maxLength: 3 });
const time = fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_003 });
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.tuple(fc.constant('putClient' as const), fc.record({ id, user: id, firstSeen: time, lastSeen: time }, { requiredKeys: ['id', 'firstSeen', 'lastSeen'] })),
  fc.tuple(fc.constant('deleteClient' as const), id),
  fc.tuple(fc.constant('putContacts' as const), id, fc.record({ defaultReceivers: ids, allowedSenders: fc.oneof(fc.constant('all' as const), fc.constant([] as string[]), ids) })),
  fc.tuple(fc.constant('deleteContacts' as const), id),
  fc.tuple(fc.constant('putGroup' as const), fc.record({ id, name: fc.string(), owner: id, passwordHash: fc.constantFrom('', 'scrypt$16384$8$1$c2FsdA==$aGFzaA=='), created: time })),
  fc.tuple(fc.constant('deleteGroup' as const), id),
  fc.tuple(fc.constant('putMember' as const), id, id),
  fc.tuple(fc.constant('deleteMember' as const), id, id),
  fc.tuple(fc.constant('putUser' as const), fc.record({ user: id, passwordHash: fc.string(), clientIds: ids })),
  fc.tuple(fc.constant('deleteUser' as const), id),
  fc.constant(['reopen'] as Op),
);

function apply(s: ServerStore, op: Op): void {
  const [name, ...args] = op;
  if (name !== 'reopen') (s[name] as (...a: unknown[]) => void).apply(s, args);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A MemoryStore's state in SqliteDb's order, without keys set to undefined. */
function normalize(s: StoreState): StoreState {
  const sorted = {
    clients: [...s.clients].sort((x, y) => x.lastSeen - y.lastSeen || cmp(x.id, y.id)),
    contacts: [...s.contacts].sort((x, y) => cmp(x.id, y.id)),
    groups: [...s.groups].sort((x, y) => cmp(x.id, y.id)),
    members: [...s.members].sort((x, y) => cmp(x.group, y.group) || cmp(x.client, y.client)),
    users: [...s.users].sort((x, y) => cmp(x.user, y.user)),
  };
  return JSON.parse(JSON.stringify(sorted)) as StoreState;
}

describe('SqliteDb: MemoryStore semantics, kept', () => {
  test('random sequences of writes, with close and open between them, give what a MemoryStore gives', async (t) => {
    const root = tmp(t);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(arbOp, { minLength: 5, maxLength: 40, size: 'max' }), async (ops) => {
        const dir = path.join(root, String(run++));
        const mem = new MemoryStore();
        let s = new SqliteDb({ dir });
        try {
          assert.deepEqual(await s.open(), { clients: [], contacts: [], groups: [], members: [], users: [] });
          for (const op of [...ops, ['reopen'] as Op]) {
            apply(s, op);
            apply(mem, op);
            if (op[0] !== 'reopen') continue;
            s.close();
            s = new SqliteDb({ dir });
            assert.deepEqual(await s.open(), normalize(await mem.open()));
          }
        } finally {
          s.close();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      fcParams(50),
    );
  });

  test('allowedSenders: [] (no one) stays distinct from "all" and from a list', async (t) => {
    const dir = tmp(t);
    const [s] = await opened(t, dir);
    s.putContacts('none', { defaultReceivers: [], allowedSenders: [] });
    s.putContacts('all', { defaultReceivers: ['x', 'x'], allowedSenders: 'all' });
    s.putContacts('some', { defaultReceivers: [], allowedSenders: ['a', 'b'] });
    s.close();
    const [, st] = await opened(t, dir);
    assert.deepEqual(st.contacts, [
      { id: 'all', defaultReceivers: ['x', 'x'], allowedSenders: 'all' },
      { id: 'none', defaultReceivers: [], allowedSenders: [] },
      { id: 'some', defaultReceivers: [], allowedSenders: ['a', 'b'] },
    ]);
  });

  test('deleteClient forgets its record, contact lists and memberships in every group; deleteGroup its members', async (t) => {
    const dir = tmp(t);
    const [s] = await opened(t, dir);
    s.putClient({ id: 'c', user: 'u', firstSeen: 1, lastSeen: 5 });
    s.putClient({ id: 'b', firstSeen: 1, lastSeen: 5 });
    s.putClient({ id: 'a', firstSeen: 2, lastSeen: 9 });
    s.putContacts('c', { defaultReceivers: ['a'], allowedSenders: 'all' });
    s.putGroup({ id: 'g', name: 'G', owner: 'c', passwordHash: '', created: 3 });
    s.putGroup({ id: 'h', name: 'H', owner: 'a', passwordHash: '', created: 4 });
    for (const [g, c] of [['g', 'c'], ['h', 'c'], ['g', 'a'], ['h', 'a'], ['h', 'b']]) s.putMember(g, c);
    s.deleteClient('c');
    s.deleteGroup('h');
    s.close();
    const [, st] = await opened(t, dir);
    assert.deepEqual(st.clients.map((c) => c.id), ['b', 'a'], 'oldest lastSeen first, then by id');
    assert.deepEqual(st.contacts, []);
    assert.deepEqual(st.groups.map((g) => g.id), ['g']);
    assert.deepEqual(st.members, [{ group: 'g', client: 'a' }]);
  });

  test('after close, writes are ignored and close again is harmless; open while open reads again', async (t) => {
    const dir = tmp(t);
    const [s] = await opened(t, dir);
    assert.equal(s.location, path.join(dir, 'camwire.db'));
    s.putUser({ user: 'u', passwordHash: 'h', clientIds: [] });
    assert.equal((await s.open()).users.length, 1);
    s.close();
    s.close();
    s.putUser({ user: 'v', passwordHash: 'h', clientIds: [] });
    s.deleteUser('u');
    const [, st] = await opened(t, dir);
    assert.deepEqual(st.users, [{ user: 'u', passwordHash: 'h', clientIds: [] }]);
  });

  test('a write SQLite refuses throws STORE_WRITE, and the store goes on working', async (t) => {
    const dir = tmp(t);
    const [s] = await opened(t, dir);
    assert.throws(() => s.putClient({ id: 'x', firstSeen: NaN, lastSeen: 1 }), (e: unknown) => e instanceof StoreError && e.code === ErrorCode.STORE_WRITE && e.message.includes(s.location));
    s.putClient({ id: 'y', firstSeen: 1, lastSeen: 1 });
    assert.deepEqual((await s.open()).clients.map((c) => c.id), ['y']);
  });

  test('better-sqlite3 is loaded by open(), not by importing the store', async (t) => {
    const script = `
      import { createRequire } from 'node:module';
      const { SqliteDb } = await import(${JSON.stringify(storeModule)});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('better-sqlite3'));
      const before = loaded();
      const s = new SqliteDb({ dir: process.env.STORE_DIR });
      await s.open();
      s.close();
      console.log(JSON.stringify([before, loaded()]));`;
    assert.deepEqual(JSON.parse(await child(t, tmp(t), script).line), [false, true]);
  });
});

// ---------------------------------------------------------------- exclusive use

describe('SqliteDb: one server per store', () => {
  test('lock - a second store on the folder in the same process is refused; the first keeps its lock', async (t) => {
    const dir = tmp(t);
    const [a] = await opened(t, dir);
    const b = new SqliteDb({ dir });
    const err = await refused(b.open(), ErrorCode.STORE_LOCKED);
    assert.match(err.message, /another camwire server is using it/);
    assert.ok(err.message.includes(a.location));
    assert.equal(await child(t, dir).line, ErrorCode.STORE_LOCKED, 'the refused attempt did not release the lock');
    a.putClient({ id: 'a', firstSeen: 1, lastSeen: 1 });
    a.close();
    assert.deepEqual((await b.open()).clients.map((c) => c.id), ['a']);
    b.close();
  });

  test('lock - a store held by another process is refused, and free once that process is SIGKILLed', async (t) => {
    const dir = tmp(t);
    const holder = child(t, dir);
    assert.equal(await holder.line, 'ready');
    await refused(new SqliteDb({ dir }).open(), ErrorCode.STORE_LOCKED);
    const exited = once(holder, 'exit');
    holder.kill('SIGKILL');
    await exited;
    const [, st] = await opened(t, dir);
    assert.deepEqual(st.clients, [{ id: 'child', firstSeen: 1, lastSeen: 2 }], 'an acknowledged write survives SIGKILL');
  });
});

// ---------------------------------------------------------------- schema versions

describe('SqliteDb: schema versions', () => {
  test('fixtures - each schema version N has test/fixtures/store/vN.db (a new version adds its own with make-fixtures.mjs) and migrates to state.json', async (t) => {
    const expected = JSON.parse(fs.readFileSync(path.join(fixtures, 'state.json'), 'utf8')) as StoreState;
    const files = fs.readdirSync(fixtures).filter((f) => /^v\d+\.db$/.test(f));
    const versions = files.map((f) => Number(f.slice(1, -3))).sort((x, y) => x - y);
    assert.deepEqual(versions, Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'one fixture per schema version');
    for (const f of files) {
      const dir = tmp(t);
      const file = path.join(dir, 'camwire.db');
      fs.copyFileSync(path.join(fixtures, f), file);
      const raw = new Database(file, { readonly: true });
      assert.equal(raw.pragma('user_version', { simple: true }), Number(f.slice(1, -3)), `${f} holds its version`);
      raw.close();
      const s = new SqliteDb({ dir });
      assert.deepEqual(await s.open(), expected, f);
      s.close();
      const after = new Database(file, { readonly: true });
      assert.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      after.close();
    }
    // state.json is what the API gives back, in open()'s order
    const dir = tmp(t);
    const [s] = await opened(t, dir);
    for (const c of expected.clients) s.putClient(c);
    for (const { id: cid, ...l } of expected.contacts) s.putContacts(cid, l);
    for (const g of expected.groups) s.putGroup(g);
    for (const m of expected.members) s.putMember(m.group, m.client);
    for (const u of expected.users) s.putUser(u);
    s.close();
    assert.deepEqual((await opened(t, dir))[1], expected);
  });

  test('a database from a newer camwire is refused and left unchanged', async (t) => {
    const dir = tmp(t);
    const file = path.join(dir, 'camwire.db');
    const newer = SCHEMA_VERSION + 1;
    const db = new Database(file);
    db.exec('CREATE TABLE future (x)');
    db.pragma(`user_version = ${newer}`);
    db.close();
    const bytes = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    const err = await refused(new SqliteDb({ dir }).open(), ErrorCode.STORE_NEWER_SCHEMA);
    assert.ok(err.message.includes(`version ${newer}`) && err.message.includes(`version ${SCHEMA_VERSION}`) && err.message.includes('newer camwire'), err.message);
    assert.ok(err.message.includes(file));
    assert.deepEqual(fs.readFileSync(file), bytes);
    assert.equal(fs.statSync(file).mtimeMs, mtime);
    assert.deepEqual(fs.readdirSync(dir), ['camwire.db']);
  });
});

// ---------------------------------------------------------------- unusable files and folders

describe('SqliteDb: typed errors on open', () => {
  test('a file that is not a database is STORE_CORRUPT, and left as it is', async (t) => {
    const dir = tmp(t);
    const file = path.join(dir, 'camwire.db');
    fs.writeFileSync(file, 'this is not a database\n'.repeat(500));
    const err = await refused(new SqliteDb({ dir }).open(), ErrorCode.STORE_CORRUPT);
    assert.ok(err.message.includes(file) && err.message.includes('move it aside'), err.message);
    assert.equal(err.path, file);
    assert.equal(fs.readFileSync(file, 'utf8'), 'this is not a database\n'.repeat(500));
  });

  test('an SQLite database that is not a camwire store is STORE_CORRUPT', async (t) => {
    const dir = tmp(t);
    const db = new Database(path.join(dir, 'camwire.db'));
    db.exec('CREATE TABLE notes (text)');
    db.close();
    await refused(new SqliteDb({ dir }).open(), ErrorCode.STORE_CORRUPT);
  });

  /** A closed store holding enough clients to fill many pages. */
  async function bigStore(t: TestContext): Promise<string> {
    const dir = tmp(t);
    const [s] = await opened(t, dir);
    for (let i = 0; i < 300; i++) s.putClient({ id: `client-${i}`, user: 'u'.repeat(200), firstSeen: i, lastSeen: i });
    s.close();
    return path.join(dir, 'camwire.db');
  }

  test('a truncated database opens or is STORE_CORRUPT, never anything else', async (t) => {
    const file = await bigStore(t);
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    const s = new SqliteDb({ dir: path.dirname(file) });
    t.after(() => s.close());
    await s.open().then(
      (st) => assert.ok(Array.isArray(st.clients)),
      (err: unknown) => assert.ok(err instanceof StoreError && err.code === ErrorCode.STORE_CORRUPT, String(err)),
    );
  });

  test('a database with a damaged page is STORE_CORRUPT', async (t) => {
    const file = await bigStore(t);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096 * 3);
    fs.closeSync(fd);
    await refused(new SqliteDb({ dir: path.dirname(file) }).open(), ErrorCode.STORE_CORRUPT);
  });

  test('a folder that cannot be created (its parent is a file) is STORE_UNWRITABLE', async (t) => {
    const dir = tmp(t);
    fs.writeFileSync(path.join(dir, 'afile'), '');
    const sub = path.join(dir, 'afile', 'sub');
    const err = await refused(new SqliteDb({ dir: sub }).open(), ErrorCode.STORE_UNWRITABLE);
    assert.equal(err.path, sub);
    assert.ok(err.message.includes(sub) && err.message.includes('ENOTDIR'), err.message);
  });

  test('a camwire.db that is a folder is STORE_UNWRITABLE', async (t) => {
    const dir = tmp(t);
    fs.mkdirSync(path.join(dir, 'camwire.db'));
    const err = await refused(new SqliteDb({ dir }).open(), ErrorCode.STORE_UNWRITABLE);
    assert.ok(err.message.includes(path.join(dir, 'camwire.db')), err.message);
  });

  test('a store on a read-only file system is STORE_UNWRITABLE', async (t) => {
    const stores: ServerStore[] = [];
    const mnt = tmpfs(t, 'size=1m', stores);
    if (!mnt) return;
    const [s] = await opened(t, mnt);
    s.putClient({ id: 'a', firstSeen: 1, lastSeen: 1 });
    s.close();
    const r = spawnSync('mount', ['-o', 'remount,ro', mnt], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const err = await refused(new SqliteDb({ dir: mnt }).open(), ErrorCode.STORE_UNWRITABLE);
    assert.ok(err.message.includes(mnt) && err.message.includes('EROFS'), err.message);
  });

  test('disk full: writes throw STORE_WRITE, open is STORE_UNWRITABLE, and writes resume once there is space', async (t) => {
    const stores: ServerStore[] = [];
    const mnt = tmpfs(t, 'size=1m', stores);
    if (!mnt) return;
    const dir = path.join(mnt, 'a');
    const a = new SqliteDb({ dir });
    stores.push(a);
    await a.open();
    a.putClient({ id: 'first', firstSeen: 1, lastSeen: 1 });
    const filler = path.join(mnt, 'filler');
    const fd = fs.openSync(filler, 'w');
    assert.throws(() => {
      for (let i = 0; i < 1 << 20; i++) fs.writeSync(fd, Buffer.alloc(4096, 1));
    }, /ENOSPC/, 'the disk fills');
    fs.closeSync(fd);
    let failed: unknown;
    let n = 0;
    for (; n < 1000 && failed === undefined; n++) {
      try {
        a.putClient({ id: `c${n}`, user: 'u'.repeat(3000), firstSeen: 2, lastSeen: 2 });
      } catch (err) {
        failed = err;
      }
    }
    assert.ok(failed instanceof StoreError && failed.code === ErrorCode.STORE_WRITE, String(failed));
    assert.ok(failed.message.includes(a.location), failed.message);
    const b = new SqliteDb({ dir: path.join(mnt, 'b') });
    stores.push(b);
    await refused(b.open(), ErrorCode.STORE_UNWRITABLE);
    fs.rmSync(filler);
    a.putClient({ id: 'after', firstSeen: 3, lastSeen: 3 });
    a.close();
    const again = new SqliteDb({ dir });
    stores.push(again);
    const kept = (await again.open()).clients.map((c) => c.id);
    assert.equal(kept[0], 'first');
    assert.equal(kept.at(-1), 'after');
    assert.ok(!kept.includes(`c${n - 1}`), 'the failed write is not kept');
  });
});
