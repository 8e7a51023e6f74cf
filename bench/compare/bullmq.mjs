// BullMQ driver of drover's side-by-side benchmark. It runs the workloads
// that compare runs on the Go systems and prints its rows as JSON on stdout;
// progress goes to stderr. Run through ./run.sh, which passes the address of
// the redis-server it started.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const QUEUE = 'bench';

function parseArgs(argv) {
  const args = {
    addr: '127.0.0.1:6379',
    jobs: 100000,
    'process-jobs': 50000,
    chunk: 1000,
    'in-flight': 50,
    concurrency: 50,
    workers: 4,
    rounds: 20,
    'job-time-ms': 50,
    worker: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'worker') {
      args.worker = true;
      continue;
    }
    const v = argv[++i];
    args[key] = key === 'addr' ? v : Number(v);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const [host, portText] = args.addr.split(':');
const connection = { host, port: Number(portText), maxRetriesPerRequest: null };
const log = (...a) => console.error('bullmq:', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint(); // CLOCK_MONOTONIC: shared by all processes here

if (args.worker) {
  await runWorker();
} else {
  await main();
}

async function main() {
  const redis = new IORedis(connection);
  const rows = [];
  const row = (measurement, value, unit, note = '') =>
    rows.push({ system: 'bullmq', measurement, value, unit, note });
  const usedMemory = async () => {
    const info = await redis.info('memory');
    return Number(/^used_memory:(\d+)/m.exec(info)[1]);
  };

  // Bulk add.
  await redis.flushall();
  let queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  let start = now();
  for (let i = 0; i < args.jobs; i += args.chunk) {
    const batch = [];
    for (let j = i; j < Math.min(i + args.chunk, args.jobs); j++) batch.push({ name: 'noop', data: { n: j } });
    await queue.addBulk(batch);
  }
  row('bulk add (chunks of 1,000)', rate(args.jobs, start), 'jobs/s');
  await queue.close();

  // Concurrent single adds, and the memory the waiting jobs take.
  await redis.flushall();
  queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  const m0 = await usedMemory();
  start = now();
  let next = 0;
  const producers = [];
  for (let p = 0; p < args['in-flight']; p++) {
    producers.push(
      (async () => {
        for (let i = next++; i < args.jobs; i = next++) await queue.add('noop', { n: i });
      })(),
    );
  }
  await Promise.all(producers);
  row('add, 50 in flight', rate(args.jobs, start), 'jobs/s');
  const m1 = await usedMemory();
  row('memory per waiting job', (m1 - m0) / args.jobs, 'bytes/job', `${args.jobs} waiting`);
  await queue.close();

  // Processing no-op jobs.
  await redis.flushall();
  queue = new Queue(QUEUE, { connection });
  for (let i = 0; i < args['process-jobs']; i += args.chunk) {
    const batch = [];
    for (let j = i; j < Math.min(i + args.chunk, args['process-jobs']); j++) batch.push({ name: 'noop', data: { n: j } });
    await queue.addBulk(batch);
  }
  let done = 0;
  let allDone;
  const finished = new Promise((r) => (allDone = r));
  const worker = new Worker(
    QUEUE,
    async () => {
      if (++done === args['process-jobs']) allDone();
    },
    { connection, concurrency: args.concurrency, autorun: false },
  );
  await worker.waitUntilReady();
  start = now();
  worker.run();
  await finished;
  row('process no-op jobs (1 worker × 50)', rate(args['process-jobs'], start), 'jobs/s', `${args['process-jobs']} jobs`);
  await worker.close();
  await queue.close();

  // Dispatch latency with idle workers in separate processes.
  await redis.flushall();
  queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  const d = await dispatch(queue);
  const note = `${args.workers} workers × 1, ${args.rounds} rounds`;
  row('dispatch latency p50', d.p50, 'ms', note);
  row('dispatch latency p99', d.p99, 'ms', note);
  row('dispatch latency max', d.max, 'ms', note);
  row('workers used per round', d.used, 'workers', `of ${args.workers}`);
  await queue.close();
  await redis.quit();
  process.stdout.write(JSON.stringify(rows) + '\n');
}

function rate(n, start) {
  return n / (Number(now() - start) / 1e9);
}

async function dispatch(queue) {
  const script = fileURLToPath(import.meta.url);
  const children = [];
  const waiters = [];
  const backlog = [];
  const deliver = (ev) => {
    const w = waiters.shift();
    if (w) w(ev);
    else backlog.push(ev);
  };
  const nextEvent = (timeoutMs) =>
    new Promise((resolve, reject) => {
      if (backlog.length) return resolve(backlog.shift());
      const t = setTimeout(() => reject(new Error(`no worker event in ${timeoutMs} ms`)), timeoutMs);
      waiters.push((ev) => {
        clearTimeout(t);
        resolve(ev);
      });
    });
  for (let i = 0; i < args.workers; i++) {
    const child = fork(script, ['--worker', '--addr', args.addr, '--job-time-ms', String(args['job-time-ms'])], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.on('message', (m) => deliver({ child: i, ...m }));
    children.push(child);
  }
  try {
    for (let i = 0; i < args.workers; i++) {
      const ev = await nextEvent(30000);
      if (ev.kind !== 'ready') throw new Error(`worker ${ev.child}: ${ev.kind} before ready`);
    }
    await sleep(500); // let every worker settle into its idle wait
    const lats = [];
    let used = 0;
    for (let r = 0; r < args.rounds; r++) {
      const jobs = [];
      for (let i = 0; i < args.workers; i++) jobs.push({ name: 'noop', data: { p: `r${r}-${i}` } });
      await queue.addBulk(jobs);
      const added = now();
      const seen = new Set();
      for (let e = 0; e < 2 * args.workers; e++) {
        const ev = await nextEvent(20000);
        if (ev.kind === 'start') {
          lats.push(Number(BigInt(ev.at) - added) / 1e6);
          seen.add(ev.child);
        } else if (ev.kind !== 'done') {
          throw new Error(`worker ${ev.child}: unexpected ${ev.kind}`);
        }
      }
      used += seen.size;
      await sleep(200); // idle again before the next bulk
    }
    lats.sort((a, b) => a - b);
    const pct = (p) => lats[Math.max(0, Math.min(lats.length - 1, Math.ceil((p / 100) * lats.length) - 1))];
    return { p50: pct(50), p99: pct(99), max: lats[lats.length - 1], used: used / args.rounds };
  } finally {
    for (const c of children) c.send({ kind: 'stop' });
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on('exit', r)))));
  }
}

async function runWorker() {
  const worker = new Worker(
    QUEUE,
    async (job) => {
      process.send({ kind: 'start', payload: job.data.p, at: String(now()) });
      await sleep(args['job-time-ms']);
      process.send({ kind: 'done', payload: job.data.p });
    },
    { connection, concurrency: 1 },
  );
  await worker.waitUntilReady();
  process.send({ kind: 'ready' });
  process.on('message', async (m) => {
    if (m.kind === 'stop') {
      await worker.close();
      process.exit(0);
    }
  });
}
