export { type SluiceServer, startServer } from "./server.ts";
