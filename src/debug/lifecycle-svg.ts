import { type GraphState, type GraphTransition, type MachineGraph, transitionLabel } from './machine-graph.ts'

/**
 * The machine's diagram as SVG, laid out from its graph: top-level states in a row, a compound state's
 * children in a row inside it. Transitions between neighbours are straight arrows; the others run
 * below the row, shorter spans closer. Each state is a `<g data-state="path">` the page highlights.
 */
const leafW = 136
const leafH = 46
const gapX = 196
const padX = 26
const padY = 14
const titleH = 22
const margin = 24
const lineH = 13
const font = 11

interface Box {
  readonly state: GraphState
  x: number
  y: number
  w: number
  h: number
}

export function lifecycleSvg(graph: MachineGraph): string {
  const boxes = new Map<string, Box>()
  const childrenOf = (parent: string | null) => graph.states.filter((s) => s.parent === parent)

  // Sizes, bottom-up.
  const measure = (state: GraphState): Box => {
    const kids = childrenOf(state.path).map(measure)
    const box: Box = kids.length
      ? {
          state,
          x: 0,
          y: 0,
          w: padX * 2 + kids.reduce((sum, k) => sum + k.w, 0) + gapX * (kids.length - 1),
          h: titleH + padY * 2 + Math.max(...kids.map((k) => k.h)),
        }
      : { state, x: 0, y: 0, w: leafW, h: leafH }
    boxes.set(state.path, box)
    return box
  }
  const top = childrenOf(null).map(measure)
  const rowH = Math.max(...top.map((b) => b.h))
  const rowTop = margin + 8

  // Positions, top-down: a row centred on `cy`.
  const place = (row: Box[], left: number, cy: number) => {
    let x = left
    for (const box of row) {
      box.x = x
      box.y = cy - box.h / 2
      const kids = childrenOf(box.state.path).map((k) => boxes.get(k.path) as Box)
      if (kids.length) place(kids, x + padX, cy + titleH / 2)
      x += box.w + gapX
    }
  }
  const initialArrow = 40
  place(top, margin + initialArrow, rowTop + rowH / 2)
  const rowBottom = rowTop + rowH

  // Group transitions by the pair of states they join: one arrow, several label lines.
  const pairs = new Map<string, GraphTransition[]>()
  for (const t of graph.transitions) {
    const key = `${t.source}->${t.target}`
    pairs.set(key, [...(pairs.get(key) ?? []), t])
  }
  const neighbours = (a: GraphState, b: GraphState) => {
    if (a.parent !== b.parent) return false
    const row = childrenOf(a.parent)
    return row.indexOf(b) === row.indexOf(a) + 1
  }

  const parts: string[] = []
  const below: { from: Box; to: Box; ts: GraphTransition[] }[] = []
  for (const ts of pairs.values()) {
    const first = ts[0] as GraphTransition
    const from = boxes.get(first.source) as Box
    const to = boxes.get(first.target) as Box
    if (neighbours(from.state, to.state)) parts.push(straight(from, to, ts))
    else below.push({ from, to, ts })
  }

  // Arcs under the row: shorter spans nearer, each deep enough for the labels of the one above.
  below.sort((a, b) => Math.abs(a.to.x - a.from.x) - Math.abs(b.to.x - b.from.x))
  const ends = new Map<Box, number>()
  for (const arc of below) for (const box of [arc.from, arc.to]) ends.set(box, (ends.get(box) ?? 0) + 1)
  const used = new Map<Box, number>()
  const footX = (box: Box) => {
    const n = ends.get(box) ?? 1
    const i = used.get(box) ?? 0
    used.set(box, i + 1)
    return box.x + (box.w * (i + 1)) / (n + 1)
  }
  let depth = rowBottom + 30
  for (const arc of below) {
    const x1 = footX(arc.from)
    const x2 = footX(arc.to)
    const y1 = arc.from.y + arc.from.h
    const y2 = arc.to.y + arc.to.h
    const title = arc.ts.map((t) => transitionLabel(t)).join('\n')
    parts.push(
      `<g class="edge" data-edge="${esc(arc.from.state.path)}->${esc(arc.to.state.path)}"><title>${esc(title)}</title>` +
        `<path d="M ${x1} ${y1} V ${depth} H ${x2} V ${y2 + 2}" marker-end="url(#arrow)"/>` +
        labelLines(arc.ts, (x1 + x2) / 2, depth + lineH + 1) +
        '</g>',
    )
    depth += lineH * arc.ts.length + 24
  }

  // Compound states under the edges (one runs inside them), simple states above them.
  const isCompound = (box: Box) => box.state.type === 'compound' || box.state.type === 'parallel'
  const compoundParts = [...boxes.values()].filter(isCompound).map(stateBox)
  const leafParts = [...boxes.values()].filter((box) => !isCompound(box)).map(stateBox)
  const first = boxes.get(graph.initial) as Box
  const initial =
    `<circle class="initial" cx="${margin + 6}" cy="${first.y + first.h / 2}" r="6"/>` +
    `<path d="M ${margin + 12} ${first.y + first.h / 2} H ${first.x - 2}" marker-end="url(#arrow)"/>`

  const width = Math.max(...top.map((b) => b.x + b.w)) + margin
  const height = depth + margin - 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="lifecycle state machine" class="lifecycle-diagram">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ...compoundParts,
    initial,
    ...parts,
    ...leafParts,
    '</svg>',
  ].join('\n')
}

function straight(from: Box, to: Box, ts: GraphTransition[]): string {
  const y = Math.max(from.y, to.y) + Math.min(from.h, to.h) / 2
  const x1 = from.x + from.w
  const x2 = to.x
  const title = ts.map((t) => transitionLabel(t)).join('\n')
  return (
    `<g class="edge" data-edge="${esc(from.state.path)}->${esc(to.state.path)}"><title>${esc(title)}</title>` +
    `<path d="M ${x1} ${y} H ${x2 - 2}" marker-end="url(#arrow)"/>` +
    labelLines(ts, (x1 + x2) / 2, y - 6 - lineH * (ts.length - 1)) +
    '</g>'
  )
}

function labelLines(ts: GraphTransition[], x: number, y: number): string {
  return ts
    .map((t, i) => `<text class="label" x="${x}" y="${y + i * lineH}" text-anchor="middle" font-size="${font}">${esc(transitionLabel(t, false))}</text>`)
    .join('')
}

function stateBox(box: Box): string {
  const { state } = box
  const compound = state.type === 'compound' || state.type === 'parallel'
  const final = state.type === 'final'
    ? `<rect class="final-ring" x="${box.x + 4}" y="${box.y + 4}" width="${box.w - 8}" height="${box.h - 8}" rx="8"/>`
    : ''
  const name = compound
    ? `<text class="name" x="${box.x + 12}" y="${box.y + 16}" font-size="12">${esc(state.key)}</text>`
    : `<text class="name" x="${box.x + box.w / 2}" y="${box.y + box.h / 2 + (state.invokes.length ? -2 : 4)}" text-anchor="middle" font-size="13">${esc(state.key)}</text>`
  const invokes = !compound && state.invokes.length
    ? `<text class="invokes" x="${box.x + box.w / 2}" y="${box.y + box.h / 2 + 13}" text-anchor="middle" font-size="10">invokes ${esc(state.invokes.join(', '))}</text>`
    : ''
  return (
    `<g class="state ${compound ? 'compound' : 'leaf'}" data-state="${esc(state.path)}">` +
    `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="10"/>${final}${name}${invokes}</g>`
  )
}

const esc = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
