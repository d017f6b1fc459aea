/**
 * Where node hosts come from. One implementation per cloud (`local`, `openstack-nova`,
 * `openstack-heat`), each checked by the same conformance suite. Modelled on
 * cluster-autoscaler's NodeGroup (targetSize, increaseSize, deleteNodes of *specific* nodes,
 * nodes) plus headroom() for quota; one Provider instance serves one pool (a gear profile, and
 * optionally a district).
 *
 * Node hosts are named by the provider; the name is the one the node agent registers with, so
 * the broker maps a registered node to its provider node by name.
 */
export interface Provider {
  /** e.g. `local`, `openstack-nova`. */
  readonly kind: string;

  /**
   * How many node hosts the provider is running or creating for this pool (not those being
   * deleted). Does not block on the cloud beyond one list call. Required.
   */
  targetSize(): Promise<number>;

  /**
   * Asks for `count` new node hosts that will register with `scaleEventId` and join `district`.
   * Returns once the cloud has accepted the request (the hosts are at least `creating`); does
   * NOT wait for them to boot or register — the broker watches registrations for that.
   * Idempotent per `scaleEventId`: a repeated call with the same id (say after a broker restart)
   * returns the hosts of the first call and creates none. Throws `ExhaustedError` when the cloud
   * refuses for quota or capacity.
   */
  increaseSize(request: IncreaseSizeRequest): Promise<ProviderNode[]>;

  /**
   * Deletes exactly the named node hosts — never others, never "the newest" — and blocks until
   * each is gone. Idempotent: a name the provider no longer has is already gone, not an error.
   * The caller has already drained them.
   */
  deleteNodes(names: readonly string[]): Promise<void>;

  /** The pool's node hosts as the provider sees them. Does not block beyond one list call. */
  nodes(): Promise<ProviderNode[]>;

  /** What the cloud has left for this pool (quota, capacity); `null` fields mean unlimited. */
  headroom(): Promise<Headroom>;

  /**
   * Releases the provider's own resources (watchers, child-process handles). Does not delete
   * node hosts; for `local` it stops the agent processes it started, since they live only as
   * long as `geartide up`.
   */
  close(): Promise<void>;
}

export interface IncreaseSizeRequest {
  readonly count: number;
  /** The scale-up this fulfils; the node agent reports it at registration. */
  readonly scaleEventId: string;
  /** The district the new hosts join (their agents register into it). */
  readonly district: string;
}

export type ProviderNodeStatus = 'creating' | 'running' | 'deleting' | 'failed';

export interface ProviderNode {
  /** Host name, the same the node agent registers with. */
  readonly name: string;
  /** The provider's own id (a Nova server id, a local pid…). */
  readonly providerId: string;
  readonly status: ProviderNodeStatus;
  readonly scaleEventId: string | null;
  readonly district: string | null;
  readonly createdAt: number;
  /** Why the host failed, in the cloud's words. */
  readonly error?: string;
  /** For a failed host: the cloud is out of quota or capacity (not a fault of this host). */
  readonly exhausted?: boolean;
}

export interface Headroom {
  /** More node hosts the pool may still get; null: no limit known. */
  readonly nodes: number | null;
  /** When `nodes` is 0: why, in the cloud's words (quota name and numbers). */
  readonly reason?: string;
}
