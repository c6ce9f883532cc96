export {
  type GeneratorOptions,
  levels,
  type ServiceLog,
  ServiceLogGenerator,
  seededRandom,
  services,
  storedRecordsFor,
} from "./generator.ts";
