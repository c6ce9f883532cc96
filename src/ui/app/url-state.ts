// The view lives in the URL (path = page, query string = its state), so a link shares exactly what
// is on screen and the back button works.

import { useEffect, useState } from "preact/hooks";

export type Page = "explore" | "analytics" | "status";

export function pageOf(pathname: string): Page {
  if (pathname.startsWith("/analytics")) return "analytics";
  if (pathname.startsWith("/status")) return "status";
  return "explore";
}

export function useLocation(): { page: Page; params: URLSearchParams } {
  const [href, setHref] = useState(location.href);
  useEffect(() => {
    const update = () => setHref(location.href);
    addEventListener("popstate", update);
    addEventListener("sluice:navigate", update);
    return () => {
      removeEventListener("popstate", update);
      removeEventListener("sluice:navigate", update);
    };
  }, []);
  const url = new URL(href);
  return { page: pageOf(url.pathname), params: url.searchParams };
}

/** Moves to a page and state; `replace` edits the current history entry instead of adding one. */
export function navigate(pathname: string, params: Record<string, string>, replace = false): void {
  const search = new URLSearchParams(params).toString();
  const next = `${pathname}${search === "" ? "" : `?${search}`}`;
  if (next === `${location.pathname}${location.search}`) return;
  if (replace) history.replaceState(null, "", next);
  else history.pushState(null, "", next);
  dispatchEvent(new Event("sluice:navigate"));
}
