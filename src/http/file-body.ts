import { close, readv } from 'node:fs';
import type { ServerResponse } from 'node:http';

/**
 * The body of a download from a local file: bytes `start`..`end` (inclusive) of an open
 * descriptor, written to the response with buffers that are reused, never garbage.
 *
 * Why not `createReadStream().pipe(res)`: each read there allocates a fresh buffer that lives
 * until the socket has sent it. Under load (16 clients, 5 MB files) those buffers stay in flight
 * across young-generation collections, get promoted, and pile up as external memory that only a
 * full collection frees; the old generation grows with every download, full collections come
 * more and more often, and throughput fell round after round (bench/RESULTS.md, content). Here:
 *
 * - buffers come from one pool of 64 KiB segments, taken for a read and given back when the
 *   socket has taken the bytes (the write's callback), so memory stays flat and hot in cache
 *   (on the AMD EPYC test machine, reading into a recycled buffer larger than 128 KiB costs the
 *   kernel about seven times as much as into a 64 KiB one);
 * - one `readv` (on libuv's thread pool: a cold disk never blocks the event loop) fills four
 *   segments, 256 KiB, so a 5 MB file takes about 20 thread-pool round trips;
 * - their bytes go out corked, as one `writev`;
 * - at most two reads per response are unsent: a slow client holds at most 512 KiB, and the next
 *   read starts as soon as one is sent;
 * - the descriptor is closed exactly once, when the range is sent, when the client goes away
 *   (after a read still running returns), or on an error.
 *
 * A read error, or a file shorter than announced, destroys the response (the client sees a cut
 * body, as with any stream that fails after its headers) and is reported to `onError`.
 */
export function writeFileBody(res: ServerResponse, fd: number, start: number, end: number, onError: (err: Error) => void): void {
  let pos = start;
  let reading = false;
  let unsent = 0;
  let done = false;
  let fdOpen = true;
  const closeFd = () => {
    if (fdOpen && !reading) {
      fdOpen = false;
      close(fd, ignore);
    }
  };
  const stop = () => {
    done = true;
    closeFd();
  };
  // A client that left while the file was being opened: its 'close' has been emitted already.
  if (res.destroyed) {
    stop();
    return;
  }
  res.once('close', stop);

  const pump = (): void => {
    if (reading || done || unsent >= READS_IN_FLIGHT) return;
    const want = Math.min(SEGMENT_BYTES * SEGMENTS_PER_READ, end + 1 - pos);
    const segments: Buffer[] = [];
    for (let n = 0; n < want; n += SEGMENT_BYTES) segments.push(takeSegment());
    if (want % SEGMENT_BYTES) segments[segments.length - 1] = segments[segments.length - 1]!.subarray(0, want % SEGMENT_BYTES);
    reading = true;
    readv(fd, segments, pos, (err, bytes) => {
      reading = false;
      if (done || err || bytes === 0) {
        for (const s of segments) giveSegment(s);
        if (!done) {
          stop();
          const reason = err ?? new Error(`the file ended early: ${end + 1 - pos} of ${end + 1 - start} bytes were missing at byte ${pos}`);
          // Cut: the client sees fewer bytes than announced (the error is ours to log, not its).
          res.destroy();
          onError(reason);
        }
        closeFd();
        return;
      }
      pos += bytes;
      unsent++;
      let left = bytes;
      let pending = 0;
      const sent = () => {
        if (--pending === 0) {
          unsent--;
          pump();
        }
      };
      res.cork();
      for (const s of segments) {
        if (left === 0) {
          giveSegment(s);
          continue;
        }
        const len = Math.min(left, s.length);
        left -= len;
        pending++;
        res.write(len === s.length ? s : s.subarray(0, len), () => {
          giveSegment(s);
          sent();
        });
      }
      res.uncork();
      if (pos > end) {
        stop();
        res.end();
      } else {
        pump();
      }
    });
  };
  pump();
}

const SEGMENT_BYTES = 64 * 1024;
const SEGMENTS_PER_READ = 4;
const READS_IN_FLIGHT = 2;
/** Segments kept for reuse: 16 MiB, the in-flight need of 32 downloads at once. */
const POOL_SEGMENTS = 256;
const pool: Buffer[] = [];
let allocated = 0;

function takeSegment(): Buffer {
  const s = pool.pop();
  if (s) return s;
  allocated++;
  return Buffer.allocUnsafeSlow(SEGMENT_BYTES);
}

/** Back to the pool (last in, first out: the most recently used, still in cache, goes out next). */
function giveSegment(s: Buffer): void {
  if (pool.length >= POOL_SEGMENTS) return;
  // A segment cut for the tail of a file is a view of a whole one: the whole one goes back.
  pool.push(s.length === SEGMENT_BYTES ? s : Buffer.from(s.buffer, s.byteOffset, SEGMENT_BYTES));
}

/** Segments allocated since the process started, and how many of them the pool holds now (tests). */
export function segmentStats(): { allocated: number; pooled: number } {
  return { allocated, pooled: pool.length };
}

function ignore(): void {}
