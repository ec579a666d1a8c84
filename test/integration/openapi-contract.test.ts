// The admin API's OpenAPI document against the router that serves it: every route the router
// registers is documented with the same method and path, every documented operation is served,
// the document validates as OpenAPI 3.1, and every operation documents its errors. The document
// is fetched from a real Tessera (/admin/api/v1/openapi.json, no token needed).
import assert from 'node:assert/strict';
import request from 'supertest';
import { Validator } from '@seriousme/openapi-schema-validator';
import type Router from '@koa/router';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { adminApiRouter, routerPath } from '../../src/admin/api/router.ts';
import { ROUTES } from '../../src/admin/api/routes.ts';
import type { AdminService } from '../../src/admin/types.ts';

const PREFIX = '/admin/api/v1';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; required?: boolean; schema: object }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  security?: object[];
}
type Doc = {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object>; securitySchemes: Record<string, { type: string; scheme?: string }> };
};

/** "METHOD /path" of every route the router registers (HEAD, which the router adds to GET, left out). */
function registered(router: Router): string[] {
  return router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path)}`)).sort();
}

/** "METHOD /path" of every documented operation, in the router's path syntax. */
function documented(doc: Doc): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${PREFIX}${routerPath(path)}`)).sort();
}

const operations = (doc: Doc) => Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).filter(([k]) => METHODS.includes(k)).map(([method, op]) => ({ path, method, op })));

describe('admin API OpenAPI document', () => {
  let t: Tessera;
  let doc: Doc;
  let router: Router;

  before(async () => {
    t = await startTessera();
    const res = await request(t.issuer).get(`${PREFIX}/openapi.json`).expect(200);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.headers['cache-control'], 'no-store');
    doc = res.body as Doc;
    // the same router Tessera mounts; only its registered routes are looked at
    router = adminApiRouter({
      admin: {} as AdminService, provider: t.services.provider,
      clients: { find: async () => undefined }, accounts: { findById: async () => undefined },
    });
  });
  after(() => t?.close());

  it('validates as an OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(doc as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: PREFIX }]);
    assert.deepEqual(doc.components.securitySchemes.bearer, { ...doc.components.securitySchemes.bearer, type: 'http', scheme: 'bearer' });
  });

  it('documents every route the router registers, and the router serves every documented operation', () => {
    const served = registered(router);
    const described = documented(doc);
    assert.ok(served.length >= 30, `expected the whole API, got ${served.length} routes`);
    assert.deepEqual(served.filter((r) => !described.includes(r)), [], 'registered but not documented');
    assert.deepEqual(described.filter((r) => !served.includes(r)), [], 'documented but not registered');
    assert.deepEqual(served, described);
  });

  it('has one operation per row of the route table, with unique operation ids', () => {
    const ids = operations(doc).map(({ op }) => op.operationId);
    assert.equal(new Set(ids).size, ids.length, 'operation ids are unique');
    for (const route of ROUTES) assert.equal(doc.paths[route.path]?.[route.method]?.operationId, route.operationId, `${route.method} ${route.path}`);
    assert.equal(ids.length, ROUTES.length + 1, 'the table plus openapi.json');
  });

  it('documents 400, 401 and 403 (JSON Error) on every operation that takes input and a token, 404 where it takes ids, 413/415 with a body', () => {
    for (const { path, method, op } of operations(doc)) {
      const name = `${method.toUpperCase()} ${path}`;
      if (path === '/openapi.json') {
        assert.deepEqual(op.security, [], `${name} needs no token`);
        continue;
      }
      assert.deepEqual(op.security, [{ bearer: ['admin'] }], `${name} security`);
      for (const status of ['400', '401', '403']) {
        assert.equal(op.responses[status]?.content?.['application/json']?.schema.$ref, '#/components/schemas/Error', `${name} documents ${status}`);
      }
      if (path.includes('{')) assert.ok(op.responses['404'], `${name} documents 404`);
      if (op.requestBody) {
        assert.ok(op.responses['413'] && op.responses['415'], `${name} documents 413 and 415`);
        assert.deepEqual(Object.keys(op.requestBody.content), ['application/json']);
      }
      const success = Object.keys(op.responses).filter((s) => s.startsWith('2'));
      assert.equal(success.length, 1, `${name} has one success response`);
      // every path parameter is described and required
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const params = (op.parameters ?? []).filter((p) => p.in === 'path');
      assert.deepEqual(params.map((p) => p.name).sort(), inPath.sort(), `${name} path parameters`);
      assert.ok(params.every((p) => p.required === true), `${name} path parameters are required`);
    }
  });

  it('describes the entities and errors as component schemas, and the secret only where it is issued', () => {
    for (const name of ['Error', 'AdminClient', 'AdminUser', 'Device', 'Organisation', 'AuditEvent']) assert.ok(doc.components.schemas[name], name);
    const text = JSON.stringify(doc.components.schemas.AdminClient);
    assert.doesNotMatch(text, /clientSecret/);
    const withSecret = operations(doc).filter(({ op }) => JSON.stringify(op.responses).includes('clientSecret')).map(({ op }) => op.operationId).sort();
    assert.deepEqual(withSecret, ['createClient', 'rotateClientSecret']);
    // refs all resolve
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    for (const ref of refs) assert.ok(doc.components.schemas[ref], `#/components/schemas/${ref} exists`);
  });

  it('documents the CSV export as text/csv and the query parameters with their limits', () => {
    const exported = doc.paths['/audit-events/export']!.get!;
    assert.ok(exported.responses['200']!.content!['text/csv']);
    const users = doc.paths['/users']!.get!;
    const limit = users.parameters!.find((p) => p.name === 'limit')!;
    assert.deepEqual(limit.schema, { type: 'integer', minimum: 1, maximum: 100 });
    const auditLimit = doc.paths['/audit-events']!.get!.parameters!.find((p) => p.name === 'limit')!;
    assert.deepEqual(auditLimit.schema, { type: 'integer', minimum: 1, maximum: 200 });
  });
});
