import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';

/**
 * The baselines the gateway is compared with: a bare Fastify route returning a constant JSON
 * object, and a bare route that inserts one SQLite row per request (same WAL settings as vidgate).
 */
const db = new Database(path.join(mkdtempSync(path.join(tmpdir(), 'bench-bare-')), 'bare.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, created_at INTEGER NOT NULL)');
const insert = db.prepare('INSERT INTO rows (prompt, created_at) VALUES (?, ?)');

const app = Fastify({ logger: false });
const constant = { id: 'video_01M7YW91F1725P0R35Z4K5P5T9', object: 'video', status: 'queued', progress: 0 };
app.get('/const', async () => constant);
app.post('/insert', async (req) => {
  const info = insert.run((req.body as { prompt: string }).prompt, Date.now());
  return { id: Number(info.lastInsertRowid), object: 'video', status: 'queued' };
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
