// The rooms of src/ (DESIGN §3): what each is for and which other rooms it may import. One table,
// read by the lint rule that enforces it (eslint.config.js) and by docs/architecture.md (checked by
// test/docs/architecture.test.ts). `(root)` is the composition roots and small shared files
// directly in src/ (server.ts, gateway-server.ts, home.ts, …), which may import any room.
export const ROOMS = [
  {
    room: 'domain',
    job: 'core types, ids, the deployment state machine, the error catalogue, the Clock',
    mayImport: [],
  },
  {
    room: 'config',
    job: 'config.yaml (Truss-compatible) and the server settings: schema, parsing, defaults',
    mayImport: ['domain'],
  },
  {
    room: 'bundle',
    job: 'packing, hashing, safe extraction, patches, the content-addressed artifact store',
    mayImport: ['domain'],
  },
  {
    room: 'store',
    job: 'persistence behind one interface; SQLite and PostgreSQL; a module per table; migrations',
    mayImport: ['domain'],
  },
  {
    room: 'secrets',
    job: 'secrets encrypted at rest, resolved for replicas, masked in output',
    mayImport: ['domain', 'store'],
  },
  {
    room: 'runtime',
    job: 'the RuntimeBackend seam: local processes and Kubernetes pods; placement, limits, adoption',
    mayImport: ['domain', 'bundle'],
  },
  {
    room: 'replica',
    job: 'the model servers that run inside a replica (Node and Python)',
    mayImport: ['domain', 'runtime'],
  },
  {
    room: 'observability',
    job: 'Prometheus metrics, metric series, the log sink, telemetry sampling',
    mayImport: ['domain', 'store', 'runtime'],
  },
  {
    room: 'builder',
    job: 'preparing environments (venv, npm) and their cache; the build loop',
    mayImport: ['domain', 'config', 'store', 'observability'],
  },
  {
    room: 'weights',
    job: 'weights and data (hub, https, local) downloaded at build into one shared content-addressed cache',
    mayImport: ['domain', 'config', 'builder'],
  },
  {
    room: 'gateway',
    job: 'the data plane: routing, activator (queue and slots), load balancing, proxy',
    mayImport: ['domain', 'store'],
  },
  {
    room: 'autoscaler',
    job: 'the pure scaling policy, concurrency windows, the tick driver',
    mayImport: ['domain', 'store', 'observability'],
  },
  {
    room: 'reconciler',
    job: 'replica plans, lifecycle commands, live reload, promotions, stopping replicas',
    mayImport: ['domain', 'config', 'bundle', 'store', 'runtime', 'builder', 'weights', 'observability'],
  },
  {
    room: 'queue',
    job: "async requests: the durable queue's workers and webhook delivery",
    mayImport: ['domain', 'store', 'secrets', 'observability'],
  },
  {
    room: 'api',
    job: 'the management REST API, authentication, the OpenAPI document, the dashboard routes',
    mayImport: [
      'domain',
      'config',
      'bundle',
      'store',
      'secrets',
      'runtime',
      'observability',
      'builder',
      'weights',
      'gateway',
      'reconciler',
      'queue',
    ],
  },
  {
    room: 'workers',
    job: 'gateway worker processes sharing the listening port (--gateway-workers): forking, handing over the socket, supervising, passing the rest to the primary',
    mayImport: ['domain', 'config', 'observability'],
  },
  {
    room: 'cli',
    job: 'the `plinth` command; a typed API client; starts the composition roots',
    mayImport: ['domain', 'config', 'bundle', 'weights', '(root)'],
  },
];
