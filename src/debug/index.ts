export { lifecycleLiveView, type LiveViewOptions } from './live-view-plugin.ts'
export { lifecycleFrame, type LifecycleFrame } from './lifecycle-frame.ts'
export { machineGraph, type MachineGraph, type GraphState, type GraphTransition } from './machine-graph.ts'
export { redactQuerySecrets, redactUrl } from '../redact-secrets.ts'
