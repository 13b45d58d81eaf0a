// A model class whose config names a `base_image` (Truss): its pods run that image, with the image's
// own Python (`base_image.python_executable_path`, else `python3`) serving the model through Plinth's
// model server, which the init container copies in (it is standard library only). The deployment's
// prepared environment goes at the front of the import path, so its pins win over the image's
// packages; it was built for config.yaml's `python_version`, which the image's Python must match.
import type { V1Container } from '@kubernetes/client-node';
import type { ReplicaSpec } from '../backend.ts';

/** Where the init container puts the model server's files, in both containers. */
export const MODEL_SERVER_PATH = '/plinth/model-server';
export const MODEL_SERVER_VOLUME = 'model-server';

export interface BaseImage {
  image: string;
  python: string;
}

/** The base image a model-class deployment asks for; null for none or for a custom server. */
export function baseImageOf(spec: ReplicaSpec): BaseImage | null {
  if (spec.server || spec.language !== 'python') return null;
  const base = (spec.config as { base_image?: { image?: string; python_executable_path?: string } })
    .base_image;
  if (!base?.image) return null;
  return { image: base.image, python: base.python_executable_path || 'python3' };
}

/** The model container on the base image, from the one Plinth's Python image would run. */
export function modelOnBaseImage(container: V1Container, base: BaseImage): V1Container {
  return {
    ...container,
    image: base.image,
    command: [base.python, '-u', `${MODEL_SERVER_PATH}/server.py`],
    env: [...(container.env ?? []), { name: 'PLINTH_ENV_SITE', value: '1' }],
    volumeMounts: [
      ...(container.volumeMounts ?? []),
      { name: MODEL_SERVER_VOLUME, mountPath: MODEL_SERVER_PATH, readOnly: true },
    ],
  };
}
