import { request } from 'node:http';

import type { HealthCheck } from './cartridges/cartridge.ts';

/** One HTTP GET of a gear's health path: true when it answers below 500 within the timeout. */
export function probeGearHealth(host: string, port: number, check: HealthCheck): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = request({ host, port, path: check.path, method: 'GET', timeout: check.timeoutMs, agent: false }, (response) => {
      response.resume();
      resolve((response.statusCode ?? 500) < 500);
    });
    probe.on('timeout', () => probe.destroy(new Error('health check timed out')));
    probe.on('error', () => resolve(false));
    probe.end();
  });
}
