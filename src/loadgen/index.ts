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
export {
  referenceScenario,
  type Scenario,
  type ScenarioBatch,
  scenarioCustomerId,
  scenarioPaths,
  scenarioUserAgents,
} from "./scenario.ts";
