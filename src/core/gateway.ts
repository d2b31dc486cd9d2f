import type { BlobStore } from '../assets/blobs.js';
import type { Config } from '../config.js';
import type { KeyStore } from '../store/keys.js';
import type { Catalog } from './catalog.js';
import type { ReferenceDeps } from './reference.js';
import type { TaskService } from './service.js';

/** What the HTTP layers need from the core; built once in app.ts. */
export interface Gateway {
  config: Config;
  catalog: Catalog;
  service: TaskService;
  keys: KeyStore;
  blobs: BlobStore;
  reference: ReferenceDeps;
  /** The provider id that will serve a new task for this model. */
  providerFor(model: string): string;
}
