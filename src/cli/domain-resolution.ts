import type { BrokerClient } from './broker-client.ts';
import { UsageError } from './usage-error.ts';
import { GeartideError } from '../core/errors.ts';

/**
 * The domain an app command acts on: `-n DOMAIN` when given; otherwise the caller's only domain,
 * as rhc did. Guessing among several would act on the wrong app, so that is an error asking for -n.
 */
export async function resolveDomainName(client: BrokerClient, explicit: string | undefined): Promise<string> {
  if (explicit !== undefined) return explicit;
  const [user, domains] = await Promise.all([client.currentUser(), client.listDomains()]);
  // An admin's list may hold everyone's domains; only the caller's own count here.
  const own = domains.items.filter((domain) => domain.owner === user.login || domain.owner === user.id);
  const [only] = own;
  if (own.length === 1 && only !== undefined) return only.name;
  if (own.length === 0) {
    throw new GeartideError('no_domain', 'input', 'you have no domain yet: create one with `geartide domain create NAME`, or name one with -n DOMAIN', { field: 'domain' });
  }
  throw new UsageError(`you own ${own.length} domains (${own.map((domain) => domain.name).join(', ')}): choose one with -n DOMAIN`, 'domain');
}
