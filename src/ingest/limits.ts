// Fixed bounds of reference A's entries (the configurable ones are ServiceLogLimits). Labels,
// service names and levels are identifiers, not payload: these bounds keep keys and label sets small.

export const serviceCharsMax = 256;
// The log stores timestamps exactly up to ±2^51 ms (src/log/FORMAT.md), about the year 71,000.
export const timestampMsMax = 2 ** 51;
export const levelCharsMax = 64;
export const labelNameCharsMax = 1024;
export const labelValueCharsMax = 4096;
