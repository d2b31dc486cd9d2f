/**
 * Builds the console (web/src, Preact + TSX) into web/dist, which the gateway serves at /console/:
 * - assets/app-<hash>.js and assets/app-<hash>.css, bundled and minified by esbuild, with
 *   .gz and .br siblings (served pre-compressed);
 * - index.html referencing them relative to a <base href> the server fills in.
 * Run by `npm run build` (after tsc); prints the bundle sizes. `--dev` skips minification.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface BuiltFile {
  file: string;
  bytes: number;
  gzip: number;
  brotli: number;
}

export async function buildConsole(opts: { outDir?: string; minify?: boolean } = {}): Promise<BuiltFile[]> {
  const outDir = opts.outDir ?? path.join(here, 'dist');
  const assets = path.join(outDir, 'assets');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: path.join(here, 'src/main.tsx') },
    bundle: true,
    minify: opts.minify ?? true,
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: assets,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.svg': 'file' },
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.resolve(f));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css) throw new Error('web build: expected one .js and one .css output');
  const iconData = await readFile(path.join(here, 'src/icon.svg'));
  const icon = path.join(assets, `icon-${createHash('sha256').update(iconData).digest('hex').slice(0, 8)}.svg`);
  await writeFile(icon, iconData);

  const rel = (f: string) => `assets/${path.basename(f)}`;
  const template = await readFile(path.join(here, 'src/index.html'), 'utf8');
  const html = template.replace('%SCRIPT%', rel(js)).replace('%STYLE%', rel(css)).replace('%ICON%', rel(icon));
  await writeFile(path.join(outDir, 'index.html'), html);

  const built: BuiltFile[] = [];
  for (const file of [js, css, icon]) {
    const data = await readFile(file);
    const gz = gzipSync(data, { level: 9 });
    const br = brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
    await writeFile(`${file}.gz`, gz);
    await writeFile(`${file}.br`, br);
    built.push({ file: path.relative(outDir, file), bytes: data.length, gzip: gz.length, brotli: br.length });
  }
  return built;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const files = await buildConsole({ minify: !process.argv.includes('--dev') });
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  for (const f of files) console.log(`web/dist/${f.file}  ${kb(f.bytes)}  (gzip ${kb(f.gzip)}, brotli ${kb(f.brotli)})`);
  console.log(`console built in ${Date.now() - started} ms`);
}
