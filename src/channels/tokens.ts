import type { MintedToken, TokenCache } from '../providers/types.js';

interface Entry {
  token: string;
  expiresAtMs: number;
  renewAtMs: number;
}

/**
 * A channel's token cache (a signed JWT, an OAuth access token): minted once however many
 * requests wait for it, renewed shortly before it expires — a tenth of its life ahead, at least
 * 30 s and at most 5 minutes — and forgotten when the upstream answers 401. While a renewal fails,
 * a token that has not expired yet keeps being used. Wall-clock time: the upstream checks the
 * token against its own clock.
 */
export class ChannelTokens implements TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly minting = new Map<string, Promise<string>>();

  constructor(private readonly now: () => number = Date.now) {}

  async get(key: string, mint: () => Promise<MintedToken>): Promise<string> {
    const now = this.now();
    const e = this.entries.get(key);
    if (e && now < e.renewAtMs) return e.token;
    let pending = this.minting.get(key);
    if (!pending) {
      pending = mint()
        .then((t) => {
          const life = Math.max(0, t.expiresAtMs - this.now());
          const margin = Math.min(300_000, Math.max(30_000, life / 10));
          this.entries.set(key, { token: t.token, expiresAtMs: t.expiresAtMs, renewAtMs: t.expiresAtMs - Math.min(margin, life / 2) });
          return t.token;
        })
        .finally(() => this.minting.delete(key));
      this.minting.set(key, pending);
    }
    try {
      return await pending;
    } catch (err) {
      // A renewal that fails while the old token still works does not stop anything.
      if (e && this.now() < e.expiresAtMs - 5_000) return e.token;
      throw err;
    }
  }

  /** The upstream refused a token: mint new ones on the next request. */
  invalidate(): void {
    this.entries.clear();
  }

  /** Every cached token (scrubbed from upstream text like the credentials). */
  values(): string[] {
    return [...this.entries.values()].map((e) => e.token);
  }
}
