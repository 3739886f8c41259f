/** Pull on demand (`POST /api/pull`): downloads a missing model, reporting progress as it streams. */
import { EngineError } from '../../../protocol/errors.ts';
import type { Logger } from '../../../protocol/logger.ts';
import type { OllamaClient } from './client.ts';
import type { OllamaPullStatus } from './wire.ts';

export interface PullProgress {
  /** Ollama's status line: `pulling manifest`, `downloading <digest>`, ..., `success`. */
  status: string;
  completed?: number;
  total?: number;
}

/**
 * Streams a pull to its end; resolves only on Ollama's final `success`. A model the registry
 * lacks arrives as an error line ("file does not exist") and rejects with model_not_found.
 */
export async function pullModel(
  client: OllamaClient,
  name: string,
  onProgress: (p: PullProgress) => void,
  opts: { timeoutMs: number; log: Logger },
): Promise<void> {
  opts.log.info({ model: name }, 'Model missing on the server; pulling it');
  let last = '';
  for await (const s of client.stream<OllamaPullStatus>('/api/pull', { model: name, stream: true }, { timeoutMs: opts.timeoutMs })) {
    last = s.status ?? last;
    const p: PullProgress = { status: last };
    if (s.completed !== undefined) p.completed = s.completed;
    if (s.total !== undefined) p.total = s.total;
    try {
      onProgress(p);
    } catch (err) {
      opts.log.warn({ model: name, err: String(err) }, 'Pull progress listener failed');
    }
  }
  if (last !== 'success') throw new EngineError('engine_error', `pull of ${name} ended with status ${JSON.stringify(last)}, not success`);
  opts.log.info({ model: name }, 'Model pulled');
}
