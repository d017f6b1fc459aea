import { createServer } from 'node:net';

/** Binds `port` (0: any) on `host`, then releases it; resolves the bound port, or null when taken. */
function tryBind(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(null));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A port for a gear on the gear host: its previous one when still free (so its endpoint, and the
 * router's table, stay put across restarts), else one the kernel picks. Between the probe and
 * the gear's own bind another process could take it; the gear then fails its start and the
 * crash path picks again.
 */
export async function chooseGearPort(host: string, preferred: number | null): Promise<number> {
  if (preferred !== null) {
    const again = await tryBind(host, preferred);
    if (again !== null) return again;
  }
  const fresh = await tryBind(host, 0);
  if (fresh === null) throw new Error(`no free port on ${host}`);
  return fresh;
}
