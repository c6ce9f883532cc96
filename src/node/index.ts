// Public surface of the node: the composition root every transport is built on.
export {
  type AnalyticsParts,
  accessLogLimits,
  createNode,
  type NodeStatus,
  RecoveryStoppedError,
  SluiceNode,
} from "./node.ts";
