package svc

import "context"

func Handle(ctx context.Context) error { return ctx.Err() }

func lost() error {
	return Handle(context.Background()) // want `ctxflow \(rule 4\): context.Background starts a context with no deadline`
}

func unfinished() error {
	return Handle(context.TODO()) // want `ctxflow \(rule 4\): context.TODO starts a context`
}

// run is a command's body: it owns the process's lifetime.
func run() error {
	return Handle(context.Background())
}

func detached() context.Context {
	return context.Background() //shopmesh:allow ctxflow the watch outlives every request: its lifetime is the resolver's
}

func noReason() context.Context {
	return context.Background() /* want `ctxflow \(rule 4\): context.Background` `an allow comment must give its reason` */ //shopmesh:allow ctxflow
}

func otherAnalyzer() context.Context {
	return context.Background() //shopmesh:allow tunedhttp not this rule // want `ctxflow \(rule 4\): context.Background`
}

var _ = []any{lost, unfinished, run, detached, noReason, otherAnalyzer}
