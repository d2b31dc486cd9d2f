import { expect } from 'vitest';
import type { FakeUpstreamBase } from '../fakes/base.js';
import type { RecordedRequest, Submission } from '../fakes/index.js';
import { fault } from '../fakes/index.js';
import { assertBillingConsistent, createVideo, waitAllTerminal } from './upstreams.js';

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
    assertBillingConsistent(o.gw.dataDir);
  } finally {
    fake.callbackMode = 'send';
    submit.remove();
    unavailable.remove();
    garbled.remove();
  }
}
