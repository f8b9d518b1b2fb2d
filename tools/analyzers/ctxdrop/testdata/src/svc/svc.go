package svc

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// DB is a database handle with both variants, as database/sql has.
type DB struct{}

func (DB) Query(q string) error                             { return nil }
func (DB) QueryContext(ctx context.Context, q string) error { return nil }
func (DB) Begin() error                                     { return nil }
func (DB) BeginTx(ctx context.Context, opts any) error      { return nil }
func (DB) Close() error                                     { return nil }
func (DB) Exec(q string) error                              { return nil }
func (DB) ExecContext(q string, ctx context.Context) error  { return nil } // ctx not first: no variant

// RequestCtx implements context.Context, as *gin.Context does.
type RequestCtx struct{ context.Context }

func Lookup(ctx context.Context, db DB) {
	_ = db.Query("select 1") // want `ctxdrop \(rule 4\): Query drops the context: call QueryContext\(ctx, \.\.\.\)`
	_ = db.QueryContext(ctx, "select 1")
	_ = db.Begin()          // want `Begin drops the context: call BeginTx`
	_ = db.Exec("select 1") // a variant whose first parameter is not a context does not count
	_ = db.Close()          // no variant at all
	slog.Info("looked up")  // want `Info drops the context: call InfoContext`
	slog.InfoContext(ctx, "looked up")
	slog.Default().Warn("slow")  // want `Warn drops the context: call WarnContext`
	time.Sleep(time.Millisecond) // want `time.Sleep waits on after the request is gone`
	go func() {
		slog.Error("in a closure") // want `Error drops the context`
	}()
	slog.Debug("allowed") //shopmesh:allow ctxdrop the line is about the process, not this request
}

func Handle(w http.ResponseWriter, r *http.Request) {
	slog.Info("handled") // want `Info drops the context`
}

func Gin(c *RequestCtx) {
	slog.Info("handled") // want `Info drops the context`
}

// Start has no context to pass on: nothing here is a finding.
func Start(db DB) {
	slog.Info("starting")
	_ = db.Query("select 1")
	time.Sleep(time.Millisecond)
}
