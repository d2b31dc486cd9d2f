import type { FastifyInstance } from 'fastify';
import { notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { modelObject } from './model-object.js';

/** GET /v1/models and /v1/models/{id} (aliases resolve to their model). Prices include the operator's overrides. */
export function modelRoutes(gw: Gateway) {
  const created = Math.floor(Date.UTC(2025, 9, 6) / 1000);
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/v1/models', async () => {
      const rows = gw.prices.allRows();
      return { object: 'list', data: gw.catalog.list().map((m) => modelObject(m, created, rows(m))) };
    });
    app.get('/v1/models/:id', async (req) => {
      const id = (req.params as { id: string }).id;
      const m = gw.catalog.get(id);
      if (!m) throw notFound(`The model '${id}' does not exist on this gateway.`, 'model');
      return modelObject(m, created, gw.prices.rowsOf(m));
    });
  };
}
