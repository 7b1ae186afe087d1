// k6 script for the `ws-stream` scenario: each VU is a chat session over Omnia's WebSocket
// protocol, sending TURNS messages back to back (the next one once the turn before ended with
// `done` or `error`), as `omnia-loadtest ws-stream` does. Thresholds fail the run when the time
// to first chunk, the gap between chunks, or the error rate regress.
//
//   k6 run -e WS_URL=ws://127.0.0.1:8080 -e AGENT=demo-agent -e AUTH="Bearer my-client-key" \
//          -e SESSIONS=16 -e TURNS=10 loadtest/k6/ws.js
//
// With DURATION set (e.g. 30s), SESSIONS VUs run sessions of TURNS turns one after another for
// that long; without it, each VU runs one session. k6 timestamps in milliseconds (Date.now()),
// so sub-millisecond times read as 0 or 1 ms here; omnia-loadtest measures in microseconds.
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

const WS_URL = __ENV.WS_URL || 'ws://127.0.0.1:8080';
const AGENT = __ENV.AGENT || 'echo-agent';
const SESSIONS = Number(__ENV.SESSIONS || 16);
const TURNS = Number(__ENV.TURNS || 10);
const DURATION = __ENV.DURATION || '';
const MESSAGE = JSON.stringify({ type: 'message', content: __ENV.MESSAGE || 'hello' });
const TIMEOUT_MS = Number(__ENV.TIMEOUT_MS || 10000);
const P99_FIRST_CHUNK_MS = Number(__ENV.P99_FIRST_CHUNK_MS || 500);
const P99_GAP_MS = Number(__ENV.P99_GAP_MS || 100);

// `true`: these trends hold times, shown in ms.
const setupTime = new Trend('ws_setup', true);
const firstChunk = new Trend('ws_first_chunk', true);
const chunkGap = new Trend('ws_chunk_gap', true);
const turnTime = new Trend('ws_turn', true);
const frames = new Counter('ws_frames');
const turnsDone = new Counter('ws_turns_done');
// Per turn: 1 when it ended with an `error` frame or timed out, 0 when it ended with `done`.
const turnFailed = new Rate('ws_turn_failed');
// Frames that break the protocol's order: a turn's frame while no turn is in flight.
const outOfOrder = new Counter('ws_frame_after_done');

export const options = {
  scenarios: {
    chat: DURATION
      ? { executor: 'constant-vus', vus: SESSIONS, duration: DURATION }
      : {
          executor: 'per-vu-iterations',
          vus: SESSIONS,
          iterations: 1,
          maxDuration: `${Math.ceil((TURNS * TIMEOUT_MS) / 1000) + 30}s`,
        },
  },
  thresholds: {
    ws_first_chunk: [`p(99)<${P99_FIRST_CHUNK_MS}`],
    ws_chunk_gap: [`p(99)<${P99_GAP_MS}`],
    ws_turn_failed: ['rate<0.001'],
    ws_frame_after_done: ['count==0'],
    checks: ['rate>0.999'],
  },
  summaryTrendStats: ['med', 'p(90)', 'p(99)', 'max'],
};

export default function () {
  const url = `${WS_URL}/ws?agent=${encodeURIComponent(AGENT)}`;
  const params = { headers: __ENV.AUTH ? { Authorization: __ENV.AUTH } : {} };
  const opened = Date.now();
  let connected = false;
  let sent = 0; // when the turn in flight was sent; 0 between turns
  let lastChunk = 0; // when the previous frame of the turn arrived, if it was a chunk
  let chunked = false;
  let turns = 0;

  const res = ws.connect(url, params, function (socket) {
    const send = () => {
      turns += 1;
      sent = Date.now();
      lastChunk = 0;
      chunked = false;
      socket.send(MESSAGE);
    };
    const endTurn = (failed) => {
      turnFailed.add(failed ? 1 : 0);
      sent = 0;
      if (turns < TURNS) {
        send();
      } else {
        socket.close();
      }
    };

    socket.on('message', (data) => {
      const now = Date.now();
      frames.add(1);
      let type = 'bad';
      try {
        type = JSON.parse(data).type;
      } catch (e) {
        // Not JSON: counted by the check below.
      }
      check(type, { 'frame has a type': (t) => typeof t === 'string' && t !== 'bad' });
      if (type === 'connected') {
        check(connected, { 'connected comes once': (c) => !c });
        if (!connected) {
          connected = true;
          setupTime.add(now - opened);
          send();
        }
        return;
      }
      if (sent === 0) {
        if (['chunk', 'done', 'tool_call', 'tool_result'].includes(type)) outOfOrder.add(1);
        return;
      }
      switch (type) {
        case 'chunk':
          if (!chunked) firstChunk.add(now - sent);
          else if (lastChunk) chunkGap.add(now - lastChunk);
          chunked = true;
          lastChunk = now;
          break;
        case 'done':
          if (!chunked) firstChunk.add(now - sent);
          else if (lastChunk) chunkGap.add(now - lastChunk);
          turnTime.add(now - sent);
          turnsDone.add(1);
          endTurn(false);
          break;
        case 'error':
          endTurn(true);
          break;
        case 'tool_call':
        case 'tool_result':
          // A tool's round trip is not a gap between chunks.
          lastChunk = 0;
          break;
        default:
          break;
      }
    });

    socket.on('error', (e) => {
      if (sent !== 0) turnFailed.add(1);
      console.error(`websocket error: ${e.error()}`);
    });

    // One deadline for the whole session; a turn still in flight then counts as failed.
    socket.setTimeout(() => {
      if (sent !== 0) turnFailed.add(1);
      socket.close();
    }, TURNS * TIMEOUT_MS);
  });

  check(res, { 'upgrade is 101': (r) => r && r.status === 101 });
  check(turns, { 'every turn was sent': (t) => t === TURNS });
}
