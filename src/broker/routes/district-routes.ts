import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { ConflictError, NotFoundError } from '../../core/errors.ts';
import type { District } from '../../core/model.ts';
import { AddNodeBody, CreateDistrictBody, DistrictCapacityBody, DistrictView, ErrorBody, HostName, Items, Name } from '../api-schemas.ts';
import { districtView } from '../api-views.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireAdmin } from '../request-auth.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const DistrictParams = Type.Object({ name: Name });
const DistrictNodeParams = Type.Object({ name: Name, node: HostName });

/** oo-admin-ctl-district over REST; every route needs the admin role. */
export function registerDistrictRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = context;

  async function findDistrict(name: string): Promise<District> {
    const district = await store.getDistrictByName(name);
    if (!district) throw new NotFoundError('district', name, 'name');
    return district;
  }

  async function findNode(name: string) {
    const node = await store.getNodeByName(name);
    if (!node) throw new NotFoundError('node', name, 'node');
    return node;
  }

  async function render(districtId: string) {
    const district = (await store.getDistrict(districtId))!;
    return districtView(district, await store.listNodes({ districtId }));
  }

  app.post('/districts', { schema: { tags: ['districts'], summary: 'Create a district (admin)', body: CreateDistrictBody, response: { 201: DistrictView, ...errors } } }, async (request, reply) => {
    requireAdmin(request.principal);
    const district = await context.districts.create(request.body);
    return reply.status(201).send(districtView(district, []));
  });

  app.get('/districts', { schema: { tags: ['districts'], summary: 'List districts (admin)', response: { 200: Items(DistrictView), ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    const nodes = await store.listNodes();
    return { items: (await store.listDistricts()).map((district) => districtView(district, nodes)) };
  });

  app.get('/districts/:name', { schema: { tags: ['districts'], summary: 'Show a district (admin)', params: DistrictParams, response: { 200: DistrictView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    return render((await findDistrict(request.params.name)).id);
  });

  app.post('/districts/:name/nodes', { schema: { tags: ['districts'], summary: 'Add an empty node of the district profile (admin)', params: DistrictParams, body: AddNodeBody, response: { 200: DistrictView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    const district = await findDistrict(request.params.name);
    await context.districts.addNode(district, await findNode(request.body.node));
    return render(district.id);
  });

  app.delete('/districts/:name/nodes/:node', { schema: { tags: ['districts'], summary: 'Remove an inactive, empty node (admin)', params: DistrictNodeParams, response: { 200: DistrictView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    const district = await findDistrict(request.params.name);
    await context.districts.removeNode(district, await findNode(request.params.node));
    return render(district.id);
  });

  for (const action of ['deactivate', 'activate'] as const) {
    app.post(`/districts/:name/nodes/:node/${action}`, { schema: { tags: ['districts'], summary: `${action === 'activate' ? 'Activate' : 'Deactivate'} a node of the district (admin)`, params: DistrictNodeParams, response: { 200: DistrictView, ...errors } } }, async (request) => {
      const admin = requireAdmin(request.principal);
      const district = await findDistrict(request.params.name);
      const node = await findNode(request.params.node);
      if (node.districtId !== district.id) throw new ConflictError('node_not_in_district', `node ${node.name} is not in district ${district.name}`, { field: 'node' });
      if (action === 'activate') await context.nodes.activate(node, `by ${admin.login}`);
      else await context.nodes.deactivate(node, `by ${admin.login}`);
      return render(district.id);
    });
  }

  app.post('/districts/:name/capacity', { schema: { tags: ['districts'], summary: 'Add or remove UIDs (admin)', params: DistrictParams, body: DistrictCapacityBody, response: { 200: DistrictView, ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    const district = await findDistrict(request.params.name);
    await context.districts.changeCapacity(district, request.body);
    return render(district.id);
  });
}
