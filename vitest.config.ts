import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child-process and socket tests are real: keep them from starving each other on small machines.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
