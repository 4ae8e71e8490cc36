// Checks values against the JSON Schemas (schema.ts) with Ajv, and tells a refusal with the
// catalogued error. Apart from schema.ts so that what only reads the schemas (the worker,
// through the models) does not load Ajv.

import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { NebulaError } from '../errors.ts';
import { bodyValue, formats, locateAll, roots, tell, type JsonSchema } from './schema.ts';

export type Checker<T> = (data: unknown) => T;

/**
 * Compiles schemas once each. Strict: nothing is coerced, defaulted or removed, an unknown
 * keyword or format is an error at compile time, and every error is collected (allErrors),
 * so that the one told is the first the API checks, whatever order Ajv visits them in.
 */
export class SchemaChecker {
  readonly #ajv: Ajv2020;
  readonly #compiled = new WeakMap<JsonSchema, ValidateFunction>();

  constructor() {
    this.#ajv = new Ajv2020({
      allErrors: true,
      strict: true,
      allowUnionTypes: true,
      coerceTypes: false,
      useDefaults: false,
      removeAdditional: false,
      validateFormats: true,
    });
    this.#ajv.addKeyword({ keyword: 'x-errors', schemaType: 'string' });
    this.#ajv.addKeyword({ keyword: 'x-read-only', schemaType: 'array' });
    this.#ajv.addKeyword({ keyword: 'x-missing', schemaType: 'string' });
    for (const [name, check] of formats) this.#ajv.addFormat(name, { type: 'string', validate: check });
  }

  validator(schema: JsonSchema): ValidateFunction {
    let validate = this.#compiled.get(schema);
    if (validate === undefined) {
      validate = this.#ajv.compile(schema);
      this.#compiled.set(schema, validate);
    }
    return validate;
  }

  /** Does the schema accept the value? */
  accepts(schema: JsonSchema, data: unknown): boolean {
    return this.validator(schema)(data) === true;
  }

  /** The catalogued error for a value the schema refuses; null when it accepts it. */
  refusal(schema: JsonSchema, data: unknown): NebulaError | null {
    const validate = this.validator(schema);
    return validate(data) === true ? null : refusalOf(validate, schema, data);
  }

  /**
   * The check of one part of a request (body, params, query), compiled once: the value as the
   * route gets it — a body left out, or null, counts as {} — or the catalogued refusal. The
   * manager's validator compiler and the checks outside HTTP (bodies.ts) both use it.
   */
  requestCheck(schema: JsonSchema): (data: unknown) => { value: unknown; error: NebulaError | null } {
    const validate = this.validator(schema);
    const isBody = schema['x-errors'] === 'body';
    return (data) => {
      const value = isBody ? bodyValue(data) : data;
      return { value, error: validate(value) === true ? null : refusalOf(validate, schema, value) };
    };
  }
}

/** Why `validate` refused `data`: the schema's own root refusal, else its first error told. */
function refusalOf(validate: ValidateFunction, schema: JsonSchema, data: unknown): NebulaError {
  const root = roots.get(schema['x-errors'] ?? '');
  if (root !== undefined) return root(locateAll(validate.errors ?? [], schema, data), data, schema);
  const [first] = locateAll(validate.errors ?? [], schema, data);
  return first === undefined ? new NebulaError('BAD_REQUEST') : tell(first, []);
}

