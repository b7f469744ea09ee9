export * from './lifecycle-names.ts'
export * from './lifecycle-machine.ts'
export * from './request-ledger.ts'
export * from './snapshot-views.ts'
