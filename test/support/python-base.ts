// The Python with Truss's server packages that tests run the model server on: the shared base
// environment the platform prepares (src/builder/python-base.ts), in the directory every test
// process shares, prepared by the first test that asks for it.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preparePythonBase } from '../../src/builder/python-base.ts';
import { resolvePython } from '../../src/builder/python-interpreters.ts';

/** Where tests keep the base environment: one per machine, shared by every test and home. */
export const TEST_PYTHON_BASE_DIR =
  process.env.PLINTH_PYTHON_BASE_DIR ?? join(tmpdir(), 'plinth-test-python-base');

let prepared: Promise<string> | null = null;

// pip gives up on an unreachable index at once (as the e2e harness's servers do), rather than
// retrying it for minutes before it falls back to the local one.
process.env.PIP_RETRIES ??= '0';
process.env.PIP_TIMEOUT ??= '5';

/** The base environment's python (fastapi, starlette, pydantic, numpy, …). */
export function pythonWithServerPackages(): Promise<string> {
  prepared ??= preparePythonBase({
    root: TEST_PYTHON_BASE_DIR,
    interpreter: resolvePython('py311'),
    log: () => {},
  }).then((result) => {
    if (!result.ok) throw new Error(`Truss's server environment could not be prepared: ${result.reason}`);
    return join(result.dir, 'bin', 'python');
  });
  return prepared;
}
