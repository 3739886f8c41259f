/** The policies the simulator knows, by the name `--policies` uses. */
import type { SimPolicy } from './policy.ts';
import type { TraceRequest } from '../model/trace.ts';
import { fabricPolicy, type FabricPolicyOptions } from './fabric.ts';
import { keepalive0Policy } from './keepalive0.ts';
import { keepforeverPolicy } from './keepforever.ts';
import { lruAffinityPolicy } from './lru-affinity.ts';
import { ollamaPolicy } from './ollama.ts';
import { oraclePolicy } from './oracle.ts';
import { scalingOraclePolicy } from './scaling-oracle.ts';
import { seedGatewayPolicy } from './seed-gateway.ts';

export const POLICY_NAMES = ['fabric', 'fabric-no-tier', 'ollama', 'keepalive0', 'keepforever', 'lru-affinity', 'seed-gateway', 'oracle', 'scaling-oracle'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** The fabric's own policies (the scheduler with and without the host tier): never a baseline. */
export function isFabricPolicy(name: string): boolean {
  return name === 'fabric' || name === 'fabric-no-tier';
}

/** A hindsight reference (it reads the whole trace): never a baseline. */
export function isOracle(name: string): boolean {
  return name === 'oracle' || name === 'scaling-oracle';
}

/** A policy the fabric is compared against: neither the fabric's nor an oracle. */
export function isBaseline(name: string): boolean {
  return !isFabricPolicy(name) && !isOracle(name);
}

export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

/** A fresh policy instance (policies keep per-run state); `trace` is read only by the oracles, `fabric` only by the fabric. */
export function createPolicy(name: PolicyName, trace: readonly TraceRequest[], fabric: FabricPolicyOptions = {}): SimPolicy {
  switch (name) {
    case 'fabric':
      return fabricPolicy(fabric);
    case 'fabric-no-tier':
      return fabricPolicy({ ...fabric, hostTier: false });
    case 'ollama':
      return ollamaPolicy();
    case 'keepalive0':
      return keepalive0Policy();
    case 'keepforever':
      return keepforeverPolicy();
    case 'lru-affinity':
      return lruAffinityPolicy();
    case 'seed-gateway':
      return seedGatewayPolicy();
    case 'oracle':
      return oraclePolicy(trace);
    case 'scaling-oracle':
      return scalingOraclePolicy(trace);
  }
}
