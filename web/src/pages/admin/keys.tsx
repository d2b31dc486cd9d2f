import { useState } from 'preact/hooks';
import { api } from '../../api.js';
import { usd, when } from '../../format.js';
import { Link } from '../../router.js';
import { announce, CopyButton, Dialog, Empty, ErrorNote, Loading, Page, TextField, useAction, useAsync } from '../../ui.js';

export interface KeyView {
  id: string;
  name: string;
  prefix: string;
  test: boolean;
  created_at: number;
  revoked_at: number | null;
  balance_usd: number;
  held_usd: number;
  credit_limit_usd: number;
  rpm_limit: number;
  rpm_limit_is_default: boolean;
  max_inflight: number;
  max_inflight_is_default: boolean;
}

interface LedgerEntry {
  id: number;
  kind: string;
  amount_usd: number;
  balance_after_usd: number;
  task_id: string | null;
  note: string | null;
  created_at: number;
}

type Action = { kind: 'create' } | { kind: 'secret'; key: KeyView & { key: string } } | { kind: 'topup' | 'limits' | 'revoke' | 'ledger'; key: KeyView } | null;

const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s));

/** API keys: create (the secret is shown once), top up, limits, revoke, ledger. */
export function Keys() {
  const keys = useAsync((signal) => api<{ data: KeyView[] }>('admin/v1/keys', { admin: true, signal }), []);
  const [action, setAction] = useState<Action>(null);
  const close = () => setAction(null);
  const done = (message: string) => {
    announce(message);
    keys.reload();
  };
  const list = keys.data?.data.slice().reverse() ?? [];

  return (
    <Page
      title="Keys"
      actions={
        <button type="button" class="button primary" onClick={() => setAction({ kind: 'create' })}>
          Create key
        </button>
      }
    >
      {keys.loading && !keys.data && <Loading label="Loading keys…" />}
      {keys.error !== undefined && <ErrorNote error={keys.error} retry={keys.reload} title="The keys could not be loaded" />}
      {keys.data && list.length === 0 && (
        <Empty>
          <p>No keys yet. Create one to let an application (or you, in the playground) make videos.</p>
        </Empty>
      )}
      {list.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" data-testid="keys-table">
            <caption class="sr-only">API keys, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Balance</th>
                <th scope="col">Held</th>
                <th scope="col">Limits</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((k) => (
                <tr key={k.id} class={k.revoked_at ? 'revoked' : ''} data-key-id={k.id}>
                  <th scope="row" data-label="Name">
                    {k.name} {k.test && <span class="badge badge-test">test</span>}
                    {k.revoked_at && <span class="badge badge-failed">revoked</span>}
                  </th>
                  <td data-label="Key">
                    <code>{k.prefix}…</code>
                    <br />
                    <span class="muted small">{k.id}</span>
                  </td>
                  <td data-label="Balance" data-testid="balance">
                    {k.test ? <span class="muted">never charged</span> : usd(k.balance_usd)}
                  </td>
                  <td data-label="Held">{usd(k.held_usd)}</td>
                  <td data-label="Limits" class="small">
                    {k.rpm_limit} req/min{k.rpm_limit_is_default ? ' (default)' : ''}
                    <br />
                    {k.max_inflight} at once{k.max_inflight_is_default ? ' (default)' : ''}
                    {k.credit_limit_usd > 0 && (
                      <>
                        <br />
                        credit line {usd(k.credit_limit_usd)}
                      </>
                    )}
                  </td>
                  <td data-label="Created">{when(k.created_at)}</td>
                  <td class="actions">
                    {!k.revoked_at && !k.test && (
                      <button type="button" class="button small" onClick={() => setAction({ kind: 'topup', key: k })} aria-label={`Top up ${k.name}`}>
                        Top up
                      </button>
                    )}
                    {!k.revoked_at && (
                      <button type="button" class="button small" onClick={() => setAction({ kind: 'limits', key: k })} aria-label={`Limits of ${k.name}`}>
                        Limits
                      </button>
                    )}
                    <button type="button" class="button small" onClick={() => setAction({ kind: 'ledger', key: k })} aria-label={`Ledger of ${k.name}`}>
                      Ledger
                    </button>
                    <Link class="button small" to={`admin/tasks?key_id=${k.id}`} aria-label={`Tasks of ${k.name}`}>
                      Tasks
                    </Link>
                    {!k.revoked_at && (
                      <button type="button" class="button small danger" onClick={() => setAction({ kind: 'revoke', key: k })} aria-label={`Revoke ${k.name}`}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Dialog title="Create an API key" open={action?.kind === 'create'} onClose={close}>
        <CreateKeyForm
          onCreated={(key) => {
            keys.reload();
            setAction({ kind: 'secret', key });
          }}
          onCancel={close}
        />
      </Dialog>
      {action?.kind === 'secret' && (
        <Dialog title="Copy the new key now" open onClose={close}>
          <p>
            This is the only time the key <strong>{action.key.name}</strong> is shown. Store it somewhere safe: the gateway keeps
            only its hash.
          </p>
          <div class="secret">
            <code data-testid="new-secret">{action.key.key}</code>
            <CopyButton text={action.key.key} label="Copy key" />
          </div>
          <div class="row end">
            <button type="button" class="button primary" onClick={close}>
              I have copied it
            </button>
          </div>
        </Dialog>
      )}
      {action?.kind === 'topup' && (
        <Dialog title={`Top up ${action.key.name}`} open onClose={close}>
          <TopUpForm
            k={action.key}
            onDone={(amount) => {
              close();
              done(`Added ${usd(amount)} to ${action.key.name}.`);
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {action?.kind === 'limits' && (
        <Dialog title={`Limits of ${action.key.name}`} open onClose={close}>
          <LimitsForm
            k={action.key}
            onDone={() => {
              close();
              done(`Saved the limits of ${action.key.name}.`);
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {action?.kind === 'revoke' && (
        <Dialog title={`Revoke ${action.key.name}?`} open onClose={close}>
          <RevokeForm
            k={action.key}
            onDone={() => {
              close();
              done(`Revoked ${action.key.name}.`);
            }}
            onCancel={close}
          />
        </Dialog>
      )}
      {action?.kind === 'ledger' && (
        <Dialog title={`Ledger of ${action.key.name}`} open onClose={close} wide>
          <Ledger k={action.key} />
        </Dialog>
      )}
    </Page>
  );
}


function CreateKeyForm({ onCreated, onCancel }: { onCreated: (k: KeyView & { key: string }) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [test, setTest] = useState(false);
  const [credit, setCredit] = useState('');
  const [rpm, setRpm] = useState('');
  const [inflight, setInflight] = useState('');
  const s = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void s.run('submit', async () => {
          const body: Record<string, unknown> = { name, test };
          if (num(credit) !== undefined && !test) body.credit_usd = num(credit);
          if (num(rpm) !== undefined) body.rpm_limit = num(rpm);
          if (num(inflight) !== undefined) body.max_inflight = num(inflight);
          onCreated(await api<KeyView & { key: string }>('admin/v1/keys', { method: 'POST', body, admin: true }));
        });
      }}
    >
      <TextField label="Name" value={name} required autoFocus onInput={(e) => setName(e.currentTarget.value)} hint="Who or what uses it, e.g. acme-prod." />
      <label class="check">
        <input type="checkbox" checked={test} onChange={(e) => setTest(e.currentTarget.checked)} />
        Test key (always the sandbox, never charged)
      </label>
      {!test && <TextField label="Initial credit (USD)" type="number" min="0" step="0.01" inputMode="decimal" value={credit} onInput={(e) => setCredit(e.currentTarget.value)} />}
      <div class="grid2">
        <TextField label="Requests per minute" type="number" min="1" step="1" value={rpm} placeholder="default" onInput={(e) => setRpm(e.currentTarget.value)} />
        <TextField label="Videos at once" type="number" min="1" step="1" value={inflight} placeholder="default" onInput={(e) => setInflight(e.currentTarget.value)} />
      </div>
      {s.error !== null && <ErrorNote error={s.error} title="The key was not created" />}
      <div class="row end">
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={s.busy !== null}>
          {s.busy !== null ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

function TopUpForm({ k, onDone, onCancel }: { k: KeyView; onDone: (amount: number) => void; onCancel: () => void }) {
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const s = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void s.run('submit', async () => {
          const value = Number(amount);
          await api(`admin/v1/keys/${encodeURIComponent(k.id)}/credit`, { method: 'POST', admin: true, body: { amount_usd: value, ...(note ? { note } : {}) } });
          onDone(value);
        });
      }}
    >
      <p>
        Balance now: <strong>{usd(k.balance_usd)}</strong>
        {k.held_usd > 0 && ` (${usd(k.held_usd)} held for videos in progress)`}.
      </p>
      <TextField
        label="Amount (USD)"
        type="number"
        step="0.01"
        inputMode="decimal"
        required
        autoFocus
        value={amount}
        onInput={(e) => setAmount(e.currentTarget.value)}
        hint="A negative amount removes credit."
      />
      <TextField label="Note (optional)" value={note} maxLength={500} onInput={(e) => setNote(e.currentTarget.value)} placeholder="invoice 2026-11" />
      {s.error !== null && <ErrorNote error={s.error} title="The credit was not changed" />}
      <div class="row end">
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={s.busy !== null || !amount}>
          {s.busy !== null ? 'Saving…' : 'Add credit'}
        </button>
      </div>
    </form>
  );
}

function LimitsForm({ k, onDone, onCancel }: { k: KeyView; onDone: () => void; onCancel: () => void }) {
  const [name, setName] = useState(k.name);
  const [rpm, setRpm] = useState(k.rpm_limit_is_default ? '' : String(k.rpm_limit));
  const [inflight, setInflight] = useState(k.max_inflight_is_default ? '' : String(k.max_inflight));
  const [creditLimit, setCreditLimit] = useState(String(k.credit_limit_usd));
  const s = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void s.run('submit', async () => {
          await api(`admin/v1/keys/${encodeURIComponent(k.id)}`, {
            method: 'PATCH',
            admin: true,
            body: { name, rpm_limit: num(rpm) ?? null, max_inflight: num(inflight) ?? null, credit_limit_usd: num(creditLimit) ?? 0 },
          });
          onDone();
        });
      }}
    >
      <TextField label="Name" value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      <div class="grid2">
        <TextField label="Requests per minute" type="number" min="1" step="1" value={rpm} placeholder={`default (${k.rpm_limit_is_default ? k.rpm_limit : 'operator'})`} onInput={(e) => setRpm(e.currentTarget.value)} hint="Empty: the gateway default." />
        <TextField label="Videos at once" type="number" min="1" step="1" value={inflight} placeholder="default" onInput={(e) => setInflight(e.currentTarget.value)} hint="Empty: the gateway default." />
      </div>
      <TextField label="Credit line (USD)" type="number" min="0" step="0.01" value={creditLimit} onInput={(e) => setCreditLimit(e.currentTarget.value)} hint="How far below zero the balance may go; 0 = prepaid only." />
      {s.error !== null && <ErrorNote error={s.error} title="The limits were not saved" />}
      <div class="row end">
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="button primary" disabled={s.busy !== null}>
          {s.busy !== null ? 'Saving…' : 'Save limits'}
        </button>
      </div>
    </form>
  );
}

function RevokeForm({ k, onDone, onCancel }: { k: KeyView; onDone: () => void; onCancel: () => void }) {
  const s = useAction();
  return (
    <div>
      <p>
        Requests with <code>{k.prefix}…</code> are refused from now on. Its videos, balance and history stay. This cannot be undone.
      </p>
      {s.error !== null && <ErrorNote error={s.error} title="The key was not revoked" />}
      <div class="row end">
        <button type="button" class="button" onClick={onCancel}>
          Keep it
        </button>
        <button
          type="button"
          class="button danger"
          disabled={s.busy !== null}
          onClick={() =>
            void s.run('submit', async () => {
              await api(`admin/v1/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE', admin: true });
              onDone();
            })
          }
        >
          Revoke key
        </button>
      </div>
    </div>
  );
}

function Ledger({ k }: { k: KeyView }) {
  const ledger = useAsync(
    (signal) => api<{ data: LedgerEntry[]; balance_usd: number }>(`admin/v1/keys/${encodeURIComponent(k.id)}/ledger`, { admin: true, query: { limit: 100 }, signal }),
    [k.id],
  );
  if (ledger.loading && !ledger.data) return <Loading label="Loading the ledger…" />;
  if (ledger.error !== undefined) return <ErrorNote error={ledger.error} retry={ledger.reload} />;
  const rows = ledger.data?.data ?? [];
  if (rows.length === 0) return <Empty><p>No entries yet: no top-ups and no charged videos.</p></Empty>;
  return (
    <div class="table-wrap">
      <table class="table compact">
        <caption class="sr-only">Last 100 ledger entries, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Kind</th>
            <th scope="col" class="num">Amount</th>
            <th scope="col" class="num">Balance after</th>
            <th scope="col">Video / note</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id}>
              <td>{when(e.created_at)}</td>
              <td>{e.kind}</td>
              <td class="num">{usd(e.amount_usd)}</td>
              <td class="num">{usd(e.balance_after_usd)}</td>
              <td>
                {e.task_id && <Link to={`admin/tasks/${e.task_id}`}>{e.task_id}</Link>} {e.note}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
