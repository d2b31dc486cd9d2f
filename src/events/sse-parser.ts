/** One Server-Sent Event (a `data:`-carrying block). */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

export type SseItem = { kind: 'message'; message: SseMessage } | { kind: 'comment'; text: string } | { kind: 'retry'; ms: number };

/**
 * An incremental text/event-stream parser (WHATWG HTML "event stream interpretation"): feed it
 * decoded text as it arrives; it returns the complete items so far. Used by the CLI and tests.
 */
export class SseParser {
  private rest = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private seenData = false;

  feed(text: string): SseItem[] {
    this.rest += text;
    const out: SseItem[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.rest);
      if (!m) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (m[0] === '\r' && m.index === this.rest.length - 1) break;
      const line = this.rest.slice(0, m.index);
      this.rest = this.rest.slice(m.index + m[0].length);
      this.line(line, out);
    }
    return out;
  }

  private line(line: string, out: SseItem[]): void {
    if (line === '') {
      if (this.seenData) out.push({ kind: 'message', message: { id: this.id, event: this.event || 'message', data: this.data.join('\n') } });
      this.data = [];
      this.event = '';
      this.seenData = false;
      return;
    }
    if (line.startsWith(':')) {
      out.push({ kind: 'comment', text: line.slice(1).trimStart() });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.seenData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) out.push({ kind: 'retry', ms: Number(value) });
        break;
    }
  }
}
