/**
 * The parts of RxJS lameduck uses, each from its own module. On Node, `import ... from 'rxjs'`
 * resolves to its CommonJS index, which loads all of RxJS (223 files): measured on the reference
 * service, built with tsc, that was about 10 MB of idle RSS and a tenth of its start
 * (bench/findings.md, "Idle RSS: RxJS's index"). RxJS 7 exports these paths (`rxjs/internal/*`);
 * they are the same modules its index re-exports, so an app that imports `rxjs` itself shares them
 * and `instanceof Observable` holds across both.
 */
export { firstValueFrom } from 'rxjs/internal/firstValueFrom'
export { Observable } from 'rxjs/internal/Observable'
export { defer } from 'rxjs/internal/observable/defer'
export { from } from 'rxjs/internal/observable/from'
export { merge } from 'rxjs/internal/observable/merge'
export { of } from 'rxjs/internal/observable/of'
export { catchError } from 'rxjs/internal/operators/catchError'
export { distinctUntilChanged } from 'rxjs/internal/operators/distinctUntilChanged'
export { filter } from 'rxjs/internal/operators/filter'
export { map } from 'rxjs/internal/operators/map'
export { shareReplay } from 'rxjs/internal/operators/shareReplay'
export { startWith } from 'rxjs/internal/operators/startWith'
export { take } from 'rxjs/internal/operators/take'
export { takeLast } from 'rxjs/internal/operators/takeLast'
export { takeUntil } from 'rxjs/internal/operators/takeUntil'
export { Subscription } from 'rxjs/internal/Subscription'
