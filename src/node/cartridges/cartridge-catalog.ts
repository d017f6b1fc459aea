import type { Cartridge } from './cartridge.ts';
import { nodejsCartridge } from './nodejs-cartridge.ts';
import { staticCartridge } from './static-cartridge.ts';

const CARTRIDGES: ReadonlyMap<string, Cartridge> = new Map([nodejsCartridge, staticCartridge].map((cartridge) => [cartridge.name, cartridge]));

/**
 * The cartridge named `name`; OpenShift-style versioned names (`nodejs-20`) resolve to their
 * family. undefined when this node has no such cartridge.
 */
export function findCartridge(name: string): Cartridge | undefined {
  return CARTRIDGES.get(name) ?? CARTRIDGES.get(name.replace(/-[0-9.]+$/, ''));
}

export function cartridgeNames(): string[] {
  return [...CARTRIDGES.keys()];
}
