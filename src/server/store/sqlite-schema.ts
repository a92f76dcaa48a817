/**
 * The SqliteStore's schema and its migrations. The schema version is kept in `PRAGMA
 * user_version`; MIGRATIONS[n] takes a database from version n to n + 1 (0 = empty file).
 *
 * Migrations are append-only: never edit one that has shipped, add the next one. Each new
 * version also adds its fixture (test/fixtures/store/make-fixtures.mjs, v<N>.db), which the
 * unit tests open to check that every older database still migrates.
 */
import type Database from 'better-sqlite3';

/** One step of the schema, run inside the opening transaction. */
export type Migration = (db: Database.Database) => void;

/** Ordered: index n migrates from version n to n + 1. */
export const MIGRATIONS: readonly Migration[] = [
  // 0 → 1: the first schema. Lists are JSON arrays (order and duplicates kept as given).
  // There are no foreign keys: like MemoryStore, a membership or contact lists may name a
  // client or group that has no record of its own.
  (db) => {
    db.exec(`
      CREATE TABLE clients (
        id TEXT PRIMARY KEY NOT NULL,
        user TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX clients_by_last_seen ON clients (last_seen, id);
      CREATE TABLE contacts (
        client_id TEXT PRIMARY KEY NOT NULL,
        default_receivers TEXT NOT NULL,
        allowed_mode TEXT NOT NULL CHECK (allowed_mode IN ('all', 'none', 'list')),
        allowed_senders TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE groups (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE members (
        group_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        PRIMARY KEY (group_id, client_id)
      ) WITHOUT ROWID;
      CREATE INDEX members_by_client ON members (client_id);
      CREATE TABLE users (
        user TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        client_ids TEXT NOT NULL
      ) WITHOUT ROWID;
    `);
  },
];

/** The version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
