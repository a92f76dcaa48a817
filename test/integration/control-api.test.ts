/**
 * The control API (docs/openapi.yaml): list clients and groups, kick a client, delete a group;
 * every answer is checked against the OpenAPI file.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { RemoteCloseError, type MediaServer } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { checkAnswer } from '../helpers/openapi.js';
import { startClient, startServer } from '../helpers/server-client.js';

async function call(s: MediaServer, method: string, url: string, template: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${s.ports.http}${url}`, { method, headers });
  const text = await res.text();
  const body = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text;
  assert.deepEqual(checkAnswer(method.toLowerCase(), template, res.status, body), [], `${method} ${url} -> ${res.status} ${text}`);
  return { status: res.status, body, headers: res.headers };
}

function server(t: TestContext, o: Parameters<typeof startServer>[1] = {}): Promise<MediaServer> {
  return startServer(t, { tcpPort: 0, udpPort: false, httpPort: 0, ...o });
}

test('control api - clients and groups are listed as documented', async (t) => {
  const s = await server(t);
  const a = await startClient(t, s, 'a');
  const b = await startClient(t, s, 'b');
  await a.tx.joinGroup('room', { permanent: true, name: 'Room' });
  await b.tx.joinGroup('room');
  const clients = await call(s, 'GET', '/api/v1/clients', '/api/v1/clients');
  assert.equal(clients.status, 200);
  assert.deepEqual((clients.body as { clients: Array<{ id: string }> }).clients.map((c) => c.id).sort(), ['a', 'b']);
  const one = await call(s, 'GET', '/api/v1/clients/a', '/api/v1/clients/{id}');
  assert.deepEqual([(one.body as { id: string; groups: string[] }).id, (one.body as { groups: string[] }).groups], ['a', ['room']]);
  assert.equal((await call(s, 'GET', '/api/v1/clients/nobody', '/api/v1/clients/{id}')).status, 404);
  const groups = await call(s, 'GET', '/api/v1/groups', '/api/v1/groups');
  assert.deepEqual((groups.body as { groups: unknown[] }).groups, [
    { id: 'room', name: 'Room', owner: 'a', created: (groups.body as { groups: Array<{ created: number }> }).groups[0].created, hasPassword: false, members: [{ id: 'a', permanent: true }, { id: 'b', permanent: false }] },
  ]);
  assert.equal((await call(s, 'GET', '/api/v1/groups/room', '/api/v1/groups/{id}')).status, 200);
  assert.equal((await call(s, 'GET', '/api/v1/groups/none', '/api/v1/groups/{id}')).status, 404);
});

test('control api - a kick closes the client\'s connections (1201); wrong method 405 with Allow', async (t) => {
  const s = await server(t);
  const b = await startClient(t, s, 'b');
  const gone = next(b.rx, 'sessionDisconnected');
  const kicked = await call(s, 'POST', '/api/v1/clients/b/kick', '/api/v1/clients/{id}/kick');
  assert.deepEqual([kicked.status, kicked.body], [200, { kicked: 'b' }]);
  const err = (await gone)[0].error;
  assert.ok(err instanceof RemoteCloseError && err.closeCode === 1201, String(err));
  assert.equal((await call(s, 'POST', '/api/v1/clients/nobody/kick', '/api/v1/clients/{id}/kick')).status, 404);
  const wrong = await fetch(`http://127.0.0.1:${s.ports.http}/api/v1/clients/b/kick`);
  assert.deepEqual([wrong.status, wrong.headers.get('allow'), (await wrong.json()).code], [405, 'POST', 'METHOD_NOT_ALLOWED']);
});

test('control api - deleting a group removes every member and tells them', async (t) => {
  const s = await server(t);
  const a = await startClient(t, s, 'a');
  await a.tx.joinGroup('room', { permanent: true });
  const told = next(a.rx, 'userLeavesGroup');
  const del = await call(s, 'DELETE', '/api/v1/groups/room', '/api/v1/groups/{id}');
  assert.deepEqual([del.status, del.body], [200, { deleted: 'room', members: ['a'] }]);
  assert.deepEqual((await told).slice(0, 2), ['room', 'a']);
  assert.equal((await call(s, 'GET', '/api/v1/groups/room', '/api/v1/groups/{id}')).status, 404);
  assert.equal((await call(s, 'DELETE', '/api/v1/groups/room', '/api/v1/groups/{id}')).status, 404);
  assert.deepEqual(await a.tx.getAllGroups(), []);
});

test('control api - with users, the same login as /stats', async (t) => {
  const s = await server(t, { auth: { users: [{ user: 'ops', password: 'secret' }] } });
  const none = await call(s, 'GET', '/api/v1/clients', '/api/v1/clients');
  assert.equal(none.status, 401);
  assert.equal((await call(s, 'DELETE', '/api/v1/groups/x', '/api/v1/groups/{id}')).status, 401);
  const login = { authorization: `Basic ${Buffer.from('ops:secret').toString('base64')}` };
  const ok = await call(s, 'GET', '/api/v1/clients', '/api/v1/clients', login);
  assert.deepEqual([ok.status, ok.body], [200, { clients: [] }]);
});

test('control api - the OpenAPI check itself rejects what breaks the file', () => {
  assert.deepEqual(checkAnswer('get', '/api/v1/clients', 200, { clients: [] }), []);
  assert.match(checkAnswer('get', '/api/v1/clients', 200, { clients: [{ id: 'a' }] }).join('\n'), /\$\.clients\[0\]: missing online/);
  assert.match(checkAnswer('get', '/api/v1/groups/{id}', 200, { id: 'g', name: 'n', owner: 'o', created: 1.5, hasPassword: false, members: [], extra: 1 }).join('\n'), /created: expected integer[^]*unexpected property extra/);
  assert.match(checkAnswer('post', '/api/v1/clients/{id}/kick', 500, {}).join(''), /status 500 is not documented/);
  assert.match(checkAnswer('put', '/api/v1/groups', 200, {}).join(''), /not in docs\/openapi.yaml/);
});
