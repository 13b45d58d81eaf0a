// `plinth fetch-artifacts` on its own: what bin/plinth.js runs for that command, so that a replica
// pod's init container starts in a tenth of the time the whole CLI takes to load.
import { parseArgs } from 'node:util';
import { fetchArtifacts } from './commands/fetch-artifacts.ts';
import { exitWith, UserError } from './errors.ts';

try {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: {
      app: { type: 'string' },
      into: { type: 'string' },
      environment: { type: 'string' },
      'environment-into': { type: 'string' },
      'base-environment': { type: 'string' },
      'base-environment-into': { type: 'string' },
      weights: { type: 'string' },
      'weights-cache': { type: 'string' },
      'model-server-into': { type: 'string' },
    },
  });
  if (!values.app || !values.into) throw new UserError('fetch-artifacts needs --app <url> and --into <dir>');
  await fetchArtifacts({
    app: values.app,
    into: values.into,
    environment: values.environment,
    environmentInto: values['environment-into'],
    baseEnvironment: values['base-environment'],
    baseEnvironmentInto: values['base-environment-into'],
    weights: values.weights,
    weightsCache: values['weights-cache'],
    modelServerInto: values['model-server-into'],
  });
} catch (err) {
  exitWith(err instanceof TypeError ? new UserError(err.message) : err, false);
}
