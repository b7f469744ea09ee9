import type { FastifyInstance } from 'fastify'

/** Largest message `/ws` takes: a larger one closes the session with 1009 (Message Too Big). */
export const echoMaxMessageBytes = 64 * 1024

/**
 * `GET /ws`: a WebSocket echo, the shape of a realtime session. Each text message `m` is answered
 * `{"echo":m,"seq":n}`, n counting this session's messages from 1. The limits are the `ws`
 * server's own (set where `@fastify/websocket` is registered): a message over 64 KiB closes with
 * 1009, a text message that is not UTF-8 with 1007. The drain's 1012 goodbye is lameduck's.
 */
export function echoRoute(fastify: FastifyInstance): void {
  fastify.route({
    method: 'GET',
    url: '/ws',
    // A plain GET (no upgrade) is told what this is, in the service's JSON error shape.
    handler: (_request, reply) =>
      reply.code(426).header('upgrade', 'websocket').send({
        statusCode: 426,
        error: 'Upgrade Required',
        code: 'UPGRADE_REQUIRED',
        message: 'GET /ws is a WebSocket endpoint: send Connection: Upgrade and Upgrade: websocket',
      }),
    wsHandler: (socket) => {
      let seq = 0
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        // 1003 (Unsupported Data): the protocol is text; a binary frame is a client bug, not a string to guess at.
        if (isBinary) return socket.close(1003, 'text messages only')
        seq += 1
        socket.send(JSON.stringify({ echo: data.toString('utf8'), seq }))
      })
    },
  })
}
