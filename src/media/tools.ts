/**
 * Making sure ffmpeg and ffprobe can run as this process's user, at start-up, before any task
 * needs them.
 *
 * Installed by root and run as another user (the usual container set-up), the binaries of the
 * @ffmpeg-installer / @ffprobe-installer packages may lack the execute bit for that user (the
 * bundled ffprobe is mode 0744). For each tool, in order:
 * 1. $FFMPEG_PATH / $FFPROBE_PATH, else the bundled binary, when this user may execute it;
 * 2. else, when it can be read, an executable copy of it in `<dataDir>/tools/` (or, when that
 *    directory cannot run programs, in the system's temporary directory), checked by running it;
 * 3. else (bundled binaries only) the tool found on PATH;
 * 4. else the gateway refuses to start, saying what to change.
 */
import { constants } from 'node:fs';
import { access, chmod, copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config.js';
import { runTool, useMediaTool } from './ffmpeg.js';
import type { MediaToolName } from './ffmpeg.js';

const require = createRequire(import.meta.url);

const ENV: Record<MediaToolName, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };
const PACKAGE: Record<MediaToolName, string> = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' };

const can = async (file: string, mode: number): Promise<boolean> => {
  try {
    await access(file, mode);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
};

/** Whether the binary starts and answers `-version`. */
async function runs(file: string): Promise<boolean> {
  try {
    await runTool(file, ['-version'], { timeoutMs: 20_000 });
    return true;
  } catch {
    return false;
  }
}

function bundled(tool: MediaToolName): string | undefined {
  try {
    return (require(PACKAGE[tool]) as { path: string }).path;
  } catch {
    return undefined;
  }
}

async function onPath(tool: MediaToolName): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, tool);
    if (await can(file, constants.X_OK)) return file;
  }
  return undefined;
}

/** An executable copy of `source` in `dir` (kept across starts while the source is unchanged). */
async function executableCopy(source: string, dir: string, tool: MediaToolName): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dest = path.join(dir, tool);
  const src = await stat(source);
  const have = await stat(dest).catch(() => undefined);
  if (have && have.size === src.size && have.mtimeMs >= src.mtimeMs && (await can(dest, constants.X_OK))) return dest;
  const partial = `${dest}.${process.pid}.partial`;
  try {
    await copyFile(source, partial);
    await chmod(partial, 0o755);
    await rename(partial, dest);
  } finally {
    await rm(partial, { force: true });
  }
  return dest;
}

async function prepare(tool: MediaToolName, dataDir: string): Promise<string | undefined> {
  const envName = ENV[tool];
  const explicit = process.env[envName] || undefined;
  const candidate = explicit ?? bundled(tool);
  if (candidate && (await can(candidate, constants.X_OK))) {
    useMediaTool(tool, candidate);
    return undefined;
  }
  const tried: string[] = [];
  if (candidate && (await can(candidate, constants.R_OK))) {
    const uid = process.getuid?.() ?? 'user';
    for (const dir of [path.join(dataDir, 'tools'), path.join(tmpdir(), `vidgate-tools-${uid}`)]) {
      try {
        const copy = await executableCopy(candidate, dir, tool);
        if (await runs(copy)) {
          useMediaTool(tool, copy);
          return `${tool}: ${candidate} is not executable by this user; using an executable copy at ${copy}`;
        }
        tried.push(`a copy in ${dir} does not run (a filesystem mounted noexec?)`);
      } catch (err) {
        tried.push(`it could not be copied into ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
  } else if (candidate) {
    tried.push('it cannot be read either');
  }
  if (!explicit) {
    const system = await onPath(tool);
    if (system && (await runs(system))) {
      useMediaTool(tool, system);
      return `${tool}: ${candidate ?? 'the bundled binary'} is not usable by this user; using ${system} from PATH`;
    }
  }
  const where = candidate ? `${candidate} is not executable by this user (uid ${process.getuid?.() ?? '?'})` : `the bundled ${tool} is missing (${PACKAGE[tool]})`;
  throw new ConfigError(
    `vidgate cannot run ${tool}: ${where}${tried.length ? `, and ${tried.join('; ')}` : ''}. ` +
      `Make it executable for this user (chmod 755 ${candidate ?? `<path to ${tool}>`}), or set ${envName} to an executable ${tool}.`,
  );
}

/**
 * Choose the ffmpeg and ffprobe this process runs; returns notes worth a warning in the log (a
 * copy or a system binary is used). Throws a ConfigError saying what to change when a tool cannot
 * be made to run. Cheap when the tools are usable: two access checks.
 */
export async function prepareMediaTools(dataDir: string): Promise<string[]> {
  const notes = await Promise.all([prepare('ffmpeg', dataDir), prepare('ffprobe', dataDir)]);
  return notes.filter((n): n is string => !!n);
}
