package svc

import (
	"context"
	"testing"
)

func first(ctx context.Context, id string) error { return ctx.Err() }

func second(id string, ctx context.Context) error { return ctx.Err() } // want `ctxparam \(rule 4\): context.Context comes first`

func helper(t *testing.T, ctx context.Context) { _ = ctx }

type holder struct {
	ctx context.Context // want `ctxparam \(rule 4\): a context in a struct outlives its call`
}

type carrier struct {
	ctx context.Context //shopmesh:allow ctxparam lives only inside one call
}

var _ = []any{first, second, helper, holder{}, carrier{}}

var literal = func(n int, ctx context.Context) {} // want `context.Context comes first`
