// k6 script for the `function` scenario: POST /functions/{name}, the same request omnia-loadtest
// sends. Thresholds fail the run when p99 or the error rate regress.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e FUNCTION=echo-function \
//          -e AUTH="Bearer my-client-key" -e RATE=500 -e DURATION=30s loadtest/k6/function.js
//
// MODE=closed (VUS virtual users, each waiting for its reply) or MODE=open (RATE arrivals per
// second, constant-arrival-rate, so a slow server cannot slow the offered load down).
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const FUNCTION = __ENV.FUNCTION || 'echo-function';
const BODY = __ENV.BODY || JSON.stringify({ message: 'hello from k6' });
const MODE = __ENV.MODE || 'open';
const DURATION = __ENV.DURATION || '30s';
const P99_MS = Number(__ENV.P99_MS || 50);

const headers = { 'Content-Type': 'application/json' };
if (__ENV.AUTH) headers['Authorization'] = __ENV.AUTH;

export const options = {
  scenarios: {
    function_call: MODE === 'closed'
      ? { executor: 'constant-vus', vus: Number(__ENV.VUS || 8), duration: DURATION }
      : {
          executor: 'constant-arrival-rate',
          rate: Number(__ENV.RATE || 500),
          timeUnit: '1s',
          duration: DURATION,
          preAllocatedVUs: Number(__ENV.VUS || 64),
          maxVUs: Number(__ENV.MAX_VUS || 512),
        },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    http_req_duration: [`p(99)<${P99_MS}`],
  },
  summaryTrendStats: ['med', 'p(90)', 'p(99)', 'p(99.9)', 'max'],
};

export default function () {
  const res = http.post(`${BASE_URL}/functions/${FUNCTION}`, BODY, { headers });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'has output': (r) => r.status !== 200 || r.json('output') !== undefined,
  });
}
