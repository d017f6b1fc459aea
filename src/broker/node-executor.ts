import { ConflictError, InputError, NotFoundError } from '../core/errors.ts';
import { isActiveGearState, type GearCounts, type Node } from '../core/model.ts';
import type { Store } from '../store/store.ts';
import { hashCredential, newNodeCredential } from './credentials.ts';
import type { EventRecorder } from './event-recorder.ts';

export interface RegisterNodeRequest {
  readonly name: string;
  readonly gearProfile: string;
  readonly maxActiveGears: number;
  readonly endpoint?: string;
  readonly district?: string;
  readonly scaleEventId?: string;
}

/**
 * Node registration, heartbeats, and the active/inactive switch. The only code that changes
 * node rows (districts' membership lives in DistrictExecutor).
 */
export class NodeExecutor {
  constructor(
    private readonly store: Store,
    private readonly events: EventRecorder,
    private readonly settings: { readonly validGearSizes: readonly string[] },
    private readonly clock: () => number,
  ) {}

  /**
   * Registers a node (or re-registers a restarted agent: same name, same id, same gears) and
   * returns a fresh per-node credential — the only time it is ever shown.
   */
  async register(request: RegisterNodeRequest): Promise<{ node: Node; credential: string }> {
    if (!this.settings.validGearSizes.includes(request.gearProfile)) {
      throw new InputError(`gear profile '${request.gearProfile}' is not one of VALID_GEAR_SIZES (${this.settings.validGearSizes.join(', ')})`, 'gearProfile', 'unknown_gear_profile');
    }
    const credential = newNodeCredential();
    const now = this.clock();
    const node = await this.store.transaction(async (tx) => {
      const existing = await tx.getNodeByName(request.name);
      if (existing && existing.gearProfile !== request.gearProfile && (await tx.countGearsOnNode(existing.id)) > 0) {
        throw new ConflictError('profile_mismatch', `node ${request.name} is registered with profile ${existing.gearProfile} and holds gears; it cannot re-register as ${request.gearProfile}`, { field: 'gearProfile' });
      }
      const district = request.district === undefined ? undefined : await tx.getDistrictByName(request.district);
      if (request.district !== undefined) {
        if (!district) throw new NotFoundError('district', request.district, 'district');
        if (district.gearProfile !== request.gearProfile) {
          throw new ConflictError('profile_mismatch', `district ${district.name} holds ${district.gearProfile} nodes, not ${request.gearProfile}`, { field: 'district' });
        }
        if (existing?.districtId && existing.districtId !== district.id) {
          throw new ConflictError('node_in_other_district', `node ${request.name} is already in another district`, { field: 'district' });
        }
      }
      const registered = await tx.upsertNodeRegistration({
        name: request.name,
        gearProfile: request.gearProfile,
        maxActiveGears: request.maxActiveGears,
        endpoint: request.endpoint ?? null,
        scaleEventId: request.scaleEventId ?? existing?.scaleEventId ?? null,
        credentialHash: hashCredential(credential),
        now,
      });
      if (district && registered.districtId !== district.id) await tx.setNodeDistrict(registered.id, district.id);
      // A restarted agent resumes the state the node had; a new or provisioned one becomes active.
      const previous = existing?.state === 'lost' ? (existing.stateBeforeLost ?? 'active') : existing?.state;
      const state = previous === undefined || previous === 'provisioning' || previous === 'gone' ? 'active' : previous;
      await tx.setNodeState(registered.id, state, null);
      return (await tx.getNode(registered.id))!;
    });
    await this.events.record({
      kind: 'node.registered',
      subject: `node:${node.name}`,
      message: `node ${node.name} registered (profile ${node.gearProfile}, ${node.maxActiveGears} active gears max${request.district ? `, district ${request.district}` : ''}${request.scaleEventId ? `, scale event ${request.scaleEventId}` : ''})`,
      data: { node: node.id, scaleEventId: request.scaleEventId ?? null, reregistered: node.createdAt < now },
    });
    return { node, credential };
  }

  async heartbeat(node: Node, facts: { maxActiveGears: number; gears: GearCounts }): Promise<Node> {
    // OpenShift v2: active gears are those neither idle nor stopped.
    const active = (['started', 'idle', 'stopped', 'unknown'] as const)
      .filter((state) => isActiveGearState(state))
      .reduce((sum, state) => sum + facts.gears[state], 0);
    const activeUsagePct = Math.round((active * 10000) / facts.maxActiveGears) / 100;
    const updated = await this.store.recordHeartbeat({
      nodeId: node.id,
      maxActiveGears: facts.maxActiveGears,
      reportedGears: facts.gears,
      activeUsagePct,
      now: this.clock(),
    });
    // The store restores a lost node's state in the heartbeat's own statement (so a heartbeat
    // racing markLostNodes cannot leave a live node lost); `node` is the row as it was before.
    const restoredByStore = node.state === 'lost' && updated.state !== 'lost';
    if (updated.state === 'lost' || restoredByStore) {
      const back = restoredByStore ? updated.state : (updated.stateBeforeLost ?? 'active');
      if (!restoredByStore) await this.store.setNodeState(node.id, back, null);
      await this.events.record({
        kind: 'node.recovered',
        subject: `node:${node.name}`,
        message: `node ${node.name} is heartbeating again; back to ${back}`,
        data: { node: node.id, state: back },
      });
      return (await this.store.getNode(node.id))!;
    }
    return updated;
  }

  /** No new gears land on the node; its gears keep running. Idempotent. */
  async deactivate(node: Node, reason: string): Promise<Node> {
    return this.switchActive(node, false, reason);
  }

  async activate(node: Node, reason: string): Promise<Node> {
    return this.switchActive(node, true, reason);
  }

  private async switchActive(node: Node, active: boolean, reason: string): Promise<Node> {
    const from = active ? 'deactivated' : 'active';
    const to = active ? 'active' : 'deactivated';
    if (node.state === to || (node.state === 'lost' && node.stateBeforeLost === to)) return node;
    if (node.state === 'lost' && node.stateBeforeLost === from) {
      // Remember the operator's choice for when the node comes back.
      await this.store.setNodeState(node.id, 'lost', to);
    } else if (node.state === from) {
      await this.store.setNodeState(node.id, to, null);
    } else {
      throw new ConflictError('invalid_node_state', `node ${node.name} is ${node.state}; only ${from} nodes can be ${active ? 'activated' : 'deactivated'}`, { field: 'node', state: node.state });
    }
    await this.events.record({
      kind: active ? 'node.activated' : 'node.deactivated',
      subject: `node:${node.name}`,
      message: `node ${node.name} ${active ? 'activated: it takes new gears again' : 'deactivated: no new gears land on it'} (${reason})`,
      data: { node: node.id },
    });
    return (await this.store.getNode(node.id))!;
  }
}
