// Checks a manifest against the Kubernetes schemas, for tests: the OpenAPI schemas kubernetes-models
// ships (types, required fields, enums, formats), plus what `kubectl --validate=strict` adds and
// those schemas leave open — a field Kubernetes does not know is an error (from the API's own type
// map in @kubernetes/client-node), and a resource quantity must parse (as config.yaml's do).
import * as k8s from '@kubernetes/client-node';
import {
  ConfigMap,
  Namespace,
  PersistentVolumeClaim,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { parseCpu, parseMemory } from '../../src/domain/quantity.ts';

type Model = { validate(): void };
type Kinds = Record<string, { model: new (data: never) => Model; type: string }>;

const KINDS: Kinds = {
  'v1/Namespace': { model: Namespace, type: 'V1Namespace' },
  'v1/Secret': { model: Secret, type: 'V1Secret' },
  'v1/Service': { model: Service, type: 'V1Service' },
  'v1/ServiceAccount': { model: ServiceAccount, type: 'V1ServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, type: 'V1ConfigMap' },
  'v1/PersistentVolumeClaim': { model: PersistentVolumeClaim, type: 'V1PersistentVolumeClaim' },
  'apps/v1/Deployment': { model: Deployment, type: 'V1Deployment' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, type: 'V1PodDisruptionBudget' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, type: 'V1NetworkPolicy' },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, type: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, type: 'V1RoleBinding' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { model: ClusterRole, type: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    model: ClusterRoleBinding,
    type: 'V1ClusterRoleBinding',
  },
};

type TypeMap = { baseName: string; type: string }[];

/** What is wrong with a manifest, each naming its path; empty when it is valid. */
export function manifestProblems(manifest: unknown): string[] {
  const obj = manifest as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
  const where = `${obj.kind ?? '(no kind)'} ${obj.metadata?.name ?? '(no name)'}`;
  const known = KINDS[`${obj.apiVersion}/${obj.kind}`];
  if (!known) return [`${where}: ${obj.apiVersion}/${obj.kind} is not a kind this check knows`];
  const problems: string[] = [];
  try {
    new known.model(structuredClone(manifest) as never).validate();
  } catch (err) {
    problems.push(...(err as Error).message.split(', ').map((m) => `${where}: ${m}`));
  }
  unknownFields(manifest, known.type, '', problems);
  return problems.map((p) => (p.startsWith(where) ? p : `${where}: ${p}`));
}

function unknownFields(value: unknown, type: string, path: string, problems: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1]!, `${path}/${i}`, problems));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(value as object)) {
      if (/resources\/(limits|requests)$|\/hard$/.test(path) && !isQuantity(k, String(v)))
        problems.push(`data${path}/${k}: "${String(v)}" is not a quantity`);
      unknownFields(v, map[1]!, `${path}/${k}`, problems);
    }
    return;
  }
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => TypeMap }>)[type];
  const attributes = model?.getAttributeTypeMap?.();
  if (!attributes || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value as object)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) problems.push(`data${path}: unknown field "${key}"`);
    else unknownFields(v, attribute.type, `${path}/${key}`, problems);
  }
}

/** Whether a resource's value is a quantity Kubernetes takes for it. */
function isQuantity(resource: string, value: string): boolean {
  try {
    if (resource === 'cpu') parseCpu(value);
    else if (resource === 'memory' || resource === 'ephemeral-storage' || resource === 'storage')
      parseMemory(value);
    else return /^\d+$/.test(value);
    return true;
  } catch {
    return false;
  }
}
