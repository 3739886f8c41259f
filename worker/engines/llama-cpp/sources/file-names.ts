/**
 * The file a downloaded model is written to: `name@tag.gguf`, `/` written as `~` (model names
 * may have slashes, file names may not). model-catalog.ts's `modelNameForFile` reads it back.
 */
export function fileNameForModel(model: string): string {
  const colon = model.lastIndexOf(':');
  return `${model.slice(0, colon).replaceAll('/', '~')}@${model.slice(colon + 1)}.gguf`;
}
