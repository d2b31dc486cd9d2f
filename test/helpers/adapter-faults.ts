import { expect } from 'vitest';
import type { FakeUpstreamBase } from '../fakes/base.js';
import type { RecordedRequest, Submission } from '../fakes/index.js';
import { fault } from '../fakes/index.js';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createVideo, waitAllTerminal } from './upstreams.js';

/**
 * The faults of upstreams.md §16 against one adapter, through a running gateway: a 429 with
 * Retry-After on the submit (not accepted: sent again later, one job in the end), a 503 and a
 * garbled (truncated JSON) status answer (retried), and — for callback protocols — every
 * callback delivered twice. The task must complete, made once, billed once.
 */
export async function ridesOutFaults(o: {
  gw: { url: string; key: string; dataDir: string };
  fake: FakeUpstreamBase;
  model: string;
  body: Record<string, unknown>;
  promptOf?: (s: Submission) => string;
  duplicateCallbacks?: boolean;
}): Promise<void> {
  const { fake } = o;
  const promptOf = o.promptOf ?? ((s: Submission) => String(s.body.prompt ?? ''));
  const prompt = `weathered ${Math.random().toString(36).slice(2, 8)}`;
  const mine = (r: RecordedRequest) => fake.submissions.some((s) => s.jobId === r.jobId && promptOf(s) === prompt);
  const submit = fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json ?? r.body ?? {}).includes(prompt), times: 1, action: fault.rateLimit({ retryAfter: 1 }) });
  const unavailable = fake.faults.add({ route: 'status', when: mine, times: 1, action: fault.error(503, { message: 'upstream connect error' }) });
  const garbled = fake.faults.add({ route: 'status', when: mine, skip: 1, times: 1, action: fault.malformed('truncated') });
  if (o.duplicateCallbacks) fake.callbackMode = 'duplicate';
  try {
    const r = await createVideo(o.gw, o.gw.key, { model: o.model, prompt, ...o.body });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const v = (await waitAllTerminal(o.gw, o.gw.key, [r.json.id as string], 60_000)).get(r.json.id as string)!;
    expect(v.status, JSON.stringify(v.error)).toBe('completed');
    expect(submit.hits).toBe(1);
    expect(fake.submissions.filter((s) => promptOf(s) === prompt)).toHaveLength(1);
    if (!o.duplicateCallbacks) {
      expect(unavailable.hits).toBe(1);
      expect(garbled.hits).toBe(1);
    } else {
      const job = fake.submissions.find((s) => promptOf(s) === prompt)!.jobId;
      expect(fake.callbacks.filter((c) => c.jobId === job && c.phase === 'succeeded').length).toBeGreaterThanOrEqual(2);
    }
    // Billed once: a hold and one settle (other tests' tasks may still be running).
    const db = new Database(path.join(o.gw.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const kinds = (db.prepare('SELECT kind FROM ledger WHERE task_id = ? ORDER BY id').all((r.json.id as string).slice('video_'.length)) as { kind: string }[]).map((x) => x.kind);
      expect(kinds).toEqual(['hold', 'settle']);
    } finally {
      db.close();
    }
  } finally {
    fake.callbackMode = 'send';
    submit.remove();
    unavailable.remove();
    garbled.remove();
  }
}
