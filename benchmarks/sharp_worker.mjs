// Makes the benchmark's variants with sharp, one request at a time, on one thread; prints JSON results.
// Usage: node sharp_worker.mjs JOBS.json OUTDIR
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";

sharp.concurrency(1);
sharp.cache(false);
const [jobsPath, outDir] = process.argv.slice(2);
const jobs = JSON.parse(readFileSync(jobsPath, "utf8"));
const results = [];
for (const job of jobs) {
  const input = readFileSync(job.source); // the edge reads the bytes from S3; the file read is not timed
  const started = process.hrtime.bigint();
  const animated = job.source.endsWith(".gif") && job.format === "webp";
  let pipeline = sharp(input, { animated, limitInputPixels: 100_000_000 }).rotate()
    .resize({ width: job.width, withoutEnlargement: true });
  if (job.format === "jpeg") pipeline = pipeline.flatten({ background: "#ffffff" }).jpeg({ quality: job.quality });
  if (job.format === "webp") pipeline = pipeline.webp({ quality: job.quality });
  if (job.format === "avif") pipeline = pipeline.avif({ quality: job.quality, ...(job.sharp || {}) });
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const out = join(outDir, `${job.id}.${job.format}`);
  writeFileSync(out, data);
  results.push({ id: job.id, seconds, bytes: data.length, width: info.width, height: info.height, file: out });
}
// This process's own peak RSS (VmHWM; getrusage's maxRSS would include the parent's at fork time).
let rss_kib = process.resourceUsage().maxRSS;
try {
  const match = readFileSync("/proc/self/status", "utf8").match(/^VmHWM:\s+(\d+) kB/m);
  if (match) rss_kib = Number(match[1]);
} catch {}
console.log(JSON.stringify({ results, rss_kib }));
