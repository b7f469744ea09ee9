// The same helper the `lameduck rehearse` command uses to pick its instances' ports.
export { freePort } from '../../src/rehearse/free-port.ts'
