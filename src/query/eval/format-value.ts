// Numbers as Loki prints them in query results. Sample values go through Prometheus' model
// SampleValue.String(), i.e. Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal that
// round-trips, never in exponent form ("1e+21" is "1000000000000000000000"), with "NaN", "+Inf",
// "-Inf" and "-0". Timestamps of matrix and vector points are model.Time(ms).String(): milliseconds
// divided by 1000 as a float, which JavaScript's Number printing gives the same shortest digits for.

/** Go's strconv.FormatFloat(value, 'f', -1, 64). */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  const shortest = String(value);
  const exponentAt = shortest.indexOf("e");
  if (exponentAt < 0) return shortest;
  // JavaScript switched to exponent form (|v| < 1e-6 or ≥ 1e21): spell the same digits out.
  const negative = shortest.startsWith("-");
  const mantissa = shortest.slice(negative ? 1 : 0, exponentAt);
  const exponent = Number(shortest.slice(exponentAt + 1));
  const pointAt = mantissa.indexOf(".");
  const digits = pointAt < 0 ? mantissa : mantissa.slice(0, pointAt) + mantissa.slice(pointAt + 1);
  const integerDigits = (pointAt < 0 ? mantissa.length : pointAt) + exponent;
  let text: string;
  if (integerDigits <= 0) text = `0.${"0".repeat(-integerDigits)}${digits}`;
  else if (integerDigits >= digits.length) text = digits + "0".repeat(integerDigits - digits.length);
  else text = `${digits.slice(0, integerDigits)}.${digits.slice(integerDigits)}`;
  return negative ? `-${text}` : text;
}

/** A point's timestamp in Loki's JSON: nanoseconds truncated to milliseconds (Loki's promql points), as seconds. */
export function pointTimeSeconds(timeNs: bigint): number {
  return Number(timeNs / 1_000_000n) / 1000;
}
