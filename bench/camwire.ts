/**
 * camwire pairs: a Sender and a Receiver in this process, with default options, on 127.0.0.1.
 *  - push (sender-to-receiver) over TCP, UDP or HTTP: the receiver listens, the sender's lane
 *    connects on the first frame;
 *  - pull (receiver-to-sender) over TCP: the sender listens, the receiver opens a video channel.
 */
import type { Receiver, Sender, SenderOptions } from '../src/index.js';
import { loadCamwire } from './lib.js';
import { sendVideo, type Pair } from './pair.js';

const HOST = '127.0.0.1';

/**
 * http-push-proxy: HTTP through tinyproxy with the default `proxyTunnel` ('auto': a CONNECT
 * tunnel, since this tinyproxy allows it); http-push-proxy-plain: the same with `proxyTunnel:
 * 'never'` (requests to the proxy, absolute-form: what a proxy that refuses CONNECT gets).
 * http-push and http-push-proxy upgrade their links to camwire's byte stream (the default
 * `httpUpgrade: 'auto'`, docs/protocol.md 6.6); http-push-requests is http-push with
 * `httpUpgrade: 'never'`, so the request-based link (streaming POST up, long polls down) stays measured.
 */
export type CamwireCase = 'tcp-push' | 'udp-push' | 'http-push' | 'http-push-requests' | 'http-push-proxy' | 'http-push-proxy-plain' | 'tcp-pull';

/** Logs what should not happen during a benchmark (it would make the figures meaningless). */
function watch(who: string, e: Sender | Receiver, problems: string[]): void {
  const note = (what: string) => (ev: { error?: Error }) => {
    const msg = `${who} ${what}${ev.error ? `: ${ev.error.message}` : ''}`;
    problems.push(msg);
  };
  (e as Receiver).on('connectError', note('connectError'));
  (e as Receiver).on('disconnect', (ev) => {
    if (ev.error) note('disconnect')(ev);
  });
  (e as Receiver).on('protocolError', (err: Error) => problems.push(`${who} protocolError: ${err.message}`));
}

/** `proxy`: the HTTP proxy URL of the http-push-proxy cases. */
export async function camwirePair(kind: CamwireCase, problems: string[], proxy?: string): Promise<Pair> {
  // The package as users load it (bench/lib.ts).
  const cw = await loadCamwire();
  let tx: Sender;
  let rx: Receiver;
  if (kind === 'tcp-pull') {
    tx = new cw.Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: HOST, port: 0, clientId: 'cam' });
    watch('sender', tx, problems);
    await tx.start();
    rx = new cw.Receiver({
      protocol: 'tcp',
      connection: 'receiver-to-sender',
      senders: [{ host: HOST, port: tx.port, clientId: 'cam' }],
      receiveMediaTypes: ['video'],
      reconnect: false,
    });
    watch('receiver', rx, problems);
    const up = new Promise<void>((resolve) => rx.once('sessionConnected', () => resolve()));
    await rx.start();
    await up;
  } else {
    const protocol = kind === 'tcp-push' ? 'tcp' : kind === 'udp-push' ? 'udp' : 'http';
    rx = new cw.Receiver({ protocol, connection: 'sender-to-receiver', host: HOST, port: 0, receiveMediaTypes: ['video'] });
    watch('receiver', rx, problems);
    await rx.start();
    const via: Partial<Record<CamwireCase, Partial<SenderOptions>>> = {
      'http-push-proxy': { proxy },
      'http-push-proxy-plain': { proxy, proxyTunnel: 'never' },
      'http-push-requests': { httpUpgrade: 'never' },
    };
    tx = new cw.Sender({ protocol, connection: 'sender-to-receiver', host: HOST, port: rx.port, clientId: 'cam', ...via[kind] });
    watch('sender', tx, problems);
    await tx.start();
  }
  const pair: Pair = {
    label: `camwire ${kind}`,
    lossy: kind === 'udp-push',
    handler: () => {},
    send(p: Buffer): void {
      sendVideo(tx, p);
    },
    dropped: () => tx.stats.dropped.video,
    extra: () => {
      const s = rx.stats;
      const out: Record<string, number> = { rxDropped: s.dropped.video };
      if (s.udp) {
        out.incomplete = s.udp.incomplete;
        out.corrupt = s.udp.corrupt;
      }
      return out;
    },
    async close(): Promise<void> {
      if (kind === 'tcp-pull') {
        await rx.stop();
        await tx.stop();
      } else {
        await tx.stop();
        await rx.stop();
      }
    },
  };
  rx.on('video', (frame) => pair.handler(frame.data));
  return pair;
}
