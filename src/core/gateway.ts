import type { BlobStore } from '../assets/blobs.js';
import type { Ledger } from '../billing/ledger.js';
import type { PriceBook } from '../billing/prices.js';
import type { Config } from '../config.js';
import type { Accounts } from '../billing/accounts.js';
import type { Database } from '../store/sql.js';
import type { Secrets } from '../util/secrets.js';
import type { ApiKey, KeyStore } from '../store/keys.js';
import type { Catalog } from './catalog.js';
import type { ReferenceDeps } from './reference.js';
import type { TaskService } from './service.js';
import type { Task } from './task.js';
import type { VideoRequest } from './video-request.js';

/** What the HTTP layers need from the core; built once in app.ts. */
export interface Gateway {
  config: Config;
  db: Database;
  catalog: Catalog;
  service: TaskService;
  keys: KeyStore;
  blobs: BlobStore;
  reference: ReferenceDeps;
  prices: PriceBook;
  ledger: Ledger;
  accounts: Accounts;
  secrets: Secrets;
  /**
   * The provider id that will serve a new task of this key for this model ('sandbox' or a
   * channel id); a remix goes where its source was made. Throws an ApiError when none can.
   */
  providerFor(model: string, key: ApiKey, remixOf?: Task): Promise<string>;
  /** Why the provider picked for a new task cannot take this request (every channel of the model refuses it), or null. */
  refusal?(request: VideoRequest, provider: string): { param: string; message: string } | null;
}
