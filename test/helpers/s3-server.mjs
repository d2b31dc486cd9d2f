// A real S3-protocol server for the tests: fauxqs (npm), in its own process so that a test can
// stop it (the bucket goes down) and start it again on the same port and storage folder.
// Usage: node test/helpers/s3-server.mjs <port> <storage dir> <bucket>
//
// fauxqs declares Node >= 22 only because its optional SQS/SNS persistence imports node:sqlite;
// its S3 side does not use it. On an older Node the import is answered by a stand-in that
// refuses to open a database.
import { register } from 'node:module';

const hasSqlite = await import('node:sqlite').then(() => true, () => false);
if (!hasSqlite) {
  const standIn = 'export class DatabaseSync { constructor() { throw new Error("node:sqlite is not available on this Node version"); } }';
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === 'node:sqlite') return { url: 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(standIn)}), shortCircuit: true };
    return next(specifier, context);
  }`;
  register('data:text/javascript,' + encodeURIComponent(hooks));
}
const { startFauxqs } = await import('fauxqs');
const [port, dir, bucket] = process.argv.slice(2);
const server = await startFauxqs({ port: Number(port), host: '127.0.0.1', logger: false, s3StorageDir: dir });
try {
  server.createBucket(bucket);
} catch {
  // already there (a restart on the same storage folder)
}
process.stdout.write(`listening ${server.port}\n`);
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
