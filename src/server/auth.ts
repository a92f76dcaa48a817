/**
 * Authentication of clients: users with scrypt-hashed passwords, tokens, or an application hook,
 * and client ids bound to users so nobody can take over someone else's id.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Credentials } from '../options.js';
import { misuse } from '../errors.js';

/** Who is knocking, for a verify hook. */
export interface AuthRequest extends Credentials {
  clientId: string;
  transport: string;
  remoteAddress: string;
}

/** A user the server knows. Give `password` (hashed at start) or `passwordHash` (from hashPassword). */
export interface UserEntry {
  user: string;
  password?: string;
  passwordHash?: string;
  /** Client ids this user may use; empty/absent = any id not bound to another user. */
  clientIds?: string[];
}

/** Server authentication options. Setting `auth` makes credentials required. */
export interface AuthOptions {
  users?: UserEntry[];
  /** Decides for credentials the users list does not settle; resolve to the user name, or false. */
  verify?: (req: AuthRequest) => string | false | Promise<string | false>;
}

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function derive(password: string, salt: Buffer, n = N, r = R, p = P): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEYLEN, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Hashes a password for a UserEntry's passwordHash: `scrypt$N$r$p$salt$hash` (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `hash` has the form hashPassword makes (`scrypt$N$r$p$salt$hash`, parameters in range): any other never matches a password. */
export function isPasswordHash(hash: string): boolean {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt' || !parts[4] || !parts[5]) return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  return n >= 2 && n <= 1 << 20 && r >= 1 && r <= 64 && p >= 1 && p <= 16;
}

/** Checks a password against a hash made by hashPassword, in constant time. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!isPasswordHash(hash)) return false;
  const parts = hash.split('$');
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const expected = Buffer.from(parts[5], 'base64');
  const got = await derive(password, Buffer.from(parts[4], 'base64'), n, r, p);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** Authenticator: decides whether a HELLO's credentials let a client in under its id. */
export class Authenticator {
  readonly #users = new Map<string, { hash: Promise<string>; clientIds?: Set<string> }>();
  /** client id → the user it is bound to. */
  readonly #owners = new Map<string, string>();
  readonly #verify: AuthOptions['verify'];

  constructor(o: AuthOptions) {
    for (const u of o.users ?? []) {
      if (!u.user) throw misuse(new TypeError('auth.users: every entry needs a user name'));
      if (!u.password && !u.passwordHash) throw misuse(new TypeError(`auth.users: ${u.user} needs password or passwordHash`));
      const hash = u.passwordHash ? Promise.resolve(u.passwordHash) : hashPassword(u.password!);
      hash.catch(() => {});
      const entry: { hash: Promise<string>; clientIds?: Set<string> } = { hash };
      if (u.clientIds?.length) {
        entry.clientIds = new Set(u.clientIds);
        for (const id of u.clientIds) this.#owners.set(id, u.user);
      }
      this.#users.set(u.user, entry);
    }
    this.#verify = o.verify;
  }

  /**
   * Adds (or replaces) a user at run time. Throws a TypeError when one of its client ids
   * belongs to another user.
   */
  addUser(u: { user: string; passwordHash: string; clientIds: string[] }): void {
    for (const id of u.clientIds) {
      const owner = this.#owners.get(id);
      if (owner !== undefined && owner !== u.user) throw misuse(new TypeError(`client id ${JSON.stringify(id)} belongs to user ${owner}`));
    }
    this.removeUser(u.user);
    const entry: { hash: Promise<string>; clientIds?: Set<string> } = { hash: Promise.resolve(u.passwordHash) };
    if (u.clientIds.length) {
      entry.clientIds = new Set(u.clientIds);
      for (const id of u.clientIds) this.#owners.set(id, u.user);
    }
    this.#users.set(u.user, entry);
  }

  /** The user other than `u.user` that one of `u.clientIds` belongs to, if any. */
  conflict(u: { user: string; clientIds: string[] }): string | undefined {
    for (const id of u.clientIds) {
      const owner = this.#owners.get(id);
      if (owner !== undefined && owner !== u.user) return `client id ${JSON.stringify(id)} belongs to user ${owner}`;
    }
    return undefined;
  }

  /** Removes a user; returns false if unknown. */
  removeUser(user: string): boolean {
    const e = this.#users.get(user);
    if (!e) return false;
    for (const id of e.clientIds ?? []) this.#owners.delete(id);
    return this.#users.delete(user);
  }

  /** Resolves to the user name, or a reason for refusal. Never throws. */
  async check(req: AuthRequest): Promise<{ user: string } | { refused: string }> {
    try {
      let user: string | false = false;
      const entry = req.user ? this.#users.get(req.user) : undefined;
      if (entry && req.password !== undefined) {
        if (await verifyPassword(req.password, await entry.hash)) user = req.user!;
        else return { refused: 'wrong user name or password' };
      } else if (this.#verify) {
        user = await this.#verify(req);
      }
      if (!user) return { refused: req.user || req.token ? 'credentials not accepted' : 'credentials required' };
      // No client id: a login for the web pages, not a client.
      if (!req.clientId) return { user };
      const owner = this.#owners.get(req.clientId);
      if (owner !== undefined && owner !== user) return { refused: `client id ${JSON.stringify(req.clientId)} belongs to another user` };
      const allowed = this.#users.get(user)?.clientIds;
      if (allowed && !allowed.has(req.clientId)) return { refused: `user ${user} may not use client id ${JSON.stringify(req.clientId)}` };
      return { user };
    } catch (err) {
      return { refused: `authentication failed: ${(err as Error).message}` };
    }
  }
}
