/** Bull Board at `/admin/queues`: every model queue the catalog knows, plus the webhook queue. */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import type { FleetView } from '../fleet/fleet-view.ts';
import type { ModelQueues } from '../jobs/model-queues.ts';
import { bullBoardGuard } from '../middleware/bull-board-guard.ts';

export const BULL_BOARD_PATH = '/admin/queues';

export function adminRoutes(d: { admin: RequestHandler; fleet: FleetView; queues: ModelQueues; extraQueues: Queue[] }): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: 'inference-fabric' } } });
  let known = '';

  // Model queues appear as the catalog grows; refresh the board's list when it changed.
  const refresh: RequestHandler = async (_req, _res, next) => {
    const snap = await d.fleet.snapshot();
    const models = [...snap.catalog.keys()].sort();
    const signature = models.join('\n');
    if (signature !== known) {
      known = signature;
      const queues = [...models.map((m) => d.queues.get(m) as Queue), ...d.extraQueues];
      board.replaceQueues(queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })));
    }
    next();
  };

  const r = Router();
  r.use(BULL_BOARD_PATH, d.admin, bullBoardGuard(), refresh, serverAdapter.getRouter() as RequestHandler);
  return r;
}
