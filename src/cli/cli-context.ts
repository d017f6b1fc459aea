import type { Command } from 'commander';
import { GeartideError } from '../core/errors.ts';
import { BrokerClient } from './broker-client.ts';
import { resolveCliConfig } from './cli-config.ts';
import type { CliConfig } from './cli-config.ts';

/** How long a request may take before the CLI says it is still waiting (see noticeIfSlow). */
export const SLOW_NOTICE_MS = 3000;

/** Where the CLI writes and what environment it reads; injectable so tests can run main() in-process. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * What every command needs: the resolved config, a broker client and the output streams. Both
 * the config and the client are made on first use, so `geartide --help` works on a machine with
 * a broken config.json and `geartide up` never needs a broker to exist.
 */
export class CliContext {
  readonly io: CliIo;
  readonly now: () => number;
  #config: CliConfig | undefined;
  #client: BrokerClient | undefined;

  constructor(io: CliIo, now: () => number = Date.now) {
    this.io = io;
    this.now = now;
  }

  get config(): CliConfig {
    this.#config ??= resolveCliConfig({ env: this.io.env });
    return this.#config;
  }

  /** Secrets no output line may contain: the configured token. Never throws. */
  secrets(): string[] {
    try {
      return this.config.token === undefined ? [] : [this.config.token];
    } catch {
      // The config did not resolve, so no token was read from it; the env one may still be set.
      return this.io.env.GEARTIDE_TOKEN === undefined ? [] : [this.io.env.GEARTIDE_TOKEN];
    }
  }

  client(): BrokerClient {
    if (this.#client === undefined) {
      const { brokerUrl, token, configFile } = this.config;
      if (brokerUrl === undefined) {
        throw new GeartideError('no_broker', 'input', `no broker configured: run \`geartide up\` or set GEARTIDE_URL (or brokerUrl in ${configFile})`);
      }
      this.#client = new BrokerClient({ brokerUrl, token });
    }
    return this.#client;
  }

  /** Print one line (or several joined lines) to stdout. */
  print(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** `--json`: the API's JSON, pretty-printed, for scripts (`| jq`). */
  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Whether the command line asked for `--json` (a global option, accepted anywhere). */
  wantsJson(command: Command): boolean {
    return command.optsWithGlobals<{ json?: boolean }>().json === true;
  }

  warn(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /**
   * Awaits `work`, and says on stderr, once, that it is still waiting if it has not settled after
   * `afterMs` — so a request the broker holds (an app create waiting for a node host to boot) does
   * not look like a hung command. stdout stays the command's answer alone (scripts, `--json`).
   */
  async noticeIfSlow<T>(work: Promise<T>, notice: (waitedSeconds: number) => string, afterMs: number = SLOW_NOTICE_MS): Promise<T> {
    const timer = setTimeout(() => this.warn(notice(Math.round(afterMs / 1000))), afterMs);
    try {
      return await work;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#client?.close();
  }
}
