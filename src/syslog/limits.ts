// Bounds of the syslog transport (src/syslog). The configurable ones are options (--syslog-*).

export const syslogTransportLimits = {
  // A batch is flushed into the pipeline at this many messages (or batch-entries-max if lower):
  // one append per 500 messages amortises the group commit as a 500-entry Loki push does, and keeps
  // one batch's decode and append well under a millisecond of event loop per step.
  batchMessagesMax: 500,
  // ...or at this many bytes of frames, whichever comes first: with the connection bound it keeps
  // what all connections accumulate to --syslog-connections-max × 256 KiB.
  batchBytesMax: 256 * 1024,
  // ...or this long after its first message: a lone message is durable within ~50 ms + one fsync,
  // while a busy sender fills batches long before.
  batchDelayMs: 50,
  // A frame may carry this much header (PRI, timestamp, host, app, SD) beyond --line-bytes-max of
  // MSG before the framer cuts it: RFC 5424's fixed fields are < 520 bytes; the rest is room for SD.
  headerBytesMax: 8 * 1024,
  // A batch refused for a reason that passes (a full queue, tenant rates, a busy log) is retried
  // after the refusal's Retry-After, at most this long, while its TCP connection stays paused.
  retryDelayMsMax: 1000,
  // Batches of one TCP connection submitted and not yet durable: they share group commits instead of
  // waiting for each other's fsync. Each is at most batchBytesMax, and admission bounds them all.
  tcpBatchesInFlightMax: 4,
  // UDP batches in the pipeline at once: past it a datagram is dropped (queue_full), as a full
  // socket buffer would. UDP has no flow control to slow the sender instead.
  udpBatchesInFlightMax: 8,
} as const;
