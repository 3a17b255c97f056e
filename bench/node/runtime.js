'use strict';
// A minimal AWS Lambda custom-runtime loop (Runtime API 2018-06-01), as a
// Node.js function on a custom runtime (provided.al2023 + a bootstrap) would
// have it: GET .../invocation/next, run the handler, POST .../response (or
// .../error). One keep-alive connection to the Runtime API.
//
// The managed nodejs20.x runtime does the same work through
// aws-lambda-nodejs-runtime-interface-client (whose Runtime API calls go
// through a small native HTTP client); this loop is plain `http`.

const http = require('node:http');

const [API_HOST, API_PORT] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = '/2018-06-01/runtime';

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { host: API_HOST, port: Number(API_PORT), method, path, agent, headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Serve events forever with `handler(event, context) -> Promise<result>`. */
async function run(handler) {
  for (;;) {
    const next = await call('GET', `${BASE}/invocation/next`);
    const requestId = next.headers['lambda-runtime-aws-request-id'];
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      deadlineMs: Number(next.headers['lambda-runtime-deadline-ms']),
      traceId: next.headers['lambda-runtime-trace-id'],
    };
    if (context.traceId) process.env._X_AMZN_TRACE_ID = context.traceId;
    let result;
    try {
      const event = JSON.parse(next.body.toString('utf8'));
      result = await handler(event, context);
    } catch (err) {
      const body = JSON.stringify({ errorType: err && err.name || 'Error', errorMessage: String(err && err.message || err) });
      process.stderr.write(`${JSON.stringify({ level: 'ERROR', requestId, message: 'invocation failed', error: String(err && err.stack || err) })}\n`);
      await call('POST', `${BASE}/invocation/${requestId}/error`, body);
      continue;
    }
    await call('POST', `${BASE}/invocation/${requestId}/response`, JSON.stringify(result === undefined ? null : result));
  }
}

module.exports = { run };
