// Fixed bounds of reference A's entries (the configurable ones are ServiceLogLimits). Labels,
// service names and levels are identifiers, not payload: these bounds keep keys and label sets small.
// Every length here is counted in UTF-16 code units (JavaScript's string length), as the general path
// sees the parsed entry; the fast path (service-logs-scan.ts) compares the raw bytes between the
// quotes, which are never fewer, and leaves anything over a bound to the general path.

export const serviceCharsMax = 256;
// The log stores timestamps exactly up to ±2^51 ms (src/log/FORMAT.md), about the year 71,000.
export const timestampMsMax = 2 ** 51;
export const levelCharsMax = 64;

// An entry's stream labels are `service`, `level` (when it has one) and each of its `labels`
// (src/model/README.md). Every distinct label set is a stream that the index tracks and that
// /loki/api/v1/series lists, so the set is bounded as Loki bounds a series: its defaults are
// max_label_names_per_series 15, max_label_name_length 1024 and max_label_value_length 2048
// (pkg/validation/limits.go). Grafana and Loki's tooling are built against those numbers. The count
// is of the entry as sent — service, level if present, every label — before names are sanitised
// (which can only merge names), so a client can check it without knowing the mapping.
export const streamLabelsMax = 15;
export const labelNameCharsMax = 1024;
export const labelValueCharsMax = 2048;
