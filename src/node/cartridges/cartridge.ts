/** Who a gear is, for a cartridge's built-in app. */
export interface GearIdentity {
  readonly gearId: string;
  readonly app: string;
  readonly domain: string;
}

/** An HTTP GET on the gear's own port: healthy when it answers with a status below 500 in time. */
export interface HealthCheck {
  readonly path: string;
  readonly timeoutMs: number;
}

export interface CartridgeCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
}

/**
 * How to run one kind of app (OpenShift v2's cartridge, reduced to what a gear process needs).
 * The agent supplies PORT, HOST, GEAR_* and OPENSHIFT_* in the environment; the command must
 * listen on HOST:PORT.
 */
export interface Cartridge {
  readonly name: string;
  /**
   * Makes `appDir` runnable: when `hasSource` is false (no uploaded source), writes the built-in
   * app. Idempotent; runs before every start. Synchronous file writes only.
   */
  prepare(appDir: string, gear: GearIdentity, hasSource: boolean): void;
  /** The process to spawn for the gear. */
  command(appDir: string): CartridgeCommand;
  /** Sent first on stop; SIGKILL follows after the agent's grace period. */
  readonly stopSignal: NodeJS.Signals;
  readonly healthCheck: HealthCheck;
}

/** The built-in answer of a gear without source; tests and the router's tests read the gear id from it. */
export function helloText(gear: Pick<GearIdentity, 'app' | 'gearId'>): string {
  return `Hello from geartide: app ${gear.app}, gear ${gear.gearId}\n`;
}
