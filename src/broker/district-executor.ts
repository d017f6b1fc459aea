import { ConflictError, InputError, isGeartideError } from '../core/errors.ts';
import type { District, Node } from '../core/model.ts';
import type { Store } from '../store/store.ts';
import type { EventRecorder } from './event-recorder.ts';

/** oo-admin-ctl-district: districts, their UID pools and their node membership. */
export class DistrictExecutor {
  constructor(
    private readonly store: Store,
    private readonly events: EventRecorder,
    private readonly settings: { readonly validGearSizes: readonly string[]; readonly defaultGearSize: string; readonly districtsFirstUid: number; readonly districtsMaxCapacity: number },
    private readonly clock: () => number,
  ) {}

  async create(request: { name: string; gearProfile?: string; firstUid?: number; maxCapacity?: number }): Promise<District> {
    const gearProfile = request.gearProfile ?? this.settings.defaultGearSize;
    if (!this.settings.validGearSizes.includes(gearProfile)) {
      throw new InputError(`gear profile '${gearProfile}' is not one of VALID_GEAR_SIZES (${this.settings.validGearSizes.join(', ')})`, 'gearProfile', 'unknown_gear_profile');
    }
    const firstUid = request.firstUid ?? this.settings.districtsFirstUid;
    const maxCapacity = request.maxCapacity ?? this.settings.districtsMaxCapacity;
    const district = await this.store.createDistrict({ name: request.name, gearProfile, firstUid, maxCapacity, now: this.clock() });
    await this.record('district.created', district, `district ${district.name} created for ${gearProfile} gears with UIDs ${firstUid}–${firstUid + maxCapacity - 1}`);
    return district;
  }

  /** The node must be empty, of the district's profile and in no district. It joins active. */
  async addNode(district: District, node: Node): Promise<void> {
    await this.store.transaction(async (tx) => {
      const current = (await tx.getNode(node.id))!;
      if (current.districtId === district.id) throw new ConflictError('node_in_district', `node ${node.name} is already in district ${district.name}`, { field: 'node' });
      if (current.districtId !== null) throw new ConflictError('node_in_other_district', `node ${node.name} is already in another district; remove it there first`, { field: 'node' });
      if (current.gearProfile !== district.gearProfile) {
        throw new ConflictError('profile_mismatch', `node ${node.name} serves ${current.gearProfile} gears, district ${district.name} holds ${district.gearProfile}`, { field: 'node' });
      }
      const gears = await tx.countGearsOnNode(node.id);
      if (gears > 0) throw new ConflictError('node_not_empty', `node ${node.name} holds ${gears} gear(s); only an empty node can join a district`, { field: 'node' });
      await tx.setNodeDistrict(node.id, district.id);
    });
    await this.record('district.node-added', district, `node ${node.name} added to district ${district.name}`, { node: node.id });
  }

  /** The node must be inactive (deactivated) and empty: its gears' UIDs belong to this district. */
  async removeNode(district: District, node: Node): Promise<void> {
    await this.store.transaction(async (tx) => {
      const current = (await tx.getNode(node.id))!;
      if (current.districtId !== district.id) throw new ConflictError('node_not_in_district', `node ${node.name} is not in district ${district.name}`, { field: 'node' });
      if (current.state === 'active' || current.state === 'provisioning') {
        throw new ConflictError('node_active', `node ${node.name} is ${current.state}; deactivate it before removing it from district ${district.name}`, { field: 'node' });
      }
      const gears = await tx.countGearsOnNode(node.id);
      if (gears > 0) throw new ConflictError('node_not_empty', `node ${node.name} still holds ${gears} gear(s); move them first`, { field: 'node' });
      await tx.setNodeDistrict(node.id, null);
    });
    await this.record('district.node-removed', district, `node ${node.name} removed from district ${district.name}`, { node: node.id });
  }

  async changeCapacity(district: District, change: { add?: number; remove?: number }): Promise<District> {
    if ((change.add === undefined) === (change.remove === undefined)) throw new InputError('give exactly one of add or remove', 'add');
    const updated =
      change.add !== undefined
        ? await this.store.addDistrictCapacity(district.id, change.add)
        : await this.store.removeDistrictCapacity(district.id, change.remove!).catch((error: unknown) => {
            // The store names its own parameter (`count`); the API caller sent `remove`.
            if (isGeartideError(error) && error.code === 'capacity_in_use') throw new ConflictError(error.code, error.message, { ...error.context, field: 'remove' });
            throw error;
          });
    await this.record(
      'district.capacity-changed',
      updated,
      `district ${district.name} capacity ${change.add !== undefined ? `+${change.add}` : `-${change.remove}`}: ${updated.maxCapacity} UIDs, ${updated.availableUids} available`,
    );
    return updated;
  }

  private async record(kind: string, district: District, message: string, data: Record<string, unknown> = {}): Promise<void> {
    await this.events.record({ kind, subject: `district:${district.name}`, message, data: { district: district.id, ...data } });
  }
}
