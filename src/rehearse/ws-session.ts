import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { classifyError, classifyStatus, errorDetail } from './failure-kinds.ts'
import type { WsLoad } from './rehearse-options.ts'
import { type Attempt, type Router, retryAfterMs, type Sent, type Upstream } from './router.ts'

/** One session as its client saw it, across the instances it reconnected to. */
export interface SessionSent extends Sent {
  /** Times the session reconnected after a 1012 or 1001 close. */
  readonly reconnects: number
  /** Of them, how many had their first message echoed on the new instance. */
  readonly reconnectedOk: number
  /** Messages echoed. */
  readonly echoes: number
  /** Messages sent again on a new session because the old one closed before their echo. */
  readonly resent: number
}

/** The closes that mean "come back elsewhere" (RFC 6455 1001 Going Away; 1012 Service Restart). */
const reconnectCodes: ReadonlySet<number> = new Set([1001, 1012])
const maxReconnects = 10
// After the load ends, a reconnected session still gets this long to have a message echoed before it is let go.
const reconnectCheckMs = 5000

interface SessionState {
  /** Next message number to send; a message not echoed when its session closed is sent again. */
  next: number
  echoes: number
  resent: number
  reconnectedOk: number
}

/**
 * Holds one WebSocket session the way a realtime client does: sends `--ws-messages` text messages one at a time,
 * each awaiting its echo (`{"echo":m,"seq":n}` on the reference `/ws`: the text must come back, seq counting up
 * from 1 on each connection), then closes with 1000. A close with 1012 or 1001 sends it back through the router
 * to reconnect and go on, resending a message left without its echo; a drop without a close frame (1006), any
 * other close code, or a wrong echo loses it.
 */
export async function holdSession(router: Router, ws: WsLoad, timeoutMs: number, end: AbortSignal): Promise<SessionSent> {
  const state: SessionState = { next: 1, echoes: 0, resent: 0, reconnectedOk: 0 }
  const attempts: Attempt[] = []
  let reconnects = 0
  for (;;) {
    const reconnecting = reconnects > 0
    let closeCode: number | undefined
    const sent = await router.through('ws', reconnecting ? undefined : end, (upstream) =>
      sessionAttempt(upstream, ws, timeoutMs, state, end, reconnecting, (code) => (closeCode = code)),
    )
    attempts.push(...sent.attempts)
    const final = sent.final
    const done = (f: Attempt): SessionSent => ({ attempts, final: f, reconnects, reconnectedOk: state.reconnectedOk, echoes: state.echoes, resent: state.resent })
    if (final.failure !== null || final.closedAtEnd || closeCode === undefined || !reconnectCodes.has(closeCode)) return done(final)
    if (reconnects >= maxReconnects) return done({ ...final, failure: 'ws-closed', detail: `closed ${closeCode} ${reconnects + 1} times in a row` })
    reconnects++
    // A reconnecting client waits a moment, spread, as the close asks it to come back elsewhere.
    await sleep(10 + Math.floor(Math.random() * 40))
  }
}

function sessionAttempt(
  upstream: Upstream,
  load: WsLoad,
  timeoutMs: number,
  state: SessionState,
  end: AbortSignal,
  reconnecting: boolean,
  onServerClose: (code: number) => void,
): Promise<Attempt> {
  const instance = upstream.route.name
  return new Promise<Attempt>((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${upstream.route.port}${load.path}`, { perMessageDeflate: false, handshakeTimeout: timeoutMs })
    let opened = false
    let echoedHere = 0
    let awaiting: string | undefined
    let closingBy: 'client' | 'end' | undefined
    let settled: Attempt | undefined
    let echoTimer: NodeJS.Timeout | undefined
    let pauseTimer: NodeJS.Timeout | undefined
    let lateTimer: NodeJS.Timeout | undefined

    const finish = (attempt: Attempt) => {
      settled ??= attempt
    }
    const fail = (attempt: Attempt) => {
      finish(attempt)
      socket.terminate()
    }
    const closeAtEnd = () => {
      if (closingBy) return
      closingBy = 'end'
      finish({ instance, failure: null, detail: `closed at the end after ${echoedHere} echoes`, closedAtEnd: true })
      socket.close(1000, 'load ended')
    }
    const onEnd = () => {
      // A reconnected session first shows that it goes on: one message echoed on the new instance.
      if (reconnecting && echoedHere === 0) {
        lateTimer = setTimeout(() => (opened ? closeAtEnd() : abandon()), reconnectCheckMs)
        return
      }
      if (opened) closeAtEnd()
      else abandon()
    }
    const abandon = () => {
      finish({ instance, failure: null, detail: 'the load ended before the session opened', closedAtEnd: true })
      socket.terminate()
    }

    const sendNext = () => {
      if (settled || closingBy) return
      if (state.next > load.messages) {
        closingBy = 'client'
        finish({ instance, failure: null, detail: `${load.messages} messages echoed` })
        return socket.close(1000, 'done')
      }
      awaiting = `m${state.next}`
      socket.send(awaiting)
      echoTimer = setTimeout(() => fail({ instance, failure: 'timed-out', detail: `no echo of ${awaiting} within ${timeoutMs} ms` }), timeoutMs)
    }

    socket.on('unexpected-response', (request, response) => {
      const failure = classifyStatus(response.statusCode ?? 0, response.headers['retry-after']) ?? 'other-status'
      finish({ instance, failure, detail: `upgrade answered ${response.statusCode}`, ...(failure === 'unavailable-retry-after' ? { retryAfterMs: retryAfterMs(response.headers['retry-after']) } : {}) })
      response.resume()
      request.destroy()
      end.removeEventListener('abort', onEnd)
      resolve(settled!)
    })
    socket.on('error', (error) => {
      if (settled) return
      finish(opened ? { instance, failure: 'ws-dropped', detail: errorDetail(error) } : { instance, failure: classifyError(error), detail: errorDetail(error) })
      if (!opened) {
        end.removeEventListener('abort', onEnd)
        resolve(settled!)
      }
    })
    socket.on('open', () => {
      opened = true
      sendNext()
    })
    socket.on('message', (data, isBinary) => {
      clearTimeout(echoTimer)
      if (settled || closingBy) return
      const text = isBinary ? undefined : (data as Buffer).toString('utf8')
      let echo: { echo?: unknown; seq?: unknown } | undefined
      try {
        echo = text === undefined ? undefined : (JSON.parse(text) as { echo?: unknown; seq?: unknown })
      } catch {
        echo = undefined
      }
      // The reference echo numbers a session's messages from 1; another service's echo may carry no seq.
      const seqOk = echo?.seq === undefined || echo.seq === echoedHere + 1
      if (echo?.echo !== awaiting || !seqOk) return fail({ instance, failure: 'ws-echo', detail: `sent ${awaiting}, received ${(text ?? '(binary)').slice(0, 80)}` })
      awaiting = undefined
      echoedHere++
      state.echoes++
      state.next++
      if (reconnecting && echoedHere === 1) state.reconnectedOk++
      if (end.aborted) return closeAtEnd()
      pauseTimer = setTimeout(sendNext, load.intervalMs)
    })
    socket.on('close', (code, reason) => {
      clearTimeout(echoTimer)
      clearTimeout(pauseTimer)
      clearTimeout(lateTimer)
      end.removeEventListener('abort', onEnd)
      if (!settled && reconnectCodes.has(code)) {
        if (awaiting !== undefined) state.resent++
        onServerClose(code)
        finish({ instance, failure: null, detail: `closed ${code} ${reason.toString('utf8')} after ${echoedHere} echoes` })
      }
      if (!settled && code === 1006) finish({ instance, failure: 'ws-dropped', detail: `dropped without a close frame after ${echoedHere} echoes` })
      if (!settled) finish({ instance, failure: 'ws-closed', detail: `closed ${code} ${reason.toString('utf8')}`.trim() })
      resolve(settled!)
    })
    if (end.aborted) onEnd()
    else end.addEventListener('abort', onEnd, { once: true })
  })
}
