import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

// The client of explain-http.bench.ts, in its own process as a caller of `keel up` is: its
// allocations and collections are not the server's, and the two use both cores. Reads a JSON
// plan ({ warmup, requests, routes: [{ name, url, bodies }] }), sends sequential requests on one
// keep-alive connection, the routes alternating per round, and prints each route's latencies
// in ms as JSON.
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(url, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(performance.now() - started)
            : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const latencies = Object.fromEntries(plan.routes.map((r) => [r.name, []]));
for (let i = 0; i < plan.warmup + plan.requests; i++) {
  for (const route of plan.routes) {
    const ms = await post(route.url, route.bodies[i % route.bodies.length]);
    if (i >= plan.warmup) latencies[route.name].push(ms);
  }
}
agent.destroy();
process.stdout.write(JSON.stringify(latencies));
