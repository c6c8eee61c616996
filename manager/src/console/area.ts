// The console: createConsoleEndpoint (the proxy itself is attached to the server by app.ts).
import { commandsOf, defineArea } from '../areas/define.ts';
import * as endpoint from './endpoint.ts';

export const area = defineArea({ name: 'console', commands: commandsOf(endpoint) });
