import path from 'node:path';

/**
 * Where a database is, from a URL: `sqlite:PATH` (or a bare file path) or `postgres://…` /
 * `postgresql://…`. Used by VIDGATE_DATABASE_URL and the `--database`, `--from` and `--to` options.
 */
export type DatabaseLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export class DatabaseUrlError extends Error {}

export function parseDatabaseUrl(url: string): DatabaseLocation {
  const text = url.trim();
  if (!text) throw new DatabaseUrlError('the database URL is empty: use sqlite:PATH, a file path, or postgres://USER@HOST:PORT/DATABASE');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new DatabaseUrlError(`'${redactDatabaseUrl(text)}' is not a valid PostgreSQL URL: use postgres://USER@HOST:PORT/DATABASE`);
    }
    if (!parsed.hostname && !parsed.searchParams.get('host')) {
      throw new DatabaseUrlError(`'${redactDatabaseUrl(text)}' names no host: use postgres://USER@HOST:PORT/DATABASE`);
    }
    return { kind: 'postgres', url: text };
  }
  if (scheme === 'sqlite') {
    // sqlite:PATH; sqlite://PATH and sqlite:///ABSOLUTE are read the same way.
    const rest = text.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!rest) throw new DatabaseUrlError(`'${text}' names no file: use sqlite:PATH, such as sqlite:./data/vidgate.db`);
    return { kind: 'sqlite', file: path.resolve(rest) };
  }
  // A drive letter (C:\…) is a path; any other scheme is not a database vidgate speaks.
  if (scheme && scheme.length > 1) {
    throw new DatabaseUrlError(
      `unsupported database URL '${redactDatabaseUrl(text)}': use sqlite:PATH, a file path, or postgres://USER@HOST:PORT/DATABASE`,
    );
  }
  return { kind: 'sqlite', file: path.resolve(text) };
}

/** The URL with any password replaced, for messages. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

/** How a location reads in messages: sqlite:/abs/path or the PostgreSQL URL without its password. */
export function describeDatabase(loc: DatabaseLocation): string {
  return loc.kind === 'sqlite' ? `sqlite:${loc.file}` : redactDatabaseUrl(loc.url);
}
