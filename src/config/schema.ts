// The config.yaml schema: Truss-compatible keys plus Plinth's own (`language`, `autoscaling`).
// One zod schema is the source of truth for parsing, defaults and the exported JSON Schema.
import { z } from 'zod';
import { MAX_MODEL_NAME_LENGTH } from '../domain/model-name.ts';

/** A Debian package name, optionally `:arch` and `=version` (what `system_packages` may list). */
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;

const quantity = z.union([z.string(), z.number()]).transform((v) => String(v));

export const resourcesSchema = z.strictObject({
  cpu: quantity.optional().describe('CPU cores: "500m", "1", "2".'),
  memory: quantity.optional().describe('Memory: "512Mi", "2Gi".'),
  accelerator: z
    .string()
    .regex(/^[A-Za-z0-9_]+(:[1-9][0-9]*)?$/, 'expected an accelerator like "L4" or "H100:2"')
    .nullable()
    .optional()
    .describe('GPU kind and count: "L4", "H100:2".'),
  use_gpu: z.boolean().optional().describe('Truss: whether the model needs a GPU.'),
  instance_type: z
    .string()
    .optional()
    .describe('A named instance type; overrides cpu, memory and accelerator.'),
});

const seconds = z.number().int().min(0).max(86_400);

export const healthChecksSchema = z.strictObject({
  startup_threshold_seconds: seconds
    .min(1)
    .optional()
    .describe(
      "How long a replica may take to be ready (its load(), a custom server's readiness endpoint; default 1800).",
    ),
  restart_check_delay_seconds: seconds
    .optional()
    .describe('Seconds after ready before failing health can restart the replica (default 0).'),
  stop_traffic_threshold_seconds: seconds
    .min(1)
    .optional()
    .describe(
      "Failing health (is_healthy(), a custom server's liveness) this long takes the replica out of routing (default 60).",
    ),
  restart_threshold_seconds: seconds
    .min(1)
    .optional()
    .describe('Failing health this long replaces the replica (default 300).'),
});

const endpoint = z.string().regex(/^\//, 'expected a path starting with "/"');

export const dockerServerSchema = z.strictObject({
  start_command: z
    .string()
    .min(1)
    .describe('Run through `sh -c` in the model directory; `$PORT` is its port.'),
  server_port: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .describe('Where the server listens (unless its command takes $PORT).'),
  predict_endpoint: endpoint.describe('The route `…/predict` calls.'),
  readiness_endpoint: endpoint.describe('Ready once this answers 2xx.'),
  liveness_endpoint: endpoint.describe(
    'Polled after ready; failing takes the replica out, then replaces it.',
  ),
  run_as_user_id: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Truss: the user in its image; Plinth picks the user.'),
  no_build: z.boolean().optional().describe('Truss: use the image as it is.'),
});

const pingSeconds = z.number().positive().max(3600).nullable().optional();

/**
 * Truss's `runtime.transport`: `{kind: http}` (the default) or `{kind: websocket,
 * ping_interval_seconds, ping_timeout_seconds}` for a model served at `…/websocket` (a bare
 * `http` / `websocket` is read as that kind). gRPC is not served.
 */
export const transportSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { kind: v } : v),
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('http') }),
      z.strictObject({
        kind: z.literal('websocket'),
        ping_interval_seconds: pingSeconds.describe(
          "Seconds between the model server's pings on an open WebSocket (default 20).",
        ),
        ping_timeout_seconds: pingSeconds.describe(
          'Seconds a ping may go unanswered before the connection is closed (default 20).',
        ),
      }),
    ],
    { error: 'expected kind "http" or "websocket" (Plinth serves no gRPC transport)' },
  ),
);

export const runtimeSchema = z.strictObject({
  predict_concurrency: z
    .number()
    .int()
    .min(1)
    .max(100000)
    .default(1)
    .describe('Most requests inside one replica at once.'),
  streaming_read_timeout: z.number().int().min(1).default(60).describe('Seconds a streaming read may idle.'),
  health_checks: healthChecksSchema.optional(),
  transport: transportSchema.optional().describe('http (default) or websocket, with its ping settings.'),
});

const SCALE_DOWN_RATE = 'expected a whole percent from 1 to 50, or null for no limit';

export const autoscalingSchema = z.strictObject({
  min_replica: z.number().int().min(0).optional(),
  max_replica: z.number().int().min(1).optional(),
  concurrency_target: z.number().int().min(1).optional(),
  target_utilization_percentage: z.number().int().min(1).max(100).optional(),
  autoscaling_window: z.number().int().min(1).max(3600).optional(),
  scale_down_delay: z.number().int().min(0).max(3600).optional(),
  max_scale_down_rate: z
    .number({ error: SCALE_DOWN_RATE })
    .int({ error: SCALE_DOWN_RATE })
    .min(1, { error: SCALE_DOWN_RATE })
    .max(50, { error: SCALE_DOWN_RATE })
    .nullable()
    .optional()
    .describe('Most percent of the replicas removed per autoscaling window; null: no limit.'),
});

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

// Weights and data downloaded at build time into the shared cache (src/weights/).
const filePatterns = z.array(z.string()).optional();

export const weightsItemSchema = z.strictObject({
  source: z.string().min(1).describe('hf://org/repo@revision, https://…, or a local path on the server.'),
  mount_location: z
    .string()
    .min(1)
    .describe('Where the files appear: under /app it is relative to the app dir.'),
  allow_patterns: filePatterns.describe('Only files matching one of these (fnmatch) patterns.'),
  ignore_patterns: filePatterns.describe('No file matching one of these patterns.'),
  // Truss's cloud identities (aws_oidc_role_arn, gcp_oidc_service_account, …) are read past: their
  // sources (s3://, gs://) are refused by name at push.
  auth: z
    .looseObject({ auth_method: z.string().optional(), auth_secret_name: z.string().optional() })
    .optional()
    .describe('The secret whose value is sent as a Bearer token (default hf_access_token for hf://).'),
});

export const modelCacheItemSchema = z.strictObject({
  repo_id: z.string().min(1),
  revision: z.string().min(1).optional().describe('A branch, tag or commit (default main).'),
  allow_patterns: filePatterns,
  ignore_patterns: filePatterns,
  volume_folder: z
    .string()
    .min(1)
    .optional()
    .describe('With use_volume: files appear at model_cache/{volume_folder}.'),
  use_volume: z.boolean().optional().describe('Without it, files go to a Hugging Face cache (HF_HUB_CACHE).'),
  kind: z.string().optional().describe('Only "hf" is fetched.'),
  runtime_secret_name: z
    .string()
    .optional()
    .describe('The secret holding the hub token (default hf_access_token).'),
});

export const configSchema = z.strictObject({
  // Checked where the name is chosen (the CLI's --model-name may stand in for it), not here.
  model_name: z
    .string()
    .max(4096)
    .optional()
    .describe(
      `The model this directory deploys: any text up to ${MAX_MODEL_NAME_LENGTH} characters; the directory's name when absent or null.`,
    ),
  description: z.string().optional(),
  model_metadata: z.record(z.string(), z.unknown()).default({}),
  language: z.enum(['python', 'typescript']).optional().describe('Inferred from the model file when absent.'),
  python_version: z
    .string()
    .regex(/^py3[0-9]{1,2}$/, 'expected a Python version like "py311"')
    .default('py311'),
  requirements: z.array(z.string()).default([]),
  requirements_file: z
    .string()
    .min(1)
    .optional()
    .describe(
      'requirements.txt, pyproject.toml ([project].dependencies) or uv.lock (needs uv); not with requirements.',
    ),
  build_commands: z
    .array(z.string().min(1).max(16_384))
    .max(200)
    .default([])
    .describe('Shell commands run once per environment at build, the venv active; cached with it.'),
  system_packages: z
    .array(
      z.string().max(200).regex(DEBIAN_PACKAGE, 'expected a Debian package name like "ffmpeg" or "libgl1"'),
    )
    .max(1000)
    .default([])
    .describe('Checked at build (dpkg); Plinth installs none: missing ones are named in a warning.'),
  environment_variables: z.record(z.string(), scalar).default({}),
  secrets: z.record(z.string(), z.union([z.string(), z.null()])).default({}),
  data_dir: z.string().default('data'),
  external_data: z
    .array(
      z.strictObject({
        url: z.string(),
        local_data_path: z.string(),
        backend: z.string().optional(),
        name: z.string().optional(),
      }),
    )
    .default([]),
  weights: z.array(weightsItemSchema).default([]),
  model_cache: z
    .array(modelCacheItemSchema)
    .default([])
    .describe('Truss model_cache (hf_cache is read as it).'),
  model_module_dir: z.string().default('model'),
  model_class_filename: z.string().optional().describe('Default model.py (Python) or model.ts/.js/.mjs.'),
  model_class_name: z.string().default('Model'),
  bundled_packages_dir: z.string().default('packages'),
  external_package_dirs: z.array(z.string()).default([]),
  resources: resourcesSchema.default({}),
  runtime: runtimeSchema.default({ predict_concurrency: 1, streaming_read_timeout: 60 }),
  autoscaling: autoscalingSchema.optional().describe('Initial autoscaling settings of the first deployment.'),
  base_image: z
    .strictObject({
      image: z.string().min(1),
      python_executable_path: z.string().optional(),
      docker_auth: z.record(z.string(), z.unknown()).optional(),
    })
    .optional()
    .describe("The image a custom server's pods run on Kubernetes."),
  docker_server: dockerServerSchema
    .optional()
    .describe('A custom server (vLLM, SGLang, a FastAPI app) that replicas run instead of a model class.'),
});

export type ModelConfig = z.output<typeof configSchema>;

/**
 * Truss keys that ask for what cannot run here: a config with one is refused, with the reason.
 * Baseten's TensorRT-LLM engines (Briton, BEI, the Baseten Inference Stack) are proprietary builds.
 */
export const REFUSED_TRUSS_KEYS: Readonly<Record<string, string>> = {
  trt_llm:
    "asks for Baseten's proprietary TensorRT-LLM engine (Briton/BEI), which Plinth cannot run: serve the model with an open engine through docker_server (for example vLLM: `start_command: vllm serve <model> --port $PORT`, `predict_endpoint: /v1/chat/completions`)",
  bis_llm:
    "asks for the Baseten Inference Stack's proprietary engine, which Plinth cannot run: serve the model with an open engine through docker_server (for example vLLM: `start_command: vllm serve <model> --port $PORT`, `predict_endpoint: /v1/chat/completions`)",
};

/**
 * Truss keys that Plinth accepts but does not act on, each with the reason shown to the user.
 * Keyed by dotted path so nested Truss keys are covered too.
 */
export const IGNORED_TRUSS_KEYS: Readonly<Record<string, string>> = {
  docker_auth: 'Plinth does not pull images',
  build: 'Truss build options do not apply to Plinth',
  live_reload: 'use `plinth push --watch` for live reload',
  apply_library_patches: 'Plinth applies no library patches',
  spec_version: 'Plinth reads every Truss spec version the same way',
  model_framework: 'Plinth does not need the framework name',
  model_type: 'Plinth does not need the model type',
  examples_filename: 'examples are not read by Plinth',
  input_type: 'Plinth does not need the input type',
  training_checkpoints: 'training checkpoints are not supported',
  cache_internal: 'internal caches are not supported',
  use_local_src: 'Plinth always deploys the directory you push',
  'runtime.enable_tracing_data': 'tracing is not supported yet',
  'runtime.enable_debug_logs': 'use `plinth logs --level DEBUG` instead',
  'runtime.is_websocket_endpoint':
    'Truss infers it from runtime.transport.kind; a model with a websocket() method is served at …/websocket',
  'runtime.truss_server_version_override': 'Plinth runs its own model server',
  'resources.node_count': 'multi-node replicas are not supported',
};
