/**
 * Writes the demo GGUF models (random weights, gibberish output) into FABRIC_MODELS_DIR
 * (default ./models), leaving existing files alone. `npm run make-demo-models`.
 */
import { resolve } from 'node:path';
import { envString } from '../protocol/env.ts';
import { modelNameForFile } from '../worker/engines/llama-cpp/model-catalog.ts';
import { ensureDemoModels } from '../worker/engines/llama-cpp/demo-models.ts';

const dir = resolve(envString(process.env, 'FABRIC_MODELS_DIR', './models'));
const files = await ensureDemoModels(dir);
for (const f of files) {
  const model = modelNameForFile(`${f.name}.gguf`) ?? f.name;
  const what = f.created ? 'wrote' : 'kept ';
  process.stdout.write(`${what} ${model.padEnd(20)} ${String(f.sizeBytes).padStart(9)} bytes  ${f.path}\n`);
}
process.stdout.write(`Demo models have random weights: they produce real tokens but gibberish text.\n`);
