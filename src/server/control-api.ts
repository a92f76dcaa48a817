/**
 * The control API on a MediaServer's HTTP port (docs/openapi.yaml): list clients and groups,
 * kick a client, delete a group, drain the server. JSON in and out, behind the same login as /stats.
 */
import type http from 'node:http';
import type { ParamValue } from '../protocol/messages.js';
import { Notice } from '../protocol/system-commands.js';
import type { GroupRegistry } from './groups.js';

/** The path every control route starts with. */
export const CONTROL_PREFIX = '/api/v1/';

/** What the control API needs from its MediaServer. */
export interface ControlApiDeps<C extends { id: string }> {
  clients(): C[];
  kick(id: string, reason: string): boolean;
  /** Starts draining the server (it stops when drained). */
  drain(): void;
  groups: GroupRegistry;
  /** Sends a notification (an RV_ command) to a client's receiver. */
  notify(to: string, name: string, params: Record<string, ParamValue>): void;
  /** In a cluster: resolves once every node applied this node's last change of `client`'s membership of `group` (bounded). */
  settled?: (group: string, client: string) => Promise<void>;
}

/** ControlApi: answers the routes under /api/v1/. */
export class ControlApi<C extends { id: string }> {
  readonly #d: ControlApiDeps<C>;

  constructor(d: ControlApiDeps<C>) {
    this.#d = d;
  }

  /** Answers `path` if it is a control route (true), else false. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
    if (!path.startsWith(CONTROL_PREFIX)) return false;
    const parts = path.slice(CONTROL_PREFIX.length).split('/').map((p) => decodeURIComponent(p));
    const method = req.method ?? 'GET';
    const json = (status: number, body: object, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
    };
    const only = (allowed: string): boolean => {
      if (method === allowed || (allowed === 'GET' && method === 'HEAD')) return true;
      json(405, { error: `${method} is not allowed here; use ${allowed}`, code: 'METHOD_NOT_ALLOWED' }, { allow: allowed });
      return false;
    };
    const notFound = (what: string): void => json(404, { error: `no ${what}`, code: 'NOT_FOUND' });
    const [kind, id, action, extra] = parts;
    if (kind === 'clients' && id === undefined) {
      if (only('GET')) json(200, { clients: this.#d.clients() });
    } else if (kind === 'clients' && id && action === undefined) {
      if (!only('GET')) return true;
      const c = this.#d.clients().find((x) => x.id === id);
      if (c) json(200, c);
      else notFound(`client ${JSON.stringify(id)}`);
    } else if (kind === 'clients' && id && action === 'kick' && extra === undefined) {
      if (!only('POST')) return true;
      if (this.#d.kick(id, 'kicked through the control API')) json(200, { kicked: id });
      else notFound(`client ${JSON.stringify(id)}`);
    } else if (kind === 'drain' && id === undefined) {
      if (!only('POST')) return true;
      json(202, { draining: true });
      this.#d.drain();
    } else if (kind === 'groups' && id === undefined) {
      if (only('GET')) json(200, { groups: this.#d.groups.all().map((g) => groupJson(g)) });
    } else if (kind === 'groups' && id && action === undefined) {
      if (method === 'DELETE') this.#delete(id, json, notFound);
      else if (only('GET')) {
        const g = this.#d.groups.get(id);
        if (g) json(200, groupJson(g));
        else notFound(`group ${JSON.stringify(id)}`);
      }
    } else notFound(`route ${method} ${path}`);
    return true;
  }

  #delete(id: string, json: (status: number, body: object) => void, notFound: (what: string) => void): void {
    const members = this.#d.groups.remove(id);
    if (!members) return notFound(`group ${JSON.stringify(id)}`);
    const done = (): void => {
      // Every former member hears that every member left.
      for (const to of members) for (const user of members) this.#d.notify(to, Notice.USER_LEAVES_GROUP, { group: id, user });
      json(200, { deleted: id, members });
    };
    // In a cluster: answered once every node applied the removals (docs/cluster.md, What is consistent).
    const settled = this.#d.settled;
    if (settled) void Promise.all(members.map((m) => settled(id, m))).then(done);
    else done();
  }
}

function groupJson(g: ReturnType<GroupRegistry['all']>[number]): object {
  return {
    id: g.id,
    name: g.name,
    owner: g.owner,
    created: g.created,
    hasPassword: g.hasPassword,
    members: [...g.members.values()].map((m) => ({ id: m.id, permanent: m.permanent })),
  };
}
