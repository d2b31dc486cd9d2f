/**
 * Fake upstream servers for tests (fixtures only, never product code). See each module's header:
 * - `openai-videos-fake.ts` — OpenAI-style `/v1/videos` (openai, azure, apigo, apigo-legacy);
 * - `apimart-fake.ts`       — apimart `/v1/videos/generations` + `/v1/tasks/{id}`;
 * - `kling-fake.ts`         — Kling's flat and path-versioned APIs, JWT auth, callbacks;
 * - `ark-fake.ts`           — Seedance on Ark / ModelArk, callbacks, cancel;
 * - `xai-fake.ts`           — xAI Grok Imagine video (pending/done/failed/expired, usage cost);
 * - `vidu-fake.ts`          — Vidu's four endpoints, Token auth, signed callbacks, cancel;
 * - `pixverse-fake.ts`      — PixVerse uploads and generate, Ai-trace-id replays (idempotency);
 * - `openrouter-fake.ts`    — OpenRouter /api/v1/videos, polling_url, keyed content, signed callbacks;
 * - `minimax-fake.ts`       — MiniMax V1 (Hailuo) and V2 (H3), challenge-echo callbacks;
 * - `dashscope-fake.ts`     — Wan on DashScope (Model Studio), async tasks, cancel;
 * - `script.ts`             — per-job scripts; `clock.ts` — compressible upstream time;
 * - `faults.ts`             — fault injection; `payload.ts` — media fixtures; `cdn.ts` — result-URL origin.
 */
export { startOpenAIVideosFake, OpenAIVideosFake } from './openai-videos-fake.js';
export type { OpenAIFlavor, OpenAIJobParams, OpenAIVideosFakeOptions } from './openai-videos-fake.js';
export { startApimartFake, ApimartFake, APIMART_CAPTURE, APIMART_RESPONSE_VERSION } from './apimart-fake.js';
export type { ApimartFakeOptions, ApimartJobParams, ApimartSubmitFormat } from './apimart-fake.js';
export { startKlingFake, KlingFake } from './kling-fake.js';
export type { KlingFakeOptions, KlingJobParams } from './kling-fake.js';
export { startArkFake, ArkFake } from './ark-fake.js';
export type { ArkFakeOptions, ArkJobParams } from './ark-fake.js';
export { startMinimaxFake, MinimaxFake } from './minimax-fake.js';
export type { ChallengeRecord, MinimaxFakeOptions, MinimaxJobParams } from './minimax-fake.js';
export { startDashscopeFake, DashscopeFake } from './dashscope-fake.js';
export type { DashscopeFakeOptions, DashscopeJobParams } from './dashscope-fake.js';
export type { CallbackMode, CallbackRecord, CommonFakeOptions, CompletionRecord, FakeStats, Submission } from './base.js';
export { FakeCdn } from './cdn.js';
export { FakeClock } from './clock.js';
export type { FakeClockOptions } from './clock.js';
export { fault, FaultInjector } from './faults.js';
export type { FaultAction, FaultHandle, FaultRule, MalformedVariant } from './faults.js';
export type { RecordedRequest, ResponseRecord, RouteName, UploadedFile } from './http.js';
export { bufferSource, fixtures, paddedMp4, readAll, sha256Of } from './payload.js';
export type { ByteSource } from './payload.js';
export { promptDirectives, ScriptedJob, TERMINAL_PHASES } from './script.js';
export type { DownloadRecord, JobFailure, JobScript, Outcome, Phase, ProgressCurve, ScriptContext, ScriptSelector } from './script.js';
export { mulberry32, waitUntil, wallNow } from './util.js';
export type { FieldType, WaitOptions } from './util.js';
export { startXaiFake, XaiFake } from './xai-fake.js';
export type { XaiFakeOptions, XaiJobParams } from './xai-fake.js';
export { startViduFake, ViduFake } from './vidu-fake.js';
export type { ViduFakeOptions, ViduJobParams } from './vidu-fake.js';
export { startPixverseFake, PixverseFake } from './pixverse-fake.js';
export type { PixverseFakeOptions, PixverseJobParams } from './pixverse-fake.js';
export { startOpenrouterFake, OpenrouterFake, OPENROUTER_FAKE_MODELS } from './openrouter-fake.js';
export type { OpenrouterFakeOptions, OpenrouterJobParams, OpenrouterModel } from './openrouter-fake.js';
