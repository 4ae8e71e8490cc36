// Schema migrations, applied in order at start; PRAGMA user_version records the last one.
// Append only: a released migration is never edited. A migration that fails ends the
// process (see StoreFatalError): never run on a half schema.

import type { Database } from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  // 1: documents of every kind, the change sequence, reports.
  `
  CREATE TABLE docs (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    oid TEXT NOT NULL,
    doc TEXT NOT NULL,
    token_lookup TEXT,
    PRIMARY KEY (kind, name)
  ) WITHOUT ROWID;
  CREATE INDEX docs_token_lookup ON docs (token_lookup) WHERE token_lookup IS NOT NULL;
  -- Imported users not yet seen with their token: found without scanning every user.
  CREATE INDEX docs_users_without_lookup ON docs (name) WHERE kind = 'users' AND token_lookup IS NULL;
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO meta (key, value) VALUES ('change_seq', 0);
  CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    inserted_at INTEGER NOT NULL,
    device_group TEXT,
    hostname TEXT,
    report_creation_time INTEGER,
    updated INTEGER,
    doc TEXT NOT NULL
  );
  CREATE INDEX reports_device_group ON reports (device_group, id);
  CREATE INDEX reports_hostname ON reports (hostname, id);
  CREATE INDEX reports_creation_time ON reports (report_creation_time);
  `,
  // 2: idempotent report ingestion, the device index, retention.
  // report_id is unique where present; NULLs (reports of original 2.x workers, and rows stored
  // before this migration) never collide. Rows already stored keep a NULL report_id: backfilling
  // it from their JSON could meet duplicates and fail the migration. The device index starts
  // empty and fills with each device's next report (devices report every check-in).
  // inserted_at is indexed for the retention purge, never unique (see reference 4.3).
  `
  ALTER TABLE reports ADD COLUMN report_id TEXT;
  CREATE UNIQUE INDEX reports_report_id ON reports (report_id);
  CREATE INDEX reports_inserted_at ON reports (inserted_at);
  CREATE TABLE devices (
    hostname TEXT PRIMARY KEY,
    device_group TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    record TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX devices_device_group ON devices (device_group, hostname);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies `migrations[user_version..]` in order, each in its own transaction. */
export function runMigrations(db: Database, migrations: readonly string[]): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`the database has schema version ${current}, newer than this Nebula knows (${migrations.length}): upgrade Nebula`);
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

export function migrate(db: Database): void {
  runMigrations(db, MIGRATIONS);
}
