package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// rollbackBudget bounds the rollback of a transaction whose own context
// has ended.
const rollbackBudget = time.Second

// Beginner starts transactions: a pgxpool.Pool, a pgx.Conn.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// InTx runs fn in a transaction and commits it, as pgx.BeginFunc does, but
// ends a transaction whose context has ended (its budget ran out while fn
// ran) with a rollback on a context of its own. pgx rolls back, or commits,
// on the ended context, which fails before anything is sent, and then
// closes the connection: every budget that ran out inside a transaction
// would cost a new connection, at the moment the database is slowest
// (Config.CancelGrace says why that matters). A transaction whose context
// ended is never committed: its caller has given up on it.
func InTx(ctx context.Context, db Beginner, fn func(pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	// Deferred, so a panic in fn ends the transaction too; after a commit
	// it sends nothing.
	defer rollback(ctx, tx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// rollback ends tx within rollbackBudget, whether or not ctx has ended; a
// transaction that already ended (committed, or its commit failed) is left
// as it is. Its error is not the caller's: the transaction failed already,
// and pgx closes a connection the rollback could not clean.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := deadline.Detach(ctx, rollbackBudget)
	defer cancel()
	_ = tx.Rollback(ctx)
}
