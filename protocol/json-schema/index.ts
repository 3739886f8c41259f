/** JSON Schema to GBNF: what the API checks at submit time and the llama.cpp engine enforces. */
export { compileJsonSchema, type SchemaGrammar } from './compiler.js';
export { describeRefusal, type SchemaRefusal } from './refusal.js';
export { SUPPORTED_FORMATS } from './strings.js';
