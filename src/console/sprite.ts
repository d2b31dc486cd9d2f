import { rm } from 'node:fs/promises';
import sharp from 'sharp';
import type { BlobStore } from '../assets/blobs.js';
import type { SpriteGrid } from '../media/derive.js';
import { spriteGrid } from '../media/derive.js';
import { probeVideo } from '../media/probe.js';

export interface SheetLayout extends SpriteGrid {
  /** Pixel size of the whole sheet. */
  width: number;
  height: number;
}

const CACHE_MAX = 2000;

/**
 * The grid of a stored spritesheet, so a browser can show any one frame of it: the grid the
 * stills were made with (media/derive.ts spriteGrid) when the sheet's pixel size matches it,
 * else the sheet is treated as one frame (an upstream may deliver a sheet of its own layout).
 * The common case reads only the jpeg header; a video with fewer frames than cells is probed
 * once. Results are cached by asset (stored files never change).
 */
export class SpriteLayouts {
  private readonly cache = new Map<string, SheetLayout>();

  async layout(cacheKey: string, blobs: BlobStore, keys: { sheet: string; video: string }, size: { width: number; height: number }): Promise<SheetLayout> {
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;
    const sheet = await blobs.read(keys.sheet);
    if (!sheet) throw new Error('the spritesheet is gone');
    const meta = await sharp(sheet).metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    const fits = (g: SpriteGrid) => g.columns * g.cellWidth === width && g.rows * g.cellHeight === height;
    let grid = spriteGrid({ ...size, frames: null });
    if (!fits(grid)) {
      const dir = await blobs.scratch('probe');
      let info;
      try {
        const video = await blobs.localFile(keys.video, dir);
        if (!video) throw new Error('the video is gone');
        info = await probeVideo(video);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      grid = spriteGrid(info);
      if (!fits(grid)) grid = { columns: 1, rows: 1, frames: 1, cellWidth: width, cellHeight: height };
    }
    const layout = { ...grid, width, height };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(cacheKey, layout);
    return layout;
  }
}
