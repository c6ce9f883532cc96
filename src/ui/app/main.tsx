// The Sluice web UI: Explore (LogQL search, volume, live tail), Analytics (reference B's
// aggregates) and Status. One page app served by the Sluice process itself (src/http/ui-routes.ts).

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Analytics } from "./analytics.tsx";
import { currentTenant, setTenant } from "./api.ts";
import { Explore } from "./explore.tsx";
import { Status } from "./status.tsx";
import "./styles.css";
import { navigate, type Page, useLocation } from "./url-state.ts";

const themeStorageKey = "sluice.theme";

function applyTheme(theme: string): void {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function App() {
  const { page, params } = useLocation();
  const [theme, setTheme] = useState(localStorage.getItem(themeStorageKey) ?? "auto");
  const [tenant, setTenantDraft] = useState(currentTenant());
  useEffect(() => applyTheme(theme), [theme]);
  const pages: [Page, string][] = [
    ["explore", "Explore"],
    ["analytics", "Analytics"],
    ["status", "Status"],
  ];
  return (
    <>
      <header class="top">
        <span class="brand">Sluice</span>
        <nav>
          {pages.map(([id, title]) => (
            <a
              href={`/${id}`}
              class={page === id ? "active" : ""}
              aria-current={page === id ? "page" : undefined}
              data-testid={`nav-${id}`}
              onClick={(event) => {
                event.preventDefault();
                navigate(`/${id}`, {});
              }}
            >
              {title}
            </a>
          ))}
        </nav>
        <form
          class="tenant"
          onSubmit={(event) => {
            event.preventDefault();
            setTenant(tenant.trim());
            location.reload();
          }}
        >
          <label>
            Tenant
            <input
              value={tenant}
              placeholder="fake"
              aria-label="tenant (X-Scope-OrgID)"
              onInput={(event) => setTenantDraft((event.currentTarget as HTMLInputElement).value)}
            />
          </label>
        </form>
        <select
          aria-label="theme"
          value={theme}
          onChange={(event) => {
            const next = (event.currentTarget as HTMLSelectElement).value;
            localStorage.setItem(themeStorageKey, next);
            setTheme(next);
          }}
        >
          <option value="auto">Auto theme</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </header>
      <main>
        {page === "explore" && <Explore params={params} />}
        {page === "analytics" && <Analytics params={params} />}
        {page === "status" && <Status />}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
