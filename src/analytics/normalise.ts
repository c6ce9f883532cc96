// Normalisation of access-log entries for the per-minute aggregates (reference B): the path key is
// METHOD + " " + path; the user-agent key is the browser, bot or tool family, falling back to the
// first product token. Families come from bowser (MIT), with its names mapped to the short names the
// reference reports; bots and tools bowser does not name fall back to their product token.

import Bowser from "bowser";

/** bowser's names where the reference's differ. */
const familyNames: Record<string, string> = {
  "Microsoft Edge": "Edge",
  BingCrawler: "bingbot",
  "Internet Explorer": "IE",
};

/** Families are per entry on the hot path; user agents repeat heavily, so a bounded cache pays. */
const cacheEntriesMax = 10_000;
const cache = new Map<string, string>();

export function pathKey(method: string, path: string): string {
  return `${method} ${path}`;
}

/** "Chrome", "Firefox", "Safari", "Edge", "Googlebot", "bingbot", "curl", … or the first product token. */
export function userAgentFamily(userAgent: string): string {
  const cached = cache.get(userAgent);
  if (cached !== undefined) return cached;
  const family = familyOf(userAgent);
  if (cache.size >= cacheEntriesMax) cache.clear();
  cache.set(userAgent, family);
  return family;
}

function familyOf(userAgent: string): string {
  const token = firstProductToken(userAgent);
  // A product that is not Mozilla/… names itself: curl/8.5.0, python-requests/2.31, Wget/1.21, test.
  if (token !== "" && token !== "Mozilla") return token;
  const name = Bowser.getParser(userAgent).getBrowserName();
  if (name && name !== "Mozilla") return familyNames[name] ?? name; // bowser's "Mozilla" means unknown
  // "Mozilla/5.0 (compatible; SomeBot/1.0; …)": the bot's own token inside the comment.
  const compatible = /\(compatible;\s*([A-Za-z][\w.-]*)/.exec(userAgent);
  if (compatible) return compatible[1];
  return token || userAgent.trim() || "unknown";
}

/** "SomeUnknownUserAgent/1.0" → "SomeUnknownUserAgent", "test" → "test". */
export function firstProductToken(userAgent: string): string {
  const match = /^\s*([^\s/()]+)/.exec(userAgent);
  return match ? match[1] : "";
}
