export { dataLayout, type Topic, topics } from "./layout.ts";
export { envName, type OptionSpec, type ServeConfig, serveOptions } from "./options.ts";
export { ConfigError, helpText, resolveConfig } from "./parse.ts";
