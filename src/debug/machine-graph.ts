import type { AnyStateMachine } from 'xstate'

/**
 * The lifecycle machine as a plain graph, read from its definition (machine.root), so the docs'
 * Mermaid diagram and the live view's SVG are drawn from the machine itself and cannot drift from it.
 *
 * Why not xstate/graph's toDirectedGraph: it leaves out `always` transitions, and the delay name of
 * an `after` transition is only in its generated event type.
 */
export interface GraphState {
  /** Dotted path below the root, e.g. `draining.delay`. */
  readonly path: string
  /** Last segment of the path. */
  readonly key: string
  /** Path of the parent state, `null` for top-level states. */
  readonly parent: string | null
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history'
  /** The initial child of a compound state. */
  readonly initial: string | null
  /** What the state invokes while active (actor logic names). */
  readonly invokes: readonly string[]
}

export type TransitionKind = 'event' | 'always' | 'after' | 'done' | 'error'

export interface GraphTransition {
  readonly source: string
  readonly target: string
  readonly kind: TransitionKind
  /** Event type for `event`, delay name for `after`, invoked logic for `done`/`error`, `null` for `always`. */
  readonly trigger: string | null
  readonly guard: string | null
  readonly actions: readonly string[]
}

export interface MachineGraph {
  readonly id: string
  readonly initial: string
  readonly states: readonly GraphState[]
  readonly transitions: readonly GraphTransition[]
}

// The parts of XState's StateNode read here. Its full type drags the machine's generics along.
interface NodeView {
  readonly id: string
  readonly key: string
  readonly path: readonly string[]
  readonly type: GraphState['type']
  readonly states: Record<string, NodeView>
  readonly initial?: { target: readonly NodeView[] }
  readonly transitions: Map<string, readonly TransitionView[]>
  readonly always?: readonly TransitionView[]
  readonly after: readonly (TransitionView & { delay: string | number })[]
  readonly invoke: readonly { id: string; src: unknown }[]
}

interface TransitionView {
  readonly target?: readonly NodeView[]
  readonly guard?: unknown
  readonly actions: readonly unknown[]
}

export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as NodeView
  const states: GraphState[] = []
  const transitions: GraphTransition[] = []

  const visit = (node: NodeView, parent: string | null) => {
    const path = node.path.join('.')
    const invokes = node.invoke.map((i) => nameOf(i.src) ?? i.id)
    states.push({
      path,
      key: node.key,
      parent,
      type: node.type,
      initial: node.initial?.target[0] ? pathOf(node.initial.target[0]) : null,
      invokes,
    })
    const add = (kind: TransitionKind, trigger: string | null, t: TransitionView) => {
      for (const target of t.target ?? []) {
        transitions.push({
          source: path,
          target: pathOf(target),
          kind,
          trigger,
          guard: nameOf(t.guard),
          actions: t.actions.map(nameOf).filter((a): a is string => a !== null),
        })
      }
    }
    for (const [eventType, list] of node.transitions) {
      // Delayed transitions are listed again, with their delay's name, in `after`.
      if (eventType.startsWith('xstate.after.')) continue
      const invoked = node.invoke.find((i) => eventType.endsWith(`.actor.${i.id}`))
      const kind: TransitionKind = invoked && eventType.startsWith('xstate.done.') ? 'done'
        : invoked && eventType.startsWith('xstate.error.') ? 'error'
        : 'event'
      const trigger = invoked ? (nameOf(invoked.src) ?? invoked.id) : eventType
      for (const t of list) add(kind, trigger, t)
    }
    for (const t of node.always ?? []) add('always', null, t)
    for (const t of node.after) add('after', String(t.delay), t)
    for (const child of Object.values(node.states)) visit(child, path)
  }
  for (const child of Object.values(root.states)) visit(child, null)

  return {
    id: root.id,
    initial: root.initial?.target[0] ? pathOf(root.initial.target[0]) : '',
    states,
    transitions,
  }
}

function pathOf(node: NodeView): string {
  return node.path.join('.')
}

/** Named guards, actions and actors appear as strings or `{ type }`; inline functions have no name worth showing. */
function nameOf(value: unknown): string | null {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string') {
    return (value as { type: string }).type
  }
  return null
}

/** A short label: `signal.received [isIdle] / recordDrained`, `after shutdownDelay`, `always [hasNoShutdownDelay]`. */
export function transitionLabel(t: GraphTransition, withActions = true): string {
  const trigger = t.kind === 'always' ? 'always'
    : t.kind === 'after' ? `after ${t.trigger}`
    : t.kind === 'done' ? `${t.trigger} done`
    : t.kind === 'error' ? `${t.trigger} failed`
    : (t.trigger ?? '')
  const guard = t.guard ? ` [${t.guard}]` : ''
  const actions = withActions && t.actions.length ? ` / ${t.actions.join(', ')}` : ''
  return `${trigger}${guard}${actions}`
}
