/**
 * The bucket of `value` among ascending upper edges: the first k with value <= edges[k], or
 * edges.length when value is above them all. Shared by the GBDT's binning and the drift
 * statistics' buckets, so both cut data the same way.
 */
export function bucketOf(edges: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value <= (edges[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
