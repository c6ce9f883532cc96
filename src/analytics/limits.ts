// Every bound of the analytics stage in one place, each with what it protects. The ones an operator
// may want to change are also serve options (src/config/options.ts).

const MiB = 1024 * 1024;

export const analyticsLimits = {
  // Distinct path keys (and, separately, user-agent families) one window keeps; later new keys of
  // that window fold into the `other` bucket. A scanner hitting random URLs would otherwise add a row
  // per request and make every document of that window as large as its traffic.
  windowKeysMax: 1000,
  // One consumer step reads at most this many bytes of access-log records, aggregates them in memory
  // and commits them in one SQLite transaction: it bounds the step's memory and how long the main
  // thread is busy with it (~1 MiB is ~8,000 entries, a few ms), while keeping transactions large
  // enough that a commit per step costs little.
  stepReadBytesMax: 1 * MiB,
  // While caught up, a consumer starts a step at most this often per partition (with a backlog it
  // goes on at once). Each step costs a transaction and a statement per touched (window, key),
  // whether it carries one batch or a hundred; waiting lets batches that arrive together share a
  // step, and adds at most this much to the freshness (target < 1 s). Measured (bench/analytics,
  // 500-entry batches, 16 customers): at 50 ms the server acknowledged ~177k entries/s, at 200 ms
  // ~274k, the difference being the store's statements on the main thread (now on a worker).
  stepIntervalMinMs: 200,
  // GET /v1/aggregates returns at most this many documents per call unless `limit` asks for fewer;
  // a day of minute windows is 1,440 documents.
  queryWindowsDefault: 1440,
  queryWindowsMax: 10_000,
  // …and stops adding windows once it has read this many count rows (each window at least whole):
  // windows full of distinct keys (a scanner's) would otherwise make one response hold up to
  // limit × 2 × windowKeysMax rows — measured: 300 windows of 1,000 keys blocked the event loop for
  // 2.9 s and took ~280 MiB; 1,440 of them ran a 1 GiB heap out of memory. 50,000 rows is ~0.2 s and
  // a few MiB; the response's x-next-window-start continues.
  queryRowsMax: 50_000,
  // After a failed step (disk full, I/O error) a consumer waits this long before retrying the same
  // records; nothing is skipped.
  retryDelayMs: 1000,
} as const;

/** The bucket that holds the counts of keys beyond windowKeysMax. Path keys always contain a space
 * ("GET /x"), so no path can collide with it. */
export const otherKey = "other";
