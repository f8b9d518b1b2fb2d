// Package deadline makes time budgets nest (DESIGN.md, seed rule 4).
//
// Every request has one deadline, set where it enters shopmesh (the
// gateway's REQUEST_TIMEOUT), and every hop below it gets a share of what is
// left: never more than the hop's own cap (pkg/api.Budgets, declared once
// beside the method), and never so much that the caller has no time left for
// its own later steps. A caller says how much it still needs with [Keep]
// before the call; [Hop] then derives the call's context:
//
//	timeout = min(cap, time left − time kept)
//
// and refuses to start a hop that would get less than [MinBudget], because
// work that cannot finish in time only takes capacity from work that can.
//
// One global timeout per hop, which this replaces, cannot be right: it is
// either too short for the hop that contains a whole saga (PlaceOrder) or too
// long for a single read, and it ignores what the caller has already spent.
package deadline
