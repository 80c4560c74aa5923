/**
 * HTTP(S) proxies from the environment, as curl, pip and huggingface_hub honour them: HTTPS_PROXY / HTTP_PROXY
 * (or lower case) name the proxy for each scheme, ALL_PROXY for both, NO_PROXY lists hosts (suffixes, ports,
 * `*`) reached directly. proxy-from-env reads the variables; https-proxy-agent tunnels https through CONNECT,
 * http-proxy-agent sends plain http requests to the proxy.
 */
import type * as http from 'node:http';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';

const agents = new Map<string, http.Agent>();

/** The proxy URL for a request URL ('' = direct), from the process environment (read at each request). */
export function proxyFor(url: URL): string {
  return getProxyForUrl(url.href);
}

/** The agent to pass to http(s).request for `url`: a proxy agent, or undefined for a direct connection. */
export function proxyAgent(url: URL): http.Agent | undefined {
  const proxy = proxyFor(url);
  if (!proxy) return undefined;
  const key = `${url.protocol}${proxy}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = url.protocol === 'https:' ? new HttpsProxyAgent(proxy) : new HttpProxyAgent(proxy);
    agents.set(key, agent);
  }
  return agent;
}
