import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, ROOT } from './process.js';

/** nginx from Debian (`apt-get install nginx`), or NGINX_PATH. */
export function nginxBinary(): string | undefined {
  const candidates = [process.env.NGINX_PATH, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

/**
 * Tests that need nginx skip with this reason when it is missing, except where
 * VIDGATE_REQUIRE_NGINX=1 (set by .ci/run, which installs it): there they fail.
 */
export function nginxMissing(): string | undefined {
  if (nginxBinary()) return undefined;
  const reason = 'nginx is not installed (apt-get install -y nginx, or set NGINX_PATH)';
  if (process.env.VIDGATE_REQUIRE_NGINX === '1') throw new Error(`${reason}; VIDGATE_REQUIRE_NGINX=1 forbids skipping`);
  return reason;
}

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

/**
 * Run nginx in the foreground with `serverBlocks` inside its http { } block (ports, paths and
 * all already filled in), its files in a temporary prefix.
 */
export async function startNginx(serverBlocks: string): Promise<Nginx> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is not installed');
  const prefix = await mkdtemp(path.join(tmpdir(), 'vidgate-nginx-'));
  for (const d of ['logs', 'tmp']) await mkdir(path.join(prefix, d));
  const conf = `
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
${process.getuid?.() === 0 ? 'user root;' : ''}
events { worker_connections 4096; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  ${serverBlocks}
}
`;
  await writeFile(path.join(prefix, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(bin, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'logs/error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = Number(/listen\s+127\.0\.0\.1:(\d+)/.exec(serverBlocks)?.[1]);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${err}${await readFile(path.join(prefix, 'logs/error.log'), 'utf8').catch(() => '')}`);
    try {
      await fetch(url);
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

/** docs/examples/nginx-x-accel.conf with vidgate's address, the blobs folder and a free port filled in. */
export async function exampleHandoffConfig(gatewayAddress: string, blobsDir: string): Promise<{ config: string; port: number }> {
  const port = await freePort();
  const example = await readFile(path.join(ROOT, 'docs/examples/nginx-x-accel.conf'), 'utf8');
  const config = example
    .replace('server 127.0.0.1:8080;', `server ${gatewayAddress};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
    .replace('/var/lib/vidgate/data/blobs/', `${blobsDir.replace(/\/?$/, '/')}`);
  if (config === example) throw new Error('docs/examples/nginx-x-accel.conf no longer has the placeholders the test fills in');
  return { config, port };
}
