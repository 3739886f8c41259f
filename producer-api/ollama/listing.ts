/** `/api/tags` and `/api/ps` entries in Ollama's shapes, from the cluster snapshot. */
import type { CatalogEntry } from '../../protocol/worker-state.ts';
import type { FleetSnapshot } from '../fleet/fleet-view.ts';
import type { DerivedModel } from '../../protocol/model-aliases.ts';

/** What the embedding models are: Ollama reports `embedding` for models with a pooling layer (BERT families). */
const EMBEDDING_FAMILIES = new Set(['bert', 'nomic-bert', 'nomic-bert-moe', 'jina-bert-v2', 'xlm-roberta', 'new', 'gte']);

/** Ollama's `capabilities` for a catalog entry: `embedding` for embedding models, else `completion`. */
export function modelCapabilities(e: { name: string; family: string | null }): string[] {
  const embedding = (e.family !== null && EMBEDDING_FAMILIES.has(e.family)) || /(^|[-_/.])embed/i.test(e.name);
  return embedding ? ['embedding'] : ['completion'];
}

/** Residency is pinned by the fabric (keep_alive -1), which Ollama shows as a far-future expiry. */
const PINNED_EXPIRY = '2318-08-30T00:00:00Z';

function details(e: CatalogEntry) {
  return {
    parent_model: '',
    format: 'gguf',
    family: e.family ?? '',
    families: e.family ? [e.family] : null,
    parameter_size: e.parameterSize ?? '',
    quantization_level: e.quantization ?? '',
  };
}

/** Catalog models, then aliases and derived models (with their base's details and `parent_model`). */
export function tagEntries(snap: FleetSnapshot) {
  const bases = [...snap.catalog.values()].map((e) => ({ name: e.name, model: e.name, modified_at: e.modifiedAt, size: e.sizeBytes, digest: e.digest ?? '', details: details(e) }));
  const derived = [...(snap.aliases ?? new Map<string, DerivedModel>())].flatMap(([name, a]) => {
    const e = snap.catalog.get(a.from);
    return e && !snap.catalog.has(name) ? [{ name, model: name, modified_at: a.createdAt, size: e.sizeBytes, digest: e.digest ?? '', details: { ...details(e), parent_model: a.from } }] : [];
  });
  return [...bases, ...derived].sort((a, b) => a.name.localeCompare(b.name));
}

/** One entry per resident model, cluster-wide; `replicas` lists where it lives. */
export function psEntries(snap: FleetSnapshot) {
  const byModel = new Map<string, { size: number; sizeVram: number; context?: number; replicas: { worker: string; size: number; size_vram: number; estimated_size: number; gpus: string[] }[] }>();
  for (const w of snap.workers) {
    for (const m of w.resident) {
      const entry = byModel.get(m.model) ?? { size: m.sizeBytes, sizeVram: m.sizeVramBytes, context: m.contextLength, replicas: [] };
      entry.replicas.push({ worker: w.workerId, size: m.sizeBytes, size_vram: m.sizeVramBytes, estimated_size: m.estimatedBytes, gpus: w.gpus.map((g) => g.uuid) });
      byModel.set(m.model, entry);
    }
  }
  return [...byModel]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => {
      const cat = snap.catalog.get(name);
      return {
        name,
        model: name,
        size: e.size,
        digest: cat?.digest ?? '',
        details: cat ? details(cat) : null,
        expires_at: PINNED_EXPIRY,
        size_vram: e.sizeVram,
        // What the engine loaded it with (a server's num_ctx may be below the model's maximum).
        context_length: e.context ?? cat?.contextLength ?? undefined,
        replicas: e.replicas,
      };
    });
}

/** `/api/show` from a catalog entry (with a derived model's defaults): details, the architecture facts the fabric knows, capabilities. */
export function showEntry(e: CatalogEntry, derived?: DerivedModel) {
  const arch = e.family ?? 'unknown';
  const modelInfo: Record<string, unknown> = { 'general.architecture': arch };
  // Ollama's model_info reports the file's trained maximum; /api/ps reports the loaded context.
  const trained = e.trainedContextLength ?? e.contextLength;
  if (trained !== null) modelInfo[`${arch}.context_length`] = trained;
  return {
    license: '',
    modelfile: '',
    parameters: Object.entries(derived?.parameters ?? {}).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(' ') : String(v)}`).join('\n'),
    template: derived?.template ?? '',
    ...(derived?.system !== undefined ? { system: derived.system } : {}),
    details: derived ? { ...details(e), parent_model: derived.from } : details(e),
    model_info: modelInfo,
    capabilities: modelCapabilities(e),
    modified_at: e.modifiedAt,
  };
}
