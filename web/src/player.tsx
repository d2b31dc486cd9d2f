import { useRef, useState } from 'preact/hooks';
import type { Links } from './api.js';
import { bytes, seconds } from './format.js';

/**
 * The finished video: a <video> playing the signed link (no headers needed), the thumbnail as
 * its poster, a spritesheet scrubber (hover, drag, or arrow keys show frames; click or Enter seeks
 * the video there), and a download link.
 */
export function VideoPlayer({ links, title }: { links: Links; title: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [playable, setPlayable] = useState<boolean | null>(null);
  return (
    <div class="player">
      <video
        ref={video}
        class="video"
        controls
        playsInline
        preload="metadata"
        poster={links.thumbnail.url}
        src={links.video.url}
        aria-label={`Video: ${title}`}
        onLoadedMetadata={() => setPlayable(true)}
        onError={() => setPlayable(false)}
        data-testid="result-video"
      />
      {playable === false && (
        <p class="note error" role="alert">
          The browser could not play this video. The link may have expired: reload the page for a fresh one.
        </p>
      )}
      <Scrubber links={links} onSeek={(t) => {
        const v = video.current;
        if (v) v.currentTime = t;
      }} />
      <div class="row">
        <a class="button primary" href={links.video.url} download>
          Download MP4 ({bytes(links.video.bytes)})
        </a>
        <a class="button" href={links.thumbnail.url} download>
          Thumbnail
        </a>
        <a class="button" href={links.spritesheet.url} download>
          Spritesheet
        </a>
      </div>
    </div>
  );
}

/** Frame i of the spritesheet as a CSS background position (percentages fit any box size). */
function framePosition(i: number, columns: number, rows: number): string {
  const col = i % columns;
  const row = Math.floor(i / columns);
  const x = columns > 1 ? (col / (columns - 1)) * 100 : 0;
  const y = rows > 1 ? (row / (rows - 1)) * 100 : 0;
  return `${x}% ${y}%`;
}

export function Scrubber({ links, onSeek }: { links: Links; onSeek?: (seconds: number) => void }) {
  const sheet = links.spritesheet;
  const frames = Math.max(1, sheet.frames);
  const [frame, setFrame] = useState<number | null>(null);
  const [focused, setFocused] = useState(0);
  const dragging = useRef(false);
  const timeOf = (i: number) => (frames > 1 ? (i / (frames - 1)) * links.duration_seconds : 0);
  const shown = frame ?? focused;

  const fromPointer = (e: PointerEvent) => {
    const box = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const x = Math.min(Math.max(0, e.clientX - box.left), box.width - 1);
    return Math.min(frames - 1, Math.floor((x / box.width) * frames));
  };
  const show = (i: number) => {
    setFrame(i);
    setFocused(i);
  };
  return (
    <div class="scrubber" style={{ width: `min(100%, 22rem, ${((14 * sheet.cell_width) / sheet.cell_height).toFixed(2)}rem)` }}>
      <div
        class="scrub-frame"
        role="slider"
        tabIndex={0}
        aria-label="Preview frames (from the spritesheet)"
        aria-valuemin={1}
        aria-valuemax={frames}
        aria-valuenow={shown + 1}
        aria-valuetext={`Frame ${shown + 1} of ${frames}, at ${seconds(timeOf(shown).toFixed(1))}`}
        data-testid="scrubber"
        data-frame={frame === null ? '' : String(frame)}
        style={{ aspectRatio: `${sheet.cell_width} / ${sheet.cell_height}` }}
        onPointerMove={(e) => {
          if (e.pointerType === 'mouse' || dragging.current) show(fromPointer(e));
        }}
        onPointerDown={(e) => {
          dragging.current = true;
          (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
          show(fromPointer(e));
        }}
        onPointerUp={(e) => {
          dragging.current = false;
          onSeek?.(timeOf(fromPointer(e)));
        }}
        onPointerLeave={() => {
          if (!dragging.current) setFrame(null);
        }}
        onKeyDown={(e) => {
          let next = focused;
          if (e.key === 'ArrowRight' || e.key === 'ArrowUp') next = Math.min(frames - 1, focused + 1);
          else if (e.key === 'ArrowLeft' || e.key === 'ArrowDown') next = Math.max(0, focused - 1);
          else if (e.key === 'Home') next = 0;
          else if (e.key === 'End') next = frames - 1;
          else if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            onSeek?.(timeOf(focused));
            return;
          } else return;
          e.preventDefault();
          show(next);
        }}
        onBlur={() => setFrame(null)}
      >
        {frame === null ? (
          <img src={links.thumbnail.url} alt="" draggable={false} />
        ) : (
          <div
            class="sprite"
            style={{
              backgroundImage: `url("${sheet.url}")`,
              backgroundSize: `${sheet.columns * 100}% ${sheet.rows * 100}%`,
              backgroundPosition: framePosition(frame, sheet.columns, sheet.rows),
            }}
          />
        )}
        <span class="scrub-time" aria-hidden="true">
          {frame === null ? `${frames} frames · hover or use ← →` : `${timeOf(frame).toFixed(1)} s`}
        </span>
      </div>
      <div class="scrub-track" aria-hidden="true">
        <div class="scrub-mark" style={{ left: `${(shown / Math.max(1, frames - 1)) * 100}%` }} />
      </div>
    </div>
  );
}
