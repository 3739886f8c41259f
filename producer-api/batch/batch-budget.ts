/**
 * Batches and the tenant's daily token budget. A batch is deferred work, so a tenant that has
 * used its budget does not lose batch lines: the batch stops starting new lines (the lines
 * already queued or running finish) and goes on once the budget renews at midnight UTC. If its
 * completion window ends first, the lines never started get `batch_expired`, as for any batch.
 * Tenants without a budget cost nothing here.
 */
import type { Logger } from '../../protocol/logger.ts';
import type { TenantLedger } from '../../store/tenant-ledger.ts';
import type { TenantLimits } from '../../protocol/tenant-limits.ts';

export class BatchBudget {
  /** Batches this instance holds back now (logged once per pause). */
  private readonly held = new Set<string>();

  private readonly ledger: TenantLedger;
  private readonly limits: TenantLimits;
  private readonly log: Logger;
  constructor(
    ledger: TenantLedger,
    limits: TenantLimits,
    log: Logger,
  ) {
    this.ledger = ledger;
    this.limits = limits;
    this.log = log;
  }

  /** True while the batch's tenant has no tokens left today: start no new line. */
  async holds(b: { id: string; tenant: string }): Promise<boolean> {
    const limit = this.limits.forTenant(b.tenant);
    const usedUp = await this.ledger.budgetUsedUp(b.tenant, limit);
    if (usedUp && !this.held.has(b.id)) {
      this.held.add(b.id);
      this.log.info({ batchId: b.id, tenant: b.tenant, dailyTokens: limit.dailyTokens }, 'Batch paused: its tenant used its daily token budget; it resumes when the budget renews (midnight UTC)');
    } else if (!usedUp && this.held.delete(b.id)) {
      this.log.info({ batchId: b.id, tenant: b.tenant }, 'Batch resumed: its tenant has tokens again');
    }
    return usedUp;
  }

  /** The batch is no longer driven here. */
  forget(batchId: string): void {
    this.held.delete(batchId);
  }
}
