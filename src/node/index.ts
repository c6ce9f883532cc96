// Public surface of the node: the composition root every transport is built on.
export {
  type AnalyticsParts,
  accessLogLimits,
  createNode,
  RecoveryStoppedError,
  SluiceNode,
} from "./node.ts";
export type { NodeStatus } from "./status.ts";
