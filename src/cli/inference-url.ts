// The inference URL of a model's target as the CLI's flags name it (--deployment, --development,
// --environment; production by default), in the path form, which needs no DNS.

export interface TargetFlags {
  deployment?: string;
  environment?: string;
  development?: boolean;
}

export function inferenceBase(serverUrl: string, model: string, flags: TargetFlags): string {
  const target = flags.deployment
    ? `deployment/${encodeURIComponent(flags.deployment)}`
    : flags.development
      ? 'development'
      : `environments/${encodeURIComponent(flags.environment ?? 'production')}`;
  return `${serverUrl}/models/${encodeURIComponent(model)}/${target}`;
}
