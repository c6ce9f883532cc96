export { accessLogLimits, type SluiceServer, startServer } from "./server.ts";
