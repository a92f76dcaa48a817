/**
 * Checks an HTTP answer against docs/openapi.yaml: the status must be documented for that path
 * and method, and a JSON body must match the response's schema. A small validator for the subset
 * of JSON Schema the file uses ($ref, type, required, properties, additionalProperties: false,
 * items, enum, oneOf).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './cli.js';

type Schema = Record<string, unknown>;
const spec = YAML.parse(fs.readFileSync(path.join(ROOT, 'docs/openapi.yaml'), 'utf8')) as Schema;

function resolve(s: Schema): Schema {
  let x = s;
  while (typeof x.$ref === 'string') {
    x = (x.$ref as string).slice(2).split('/').reduce<Schema>((o, k) => o[k] as Schema, spec);
  }
  return x;
}

/** Where `value` breaks `schema` (empty when it matches). */
export function validate(value: unknown, schema: Schema, at = '$'): string[] {
  const s = resolve(schema);
  if (Array.isArray(s.oneOf)) {
    const ok = (s.oneOf as Schema[]).filter((o) => validate(value, o, at).length === 0).length;
    return ok === 1 ? [] : [`${at}: matches ${ok} of oneOf`];
  }
  if (Array.isArray(s.enum) && !s.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`];
  const type = s.type as string | undefined;
  const is = (t: string): boolean =>
    t === 'integer' ? Number.isInteger(value) : t === 'array' ? Array.isArray(value) : t === 'object' ? typeof value === 'object' && value !== null && !Array.isArray(value) : typeof value === t;
  if (type && !is(type)) return [`${at}: expected ${type}, got ${JSON.stringify(value)}`];
  const errors: string[] = [];
  if (type === 'array' && s.items) (value as unknown[]).forEach((v, i) => errors.push(...validate(v, s.items as Schema, `${at}[${i}]`)));
  if (type === 'object') {
    const o = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) errors.push(`${at}: missing ${r}`);
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) errors.push(...validate(v, props[k], `${at}.${k}`));
      else if (s.additionalProperties === false) errors.push(`${at}: unexpected property ${k}`);
    }
  }
  return errors;
}

/** Checks one answer of `method template` (e.g. `get /api/v1/clients/{id}`); returns the problems. */
export function checkAnswer(method: string, template: string, status: number, body: unknown): string[] {
  const op = ((spec.paths as Schema)[template] as Schema | undefined)?.[method] as Schema | undefined;
  if (!op) return [`${method} ${template} is not in docs/openapi.yaml`];
  const res = (op.responses as Schema)[String(status)] as Schema | undefined;
  if (!res) return [`${method} ${template}: status ${status} is not documented`];
  const schema = ((resolve(res).content as Schema | undefined)?.['application/json'] as Schema | undefined)?.schema as Schema | undefined;
  return schema ? validate(body, schema) : [];
}
