// Host and port as they go into a URL: an IPv6 literal needs brackets there
// (https://[2001:db8::1]:8443), a name or IPv4 address does not.

/** `host` ready for a URL's authority; an already-bracketed literal is kept as it is. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host:port` for a URL, IPv6 literals bracketed. */
export function formatHostPort(address: { host: string; port: number }): string {
  return `${urlHost(address.host)}:${address.port}`;
}
