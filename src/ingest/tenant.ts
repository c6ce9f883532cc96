// The tenant of a request, from its X-Scope-OrgID header (HTTP) or `x-scope-orgid` metadata (gRPC):
// one rule for every transport, so a tenant id means the same wherever it arrives.

import { IngestError, rejectReasons } from "./errors.ts";

export const defaultTenant = "fake"; // Loki's tenant when none is sent, so Loki clients see the same data
const tenantCharsMax = 150;
const tenantPattern = /^[A-Za-z0-9!\-_.*'()]+$/;

/** The tenant a header value names (absent or empty: defaultTenant); throws IngestError(invalid_header). */
export function tenantOfHeader(header: string | readonly string[] | undefined): string {
  if (header === undefined || header === "" || header.length === 0) return defaultTenant;
  const tenant = typeof header === "string" ? header : header[0];
  if (tenant.length > tenantCharsMax || !tenantPattern.test(tenant) || tenant === "." || tenant === "..") {
    throw new IngestError(
      rejectReasons.invalidHeader,
      `invalid X-Scope-OrgID: up to ${tenantCharsMax} characters of A-Z a-z 0-9 ! - _ . * ' ( )`,
    );
  }
  return tenant;
}
