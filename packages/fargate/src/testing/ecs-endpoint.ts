// An ECS endpoint for tests: no ECS emulator exists on npm or apt. It speaks the AWS JSON 1.1
// protocol on loopback (`POST /`, `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`,
// times as epoch seconds, errors as `{"__type": "...", "message": "..."}`) to the real
// `@aws-sdk/client-ecs`, for the calls Cairn makes: RunTask, DescribeTasks, StopTask. A task is
// real: its task definition's entrypoint runs from a root filesystem under bubblewrap, as the
// definition's user, with exactly the definition's environment plus the overrides (no host
// environment), and its lifecycle is reported as ECS reports it: PROVISIONING → PENDING → RUNNING
// → DEPROVISIONING → STOPPED with the container's exit code, a stop code and a stopped reason.
//
// One compromise, for tests only: the task shares the host's network namespace (`--share-net`),
// because the services it must reach (the test S3 server, the KMS and this endpoint) listen on the
// host's loopback; a Fargate task has its own network interface in the VPC instead. Everything else
// is unshared (pid, ipc, uts, user, cgroup). A container whose user is 0 runs as the host's root
// without a user namespace (one maps a single uid, and such a worker starts its runtime as another),
// so the endpoint runs it only when it runs as root itself; it gets the capabilities the
// definition's `capabilities` leave of Docker's default set. Test support, not a product.
import { randomBytes, createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECSClient } from '@aws-sdk/client-ecs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { accessDenied, EcsError } from './ecs-error.ts';
import { account, markStopped, region, type TestTask, type TestTaskDefinition } from './ecs-task.ts';
import { killGroup, signalContainer, startTaskContainer } from './ecs-task-container.ts';
import { describeTask } from './ecs-task-description.ts';

/** The operations the endpoint answers. */
export type EcsOperationName = 'RunTask' | 'DescribeTasks' | 'StopTask';

/** A fault to answer instead of the next calls of an operation (`*`: any). `reset`: the connection is cut before an answer. */
export type EcsInjectedFault = 'ThrottlingException' | 'ServerException' | 'AccessDeniedException' | 'reset';

/** One request as the endpoint received it: its operation and JSON body (the RunTask request as ECS would see it). */
export interface EcsRecordedRequest {
  readonly operation: string;
  readonly body: Record<string, unknown>;
  /** The raw body, exactly as it came over the wire. */
  readonly raw: string;
}

/** Options of `EcsTestEndpoint.start`. */
export interface EcsTestEndpointOptions {
  /** Task definitions by family (revision 1 each). */
  readonly taskDefinitions: Readonly<Record<string, TestTaskDefinition>>;
  /** Cluster names; `default` when not given. */
  readonly clusters?: readonly string[];
  /** How long a stopped container has between SIGTERM and SIGKILL (ECS's stopTimeout, 30 s there). */
  readonly stopTimeoutMs?: number;
  /** How long a task stays PROVISIONING and PENDING before its container starts. */
  readonly provisioningMs?: number;
  /** How long a task whose container exited stays DEPROVISIONING before it is STOPPED. */
  readonly deprovisioningMs?: number;
  /** The bubblewrap binary. */
  readonly bwrap?: string;
}

const targetPrefix = 'AmazonEC2ContainerServiceV20141113.';
const clientTokenLifetimeMs = 24 * 60 * 60 * 1_000;
const overridesLimitBytes = 8_192;

/** An ECS endpoint on 127.0.0.1 whose tasks run under bubblewrap, with faults, a request log and call counts. */
export class EcsTestEndpoint {
  readonly requests: EcsRecordedRequest[] = [];
  readonly #options: EcsTestEndpointOptions;
  readonly #clusters = new Map<string, string>();
  readonly #tasks = new Map<string, TestTask>();
  readonly #tokens = new Map<string, { fingerprint: string; taskArns: string[]; at: number }>();
  readonly #faults: { operation: string; fault: EcsInjectedFault; remaining: number }[] = [];
  readonly #runTaskFailures: { reason: string; remaining: number }[] = [];
  readonly #denied = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #server: Server;
  #url = '';

  private constructor(options: EcsTestEndpointOptions) {
    for (const [family, definition] of Object.entries(options.taskDefinitions)) {
      const refused = (definition.capabilities?.add ?? []).filter((name) => name !== 'SYS_PTRACE');
      if (refused.length > 0)
        throw new Error(
          `task definition ${family}: Fargate supports adding only the SYS_PTRACE capability, not ${refused.join(', ')}; drop the others by name instead`,
        );
    }
    this.#options = options;
    for (const name of options.clusters ?? ['default']) this.#clusters.set(name, `arn:aws:ecs:${region}:${account}:cluster/${name}`);
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  static async start(options: EcsTestEndpointOptions): Promise<EcsTestEndpoint> {
    const endpoint = new EcsTestEndpoint(options);
    await new Promise<void>((resolve) => endpoint.#server.listen(0, '127.0.0.1', resolve));
    endpoint.#url = `http://127.0.0.1:${(endpoint.#server.address() as AddressInfo).port}`;
    return endpoint;
  }

  /** `http://127.0.0.1:<port>`, for the `endpoint` setting. */
  get url(): string {
    return this.#url;
  }

  /** A client for this endpoint with test credentials and the SDK's retries off, as the executor builds its own. */
  client(): ECSClient {
    return new ECSClient({
      region,
      endpoint: this.#url,
      credentials: { accessKeyId: 'AKIDCAIRNTEST', secretAccessKey: 'cairn-test-secret' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true }),
    });
  }

  /** The ARN of a cluster by name. */
  clusterArn(name = 'default'): string {
    const arn = this.#clusters.get(name);
    if (!arn) throw new Error(`no test cluster ${name}`);
    return arn;
  }

  /** Answers the next `count` calls of `operation` (or any, `*`) with `fault` instead of serving them. */
  inject(operation: EcsOperationName | '*', fault: EcsInjectedFault, count = 1): void {
    this.#faults.push({ operation, fault, remaining: count });
  }

  /** The next `count` RunTask calls start nothing and answer 200 with `failures: [{ reason }]` (as ECS does for RESOURCE:ENI, AGENT, …). */
  failRunTask(reason: string, count = 1): void {
    this.#runTaskFailures.push({ reason, remaining: count });
  }

  /** Refuses an operation with AccessDeniedException, as an IAM policy without it would. */
  deny(operation: EcsOperationName): void {
    this.#denied.add(operation);
  }

  /** How many requests of an operation arrived (faulted ones included). */
  count(operation: EcsOperationName): number {
    return this.requests.filter((request) => request.operation === operation).length;
  }

  /** Every task, in the order they were started (what `aws ecs list-tasks` would see, stopped ones included). */
  tasks(): readonly TestTask[] {
    return [...this.#tasks.values()];
  }

  /** Forgets a task, as ECS forgets stopped tasks after about an hour: DescribeTasks then answers it MISSING. */
  forget(taskArn: string): void {
    const task = this.#tasks.get(taskArn);
    if (task && task.lastStatus !== 'STOPPED') throw new Error(`task ${taskArn} is ${task.lastStatus}: ECS forgets only stopped tasks`);
    this.#tasks.delete(taskArn);
  }

  /** Resolves once the task is STOPPED. */
  async waitForStopped(taskArn: string, timeoutMs = 30_000): Promise<TestTask> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const task = this.#tasks.get(taskArn);
      if (!task) throw new Error(`no task ${taskArn}`);
      if (task.lastStatus === 'STOPPED') return task;
      if (Date.now() > deadline) throw new Error(`task ${taskArn} is still ${task.lastStatus} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills every task still running and closes the endpoint. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    for (const task of this.#tasks.values()) {
      clearTimeout(task.killTimer);
      killGroup(task.process, 'SIGKILL');
    }
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
      response.end(text);
    };
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(targetPrefix) ? target.slice(targetPrefix.length) : '';
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown>;
    try {
      body = raw.length === 0 ? {} : (JSON.parse(raw) as Record<string, unknown>);
    } catch {
      reply(400, { __type: 'SerializationException', message: 'the request body is not JSON' });
      return;
    }
    this.requests.push({ operation, body, raw });
    try {
      if (request.method !== 'POST' || request.url !== '/') throw new EcsError('UnknownOperationException', 'POST / only');
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(String(request.headers['authorization'] ?? ''))) {
        throw new EcsError('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
      }
      if (!String(request.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
        throw new EcsError('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      }
      const fault = this.#faults.find((candidate) => candidate.remaining > 0 && (candidate.operation === '*' || candidate.operation === operation));
      if (fault) {
        fault.remaining -= 1;
        if (fault.fault === 'reset') {
          request.socket.destroy();
          return;
        }
        if (fault.fault === 'ThrottlingException') throw new EcsError('ThrottlingException', 'Rate exceeded');
        if (fault.fault === 'AccessDeniedException') throw accessDenied(operation);
        throw new EcsError('ServerException', 'Service Unavailable. Please try again later.', 500);
      }
      if (this.#denied.has(operation)) throw accessDenied(operation);
      reply(200, this.#serve(operation, body));
    } catch (error) {
      if (error instanceof EcsError) reply(error.status, { __type: error.type, message: error.message, ...error.extra });
      else reply(500, { __type: 'ServerException', message: (error as Error).message });
    }
  }

  #serve(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (operation) {
      case 'RunTask':
        return this.#runTask(body);
      case 'DescribeTasks':
        return this.#describeTasks(body);
      case 'StopTask':
        return this.#stopTask(body);
      default:
        throw new EcsError('UnknownOperationException', `the test endpoint does not serve "${operation}"`);
    }
  }

  #cluster(body: Record<string, unknown>): string {
    const name = body['cluster'] === undefined ? 'default' : String(body['cluster']);
    const byArn = [...this.#clusters.values()].find((arn) => arn === name);
    const arn = byArn ?? this.#clusters.get(name);
    if (!arn) throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
    return arn;
  }

  #runTask(body: Record<string, unknown>): Record<string, unknown> {
    const clusterArn = this.#cluster(body);
    const reference = body['taskDefinition'];
    if (typeof reference !== 'string' || reference.length === 0) throw new EcsError('InvalidParameterException', 'TaskDefinition can not be blank.');
    const family = /^(?:arn:aws:ecs:[^:]+:\d+:task-definition\/)?([A-Za-z0-9_-]+)(?::1)?$/.exec(reference)?.[1];
    const definition = family === undefined ? undefined : this.#options.taskDefinitions[family];
    if (family === undefined || !definition) throw new EcsError('InvalidParameterException', 'TaskDefinition not found.');
    if (body['launchType'] !== undefined && body['capacityProviderStrategy'] !== undefined) {
      throw new EcsError('InvalidParameterException', 'Specifying both a launch type and capacity provider strategy is not supported.');
    }
    if (body['launchType'] !== undefined && body['launchType'] !== 'FARGATE') {
      throw new EcsError('InvalidParameterException', `Task definition does not support launch_type ${String(body['launchType'])}.`);
    }
    const network = (body['networkConfiguration'] as { awsvpcConfiguration?: { subnets?: unknown; assignPublicIp?: unknown } } | undefined)
      ?.awsvpcConfiguration;
    if (!network) throw new EcsError('InvalidParameterException', "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
    if (!Array.isArray(network.subnets) || network.subnets.length === 0) throw new EcsError('InvalidParameterException', 'subnets can not be empty.');
    if (network.assignPublicIp !== undefined && network.assignPublicIp !== 'ENABLED' && network.assignPublicIp !== 'DISABLED') {
      throw new EcsError('InvalidParameterException', 'assignPublicIp must be ENABLED or DISABLED.');
    }
    const count = body['count'] === undefined ? 1 : body['count'];
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 10)
      throw new EcsError('InvalidParameterException', 'count must be between 1 and 10.');
    const containerName = definition.containerName ?? 'cairn-worker';
    const overrides = (body['overrides'] ?? {}) as { containerOverrides?: { name?: string; environment?: { name?: string; value?: string }[] }[] };
    if (Buffer.byteLength(JSON.stringify(overrides)) > overridesLimitBytes) {
      throw new EcsError('InvalidParameterException', `Container Overrides length must be at most ${overridesLimitBytes}`);
    }
    for (const override of overrides.containerOverrides ?? []) {
      if (override.name !== containerName) {
        throw new EcsError('InvalidParameterException', `Override for container named ${String(override.name)} is not a container in the TaskDefinition.`);
      }
    }
    const token = body['clientToken'];
    if (token !== undefined && (typeof token !== 'string' || token.length > 64 || !/^[\x21-\x7e]+$/.test(token))) {
      throw new EcsError('InvalidParameterException', 'clientToken must be at most 64 printable ASCII characters.');
    }
    const { clientToken: _token, ...parameters } = body;
    const fingerprint = createHash('sha256').update(canonical(parameters)).digest('hex');
    if (typeof token === 'string') {
      const known = this.#tokens.get(`${clusterArn}\u0000${token}`);
      if (known && Date.now() - known.at < clientTokenLifetimeMs) {
        if (known.fingerprint !== fingerprint) {
          throw new EcsError('ConflictException', 'The specified client token has already been used in a RunTask request with different parameters.', 400, {
            resourceIds: known.taskArns,
          });
        }
        const tasks = known.taskArns.map((arn) => this.#tasks.get(arn)).filter((task): task is TestTask => task !== undefined);
        return { tasks: tasks.map((task) => this.#describe(task)), failures: [] };
      }
    }
    const failure = this.#runTaskFailures.find((candidate) => candidate.remaining > 0);
    if (failure) {
      failure.remaining -= 1;
      return { tasks: [], failures: [{ reason: failure.reason, detail: 'injected by the test endpoint' }] };
    }
    const environment: Record<string, string> = { ...(definition.environment ?? {}) };
    for (const override of overrides.containerOverrides ?? []) {
      for (const pair of override.environment ?? []) if (pair.name) environment[pair.name] = pair.value ?? '';
    }
    const clusterName = clusterArn.slice(clusterArn.lastIndexOf('/') + 1);
    const created: TestTask[] = [];
    for (let index = 0; index < count; index++) {
      const task: TestTask = {
        taskArn: `arn:aws:ecs:${region}:${account}:task/${clusterName}/${randomBytes(16).toString('hex')}`,
        clusterArn,
        family,
        environment,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        containerStarted: false,
        output: '',
        createdAt: Date.now(),
        request: body,
      };
      this.#tasks.set(task.taskArn, task);
      created.push(task);
      this.#provision(task, definition);
    }
    if (typeof token === 'string')
      this.#tokens.set(`${clusterArn}\u0000${token}`, { fingerprint, taskArns: created.map((task) => task.taskArn), at: Date.now() });
    return { tasks: created.map((task) => this.#describe(task)), failures: [] };
  }

  #provision(task: TestTask, definition: TestTaskDefinition): void {
    const provisioningMs = this.#options.provisioningMs ?? 20;
    this.#after(provisioningMs, () => {
      if (task.desiredStatus === 'STOPPED') return;
      task.lastStatus = 'PENDING';
      this.#after(provisioningMs, () => {
        if (task.desiredStatus === 'STOPPED') return;
        startTaskContainer(task, definition, {
          bwrap: this.#options.bwrap ?? '/usr/bin/bwrap',
          deprovisioningMs: this.#options.deprovisioningMs ?? 20,
          after: (milliseconds, action) => this.#after(milliseconds, action),
        });
      });
    });
  }

  #after(milliseconds: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, milliseconds);
    this.#timers.add(timer);
  }

  #describeTasks(body: Record<string, unknown>): Record<string, unknown> {
    const clusterArn = this.#cluster(body);
    const references = body['tasks'];
    if (!Array.isArray(references) || references.length === 0) throw new EcsError('InvalidParameterException', 'Tasks cannot be empty.');
    if (references.length > 100) throw new EcsError('InvalidParameterException', 'Tasks cannot be longer than 100.');
    const tasks: Record<string, unknown>[] = [];
    const failures: Record<string, unknown>[] = [];
    for (const reference of references) {
      const task = this.#find(clusterArn, String(reference));
      if (task) tasks.push(this.#describe(task));
      else failures.push({ arn: String(reference), reason: 'MISSING' });
    }
    return { tasks, failures };
  }

  #stopTask(body: Record<string, unknown>): Record<string, unknown> {
    const clusterArn = this.#cluster(body);
    const reference = body['task'];
    if (typeof reference !== 'string' || reference.length === 0) throw new EcsError('InvalidParameterException', 'Task can not be blank.');
    const task = this.#find(clusterArn, reference);
    if (!task) throw new EcsError('InvalidParameterException', 'The referenced task was not found.');
    const reason = typeof body['reason'] === 'string' ? body['reason'] : 'Task stopped by user';
    if (reason.length > 255) throw new EcsError('InvalidParameterException', 'Reason must be at most 255 characters.');
    if (task.desiredStatus === 'RUNNING') {
      task.desiredStatus = 'STOPPED';
      task.stoppingAt = Date.now();
      task.stopCode = 'UserInitiated';
      task.stoppedReason = reason;
      if (!task.process) {
        // Not started yet: it never will be.
        markStopped(task, { stopCode: 'UserInitiated', stoppedReason: reason });
      } else if (task.exitCode === undefined) {
        signalContainer(task.process, 'SIGTERM');
        task.killTimer = setTimeout(() => killGroup(task.process, 'SIGKILL'), this.#options.stopTimeoutMs ?? 2_000);
      }
    }
    return { task: this.#describe(task) };
  }

  #find(clusterArn: string, reference: string): TestTask | undefined {
    const task = this.#tasks.get(reference) ?? [...this.#tasks.values()].find((candidate) => candidate.taskArn.endsWith(`/${reference}`));
    return task && task.clusterArn === clusterArn ? task : undefined;
  }

  #describe(task: TestTask): Record<string, unknown> {
    return describeTask(task, this.#options.taskDefinitions[task.family]!);
  }
}

/** JSON with sorted keys: two requests with the same parameters in another order are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
