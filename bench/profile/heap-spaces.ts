import v8 from 'node:v8'

/**
 * Preload (`node --import ./bench/profile/heap-spaces.ts <service>`): on SIGUSR2, print RSS and the
 * used size of V8's young and old generations to stderr. Used to tell garbage promoted under load
 * (old space grows between major GCs) from memory that is retained (it survives a full GC).
 */
process.on('SIGUSR2', () => {
  const mb = (n: number) => (n / 1048576).toFixed(1)
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]))
  process.stderr.write(
    `rss ${mb(process.memoryUsage().rss)} MB, new space used ${mb(spaces.new_space?.space_used_size ?? 0)} MB, old space used ${mb(spaces.old_space?.space_used_size ?? 0)} MB\n`,
  )
})
