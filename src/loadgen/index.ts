export {
  type AccessLogEntry,
  AccessLogGenerator,
  type GeneratorOptions,
  levels,
  type ServiceLog,
  ServiceLogGenerator,
  seededRandom,
  services,
  storedRecordsFor,
} from "./generator.ts";
export {
  defaultPaths,
  formatSummary,
  type LoadFormat,
  type LoadOptions,
  type LoadSummary,
  loadFormats,
  percentile,
  runLoad,
} from "./run.ts";
