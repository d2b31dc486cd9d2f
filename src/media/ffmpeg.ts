/**
 * Locating and running the ffmpeg/ffprobe binaries.
 * FFMPEG_PATH / FFPROBE_PATH override the binaries shipped by the @ffmpeg-installer packages.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { basename } from 'node:path';

const require = createRequire(import.meta.url);

export type MediaToolName = 'ffmpeg' | 'ffprobe';

/** The binaries chosen at start-up (media/tools.ts), when they differ from the defaults. */
const chosen: Partial<Record<MediaToolName, string>> = {};
let cachedFfmpeg: string | undefined;
let cachedFfprobe: string | undefined;

/** Run this binary for `tool` from now on (set by prepareMediaTools at start-up). */
export function useMediaTool(tool: MediaToolName, file: string): void {
  chosen[tool] = file;
}

/** Path of the ffmpeg binary: the one chosen at start-up, else $FFMPEG_PATH, else the one from @ffmpeg-installer/ffmpeg. */
export function ffmpegPath(): string {
  if (chosen.ffmpeg) return chosen.ffmpeg;
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv) return fromEnv;
  cachedFfmpeg ??= (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  return cachedFfmpeg;
}

/** Path of the ffprobe binary: the one chosen at start-up, else $FFPROBE_PATH, else the one from @ffprobe-installer/ffprobe. */
export function ffprobePath(): string {
  if (chosen.ffprobe) return chosen.ffprobe;
  const fromEnv = process.env.FFPROBE_PATH;
  if (fromEnv) return fromEnv;
  cachedFfprobe ??= (require('@ffprobe-installer/ffprobe') as { path: string }).path;
  return cachedFfprobe;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Kill the process and reject after this many milliseconds. */
  timeoutMs?: number;
  /** Bytes written to the child's stdin (which is closed afterwards). */
  input?: Buffer;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/** A media tool failed: non-zero exit, killed by a signal, timed out or could not start. */
export class MediaToolError extends Error {
  readonly exitCode: number | null;
  readonly stderrTail: string;

  constructor(message: string, exitCode: number | null, stderrTail: string) {
    super(message);
    this.name = 'MediaToolError';
    this.exitCode = exitCode;
    this.stderrTail = stderrTail;
  }
}

/**
 * The tool could not be started at all (not executable, missing, out of processes): the
 * gateway's problem, never the input's. Callers must not blame the file or the upstream.
 */
export class MediaToolUnavailable extends MediaToolError {
  constructor(tool: string, readonly errno: string) {
    super(`${tool} could not be started (${errno})`, null, '');
    this.name = 'MediaToolUnavailable';
  }
}

/** stderr kept in memory; ffmpeg can be chatty and only the end matters for diagnostics. */
const STDERR_KEEP = 64 * 1024;
const TAIL_LINES = 12;

function tailLines(text: string, n: number): string {
  const lines = text.split(/\r?\n|\r/).map((l) => l.trimEnd()).filter((l) => l.length > 0);
  return lines.slice(-n).join('\n');
}

function abortError(signal: AbortSignal, tool: string): Error {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  const err = new Error(`${tool} aborted${detail ? `: ${detail}` : ''}`);
  err.name = 'AbortError';
  return err;
}

/**
 * Run a binary without a shell, collecting stdout and stderr.
 * Rejects with a MediaToolError carrying the last lines of stderr when the exit status is not 0.
 * On abort or timeout the child is killed (SIGKILL) before the promise rejects.
 */
export function runTool(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const tool = basename(bin);
  const { signal, timeoutMs, input } = opts;
  if (signal?.aborted) return Promise.reject(abortError(signal, tool));

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const stdoutChunks: Buffer[] = [];
    let stderr = '';
    let failure: Error | null = null;
    let timer: NodeJS.Timeout | undefined;

    const kill = (why: Error): void => {
      if (failure) return;
      failure = why;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => {
      if (signal) kill(abortError(signal, tool));
    };

    child.stdout.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP);
    });

    // EPIPE when the tool exits without reading all its input; the exit status tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);

    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        kill(new MediaToolError(`${tool} timed out after ${timeoutMs} ms`, null, tailLines(stderr, TAIL_LINES)));
      }, timeoutMs);
    }

    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (err) => {
      cleanup();
      reject(failure ?? new MediaToolUnavailable(tool, (err as NodeJS.ErrnoException).code ?? err.message));
    });

    child.on('close', (code, sig) => {
      cleanup();
      if (failure) {
        reject(failure);
        return;
      }
      if (code === 0) {
        resolve({ stdout: Buffer.concat(stdoutChunks), stderr });
        return;
      }
      const tail = tailLines(stderr, TAIL_LINES);
      const status = code === null ? `was killed by ${sig ?? 'a signal'}` : `exited with code ${code}`;
      reject(new MediaToolError(`${tool} ${status}${tail ? `:\n${tail}` : ''}`, code, tail));
    });
  });
}

/**
 * Quote a value (a file path, typically) for use as a filter option inside an ffmpeg filtergraph.
 * Applies both escaping levels: the filter-option level (\ ' :) and the graph level (\ ' [ ] , ;).
 */
export function escapeFilterValue(value: string): string {
  const optionLevel = value.replace(/[\\':]/g, '\\$&');
  return optionLevel.replace(/[\\'[\],;]/g, '\\$&');
}
