/** JSON Schema to GBNF: what the API checks at submit time and the llama.cpp engine enforces. */
export { compileJsonSchema, type SchemaGrammar } from './compiler.ts';
export { describeRefusal, type SchemaRefusal } from './refusal.ts';
export { SUPPORTED_FORMATS } from './strings.ts';
