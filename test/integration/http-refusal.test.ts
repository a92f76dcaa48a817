/**
 * An HTTP open answered by something that is not camwire (a proxy's or a web server's error page)
 * fails with what answered and how, not as a frame parse error: a 4xx no retry fixes is
 * CW_ERR_WRONG_PROTOCOL, a 5xx (a reverse proxy whose server restarts) CW_ERR_TRANSPORT_CONNECT.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { Sender, type CamwireError, type ConnectionEvent } from '../../src/index.js';
import { once } from '../helpers/wait.js';

/** A web server that answers every request with `status` and an HTML page. */
async function webServer(t: TestContext, status: number, title: string): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html>\n<html><head><title>${title}</title></head>\n<body><h1>${title}</h1><p>go away</p></body></html>\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

for (const [status, title, code] of [
  [403, '403 Access denied', 'CW_ERR_WRONG_PROTOCOL'],
  [404, '404 Not Found', 'CW_ERR_WRONG_PROTOCOL'],
  [502, '502 Bad Gateway', 'CW_ERR_TRANSPORT_CONNECT'],
] as const) {
  test(`http open answered ${status} with an HTML page: ${code}, naming the status and the page's first line`, async (t) => {
    const port = await webServer(t, status, title);
    const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port, reconnect: false });
    await tx.start();
    t.after(() => tx.stop());
    const failed = once<[ConnectionEvent]>(tx, 'connectError');
    tx.sendVideoFrame(Buffer.alloc(100, 1));
    const [ev] = await failed;
    const err = ev.error as CamwireError;
    assert.equal(err.code, code, err.message);
    assert.equal(err.message, `127.0.0.1:${port} refused the HTTP open with status ${status}, not as camwire does ("${title}")`);
  });
}
