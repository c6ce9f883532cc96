// Public surface of the analytics stage (issue 6: so far only normalisation).
export { firstProductToken, minuteStartMs, pathKey, userAgentFamily } from "./normalise.ts";
