// Test support, published so integrators can test ECS-backed code the way Cairn tests its own: an
// ECS endpoint on loopback that speaks the AWS JSON 1.1 protocol to the real SDK client and runs
// each task's entrypoint from a root filesystem under bubblewrap, with injectable faults; and a
// stand-in root filesystem for the worker image (the host's programs and the built cairn-worker).
export { EcsTestEndpoint } from './ecs-endpoint.ts';
export type { EcsInjectedFault, EcsOperationName, EcsRecordedRequest, EcsTestEndpointOptions } from './ecs-endpoint.ts';
export type { TestTask, TestTaskDefinition } from './ecs-task.ts';
export { workerTestRootfs } from './worker-test-rootfs.ts';
export type { WorkerTestRootfs } from './worker-test-rootfs.ts';
