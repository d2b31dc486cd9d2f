/**
 * Process-wide libvips settings, applied once at start-up (docs/operations.md#memory).
 *
 * libvips keeps a cache of recent operations and open files (by default up to 50 MB, 20 files
 * and 100 operations). Every image the gateway handles is a new one — a reference image, a
 * result's still — so the cache never hits and only holds native memory that RSS then shows.
 * It is switched off.
 */
import sharp from 'sharp';

let done = false;

export function configureSharp(): void {
  if (done) return;
  done = true;
  sharp.cache(false);
}
