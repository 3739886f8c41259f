/** The demo models on disk and a llama.cpp worker serving demo-chat: what the real-engine API tests share. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDemoModels } from '../../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { log, type TestFabric } from './fabric.ts';

/** A fresh folder holding the generated demo models. */
export async function demoModelsDir(prefix = 'fabric-models-'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  await ensureDemoModels(dir);
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Adds a worker with the llama.cpp engine (one CPU thread) to `f`, demo-chat preloaded. */
export async function addDemoChatWorker(f: TestFabric, dir: string, o: { contextSize?: number; slotsPerModel?: number } = {}): Promise<void> {
  const engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: o.contextSize ?? 1024, slotsPerModel: o.slotsPerModel ?? 1 }, { logger: log });
  await f.addWorker(engine, { preload: ['demo-chat:latest'] });
}
