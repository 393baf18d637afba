// What RDS writes into the credentials secret it generates, for a test database: the Lambdas read their
// connection from it (src/adapters/secrets.ts), so tests hand them one pointing at the database under test.

/** The secret's fields for the database at `url`; `host` or the login may be replaced. */
export function rdsSecretFor(
  url: string,
  replaced: { host?: string; username?: string; password?: string } = {},
) {
  const u = new URL(url);
  return {
    engine: 'postgres',
    host: replaced.host ?? u.hostname,
    port: Number(u.port || 5432),
    username: replaced.username ?? decodeURIComponent(u.username),
    // A server that trusts local connections ignores it; RDS always sets one.
    password: replaced.password ?? (decodeURIComponent(u.password) || 'trusted-locally'),
    dbname: u.pathname.slice(1),
  };
}
