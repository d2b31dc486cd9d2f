import { SseParser } from '../../src/events/sse-parser.js';
import type { SseItem, SseMessage } from '../../src/events/sse-parser.js';

export interface VideoEventData {
  object: string;
  seq: number;
  type: string;
  id: string;
  status: string;
  progress: number;
  error: { code: string; message: string } | null;
  created_at: number;
}

/** A Server-Sent Events client for tests: reads the stream in the background and records every item. */
export class SseClient {
  readonly items: SseItem[] = [];
  /** Resolves when the server ends the stream (or it is aborted). */
  readonly ended: Promise<void>;
  private constructor(
    readonly response: Response,
    private readonly abort: AbortController,
  ) {
    this.ended = this.read();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    return new SseClient(res, abort);
  }

  get status(): number {
    return this.response.status;
  }

  get messages(): SseMessage[] {
    return this.items.flatMap((i) => (i.kind === 'message' ? [i.message] : []));
  }

  get events(): VideoEventData[] {
    return this.messages.map((m) => JSON.parse(m.data) as VideoEventData);
  }

  get comments(): string[] {
    return this.items.flatMap((i) => (i.kind === 'comment' ? [i.text] : []));
  }

  private async read(): Promise<void> {
    if (!this.response.body) return;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        this.items.push(...parser.feed(decoder.decode(chunk, { stream: true })));
      }
    } catch {
      // aborted
    }
  }

  async waitFor(check: (c: SseClient) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      if (Date.now() > deadline) throw new Error(`sse: ${what} not reached after ${timeoutMs} ms (${this.messages.length} messages)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.abort.abort();
  }
}
